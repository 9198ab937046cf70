"""The outbox: jobs written with the change that needs them, run by workers after commit."""
