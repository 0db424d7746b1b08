"""Alembic migrations, shipped in the package; run through keyfob.migrate."""
