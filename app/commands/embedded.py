"""`flask --app app embedded stop`: stop the embedded PostgreSQL and Redis of this instance folder."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from app.embedded import stop

embedded_cli = AppGroup("embedded", help="The embedded PostgreSQL and Redis (development only).")


@embedded_cli.command("stop")
@with_appcontext
def stop_servers() -> None:
    """Stop the embedded servers (they outlive the processes that share them)."""
    stopped = stop(Path(current_app.instance_path))
    click.echo("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
