"""Storage: tables, migrations and repositories on SQLite (embedded) and PostgreSQL (scale-out)."""
