"""Statistics for comparing library conditions (Wilson intervals, exact tests, equivalence, sample size)."""
