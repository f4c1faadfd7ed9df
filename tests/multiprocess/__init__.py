"""Several service processes on one PostgreSQL (SPEC §13)."""
