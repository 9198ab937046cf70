"""Cross-domain flows: the orchestration that calls more than one package's actions."""
