"""Tests of the R17 webhook subscriptions: setup, status, remove and check."""
