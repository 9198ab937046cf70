"""Hash banks, the match indexes, scanning and matching."""
