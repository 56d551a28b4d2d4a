"""The call budget of benchmarks/README.md on a small company (no timing: call counts only)."""
