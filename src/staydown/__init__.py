"""staydown: the trust-and-safety back office."""
