"""Migrations: `upgrade head` on both databases builds exactly the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from staydown.db import Database
from staydown.migrate import MIGRATIONS_DIR, current_revision, head_revision
from staydown.models import metadata


def test_upgrade_head_matches_the_models(database: Database) -> None:
    assert current_revision(database.engine) == head_revision()
    with database.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, metadata)
    assert diff == [], f"models and migrations disagree: {diff}"


def test_migration_files_are_named_by_date() -> None:
    names = sorted(p.name for p in (MIGRATIONS_DIR / "versions").glob("*.py"))
    assert names
    for name in names:
        year, month, day = name.split("_")[:3]
        assert len(year) == 4 and year.isdigit() and month.isdigit() and day.isdigit(), name


def test_sqlite_pragmas(database: Database) -> None:
    if database.dialect != "sqlite":
        return
    with database.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert (conn.exec_driver_sql("PRAGMA busy_timeout").scalar() or 0) > 0
