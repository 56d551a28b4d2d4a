"""Many companies on one deployment (issue 15, SPEC §4): the registry, the queue, the workers.

``database.py`` names the PostgreSQL and each company's schema (the one place that isolates a
company's state); ``sealing.py`` seals credentials at rest; ``companies.py`` is the registry;
``tasks.py`` the procrastinate tasks (full, changes, preview, and the periodic tick that
defers due jobs); ``worker.py`` runs a worker. Nothing here is imported by ``sync/``.
"""
