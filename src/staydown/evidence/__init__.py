"""The evidence vault: encrypted items with their context, custody, holds, retention, destruction."""
