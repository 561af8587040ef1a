"""Alembic is the only way the schema changes: migrations match the models, go down and
up again, and a server refuses a database that is behind."""

from __future__ import annotations

import asyncio

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from core.settings import Settings
from models import Base
from models.migrations import downgrade, head_revision, upgrade
from server import SchemaBehind, create_app
from tests.conftest import TEST_SECRET_KEY, fresh_database


async def _diff_and_tables(url: str):
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            def read(sync):
                context = MigrationContext.configure(sync, opts={"compare_type": True, "compare_server_default": True})
                return compare_metadata(context, Base.metadata), set(inspect(sync).get_table_names()), context.get_current_revision()
            return await conn.run_sync(read)
    finally:
        await engine.dispose()


def test_migrations_produce_exactly_the_models(database_url):
    diff, tables, revision = asyncio.run(_diff_and_tables(database_url))
    assert diff == []
    assert tables == set(Base.metadata.tables) | {"alembic_version"}
    assert revision == head_revision()


def test_downgrade_to_base_and_up_again(postgres_server_url):
    with fresh_database(postgres_server_url) as url:
        upgrade(url)
        downgrade(url, "base")
        _, tables, revision = asyncio.run(_diff_and_tables(url))
        assert tables == {"alembic_version"} and revision is None
        upgrade(url)
        diff, tables, revision = asyncio.run(_diff_and_tables(url))
        assert diff == [] and revision == head_revision()


def test_app_refuses_to_start_on_a_schema_behind(postgres_server_url):
    with fresh_database(postgres_server_url) as url:
        app = create_app(Settings(database_url=url, secret_key=TEST_SECRET_KEY))

        async def start():
            async with app.router.lifespan_context(app):
                pass

        with pytest.raises(SchemaBehind, match=r"revision none.*`crm migrate`"):
            asyncio.run(start())
