"""The things staydown decides about: platform content and platform accounts."""
