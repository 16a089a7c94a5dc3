"""Alembic environment: migrations run on the connection ``Store.migrate`` hands over, or on
``sqlalchemy.url`` when Alembic is run by hand (``alembic -c api/alembic.ini upgrade head``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from api.store import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    with create_engine(config.get_main_option("sqlalchemy.url") or "").begin() as conn:
        context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
