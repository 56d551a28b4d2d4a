"""The sync engine: gather → plan (pure) → guard (R13) → apply (STYLE §7.4)."""
