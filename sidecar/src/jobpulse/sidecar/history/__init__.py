"""Durable job history: SQLAlchemy Core over SQLite or PostgreSQL, written behind the fold."""
