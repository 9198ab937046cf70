"""Actions on content and accounts: what a decision (or an interim measure) does."""
