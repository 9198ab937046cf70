"""Statements of reasons, the EU Transparency Database, transparency reports and consistency figures."""
