"""Alembic migrations of the registry schema (``blincompass.registry:migrations``)."""
