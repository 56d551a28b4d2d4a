"""End-to-end tests of the sync engine (R1-R16) against both emulators over loopback."""
