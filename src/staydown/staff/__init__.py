"""Staff users, roles and permissions, API clients and their keys."""
