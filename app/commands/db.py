"""`flask --app app db upgrade|downgrade|current|revision`: Alembic with the app's database URL."""

from __future__ import annotations

import click
from alembic import command
from flask import current_app
from flask.cli import AppGroup

from app.migrations import alembic_config

db_cli = AppGroup("db", help="Database migrations (Alembic, migrations/).")


def _config():  # type: ignore[no-untyped-def]
    return alembic_config(current_app.config["SQLALCHEMY_DATABASE_URI"])


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: head)."""
    command.upgrade(_config(), revision)
    click.echo(f"database upgraded to {revision}")


@db_cli.command("downgrade")
@click.argument("revision", default="-1")
def downgrade(revision: str) -> None:
    """Revert migrations down to REVISION (default: one step; `base` for an empty database)."""
    command.downgrade(_config(), revision)
    click.echo(f"database downgraded to {revision}")


@db_cli.command("current")
def current() -> None:
    """Show the database's current revision."""
    command.current(_config(), verbose=False)


@db_cli.command("revision")
@click.option("-m", "--message", required=True)
@click.option("--autogenerate/--empty", default=True)
def revision(message: str, autogenerate: bool) -> None:
    """Write a new migration comparing the models with the database."""
    command.revision(_config(), message=message, autogenerate=autogenerate)
