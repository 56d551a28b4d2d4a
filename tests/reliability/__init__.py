"""Reliability: convergence under faults, bad input, secret hygiene, one run at a time (issue 6)."""
