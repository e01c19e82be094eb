"""Persistence: SQLAlchemy 2 async tables, the release repository, Alembic migrations."""
