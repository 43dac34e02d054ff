"""Run Alembic against `migrations/` programmatically, so `flask db …` and the tests share one code path."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from app.paths import PROJECT_ROOT


def alembic_config(database_url: str) -> Config:
    """An Alembic Config for our migrations folder and this database (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.set_main_option("file_template", "%%(year)d%%(month).2d%%(day).2d_%%(slug)s")
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)
