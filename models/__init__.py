"""Tortoise ORM models, one module per domain area; the schema changes only through migrations."""
