"""Public self-checks for Notebook 2 (SimCLR)."""
