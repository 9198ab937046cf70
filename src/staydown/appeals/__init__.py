"""Appeals (internal complaints, DSA Art. 20 / UK OSA) and out-of-court dispute cases (DSA Art. 21)."""
