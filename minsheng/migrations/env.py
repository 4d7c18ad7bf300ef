"""Alembic environment: the URL comes from minsheng.migrate, never from an ini file."""
from alembic import context

from minsheng.db import make_engine
from minsheng.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",  # SQLite ALTER via copy
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
