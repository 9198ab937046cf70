"""An HMA-compatible API (Meta's Hasher-Matcher-Actioner, OpenMediaMatch) over staydown's own banks."""
