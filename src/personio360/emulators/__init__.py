"""Faithful emulators of the Personio and 360Learning APIs, for tests, the demo and benchmarks.

Each service is split like scim2-server: ``state.py`` holds data and invariants (no HTTP),
``app.py`` maps HTTP to that state following the published documents in ``shared/api/``.
"""
