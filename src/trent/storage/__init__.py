"""Persistence: SQLAlchemy Core tables, Alembic migrations and the store that maps rows to domain objects.

The store wraps and unwraps secrets with the root key (nothing secret is written in the clear) but it
never decides who may do what.
"""
