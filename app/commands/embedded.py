"""`loyalty embedded stop` (or `flask --app app embedded stop`): stop the embedded PostgreSQL and Redis.

It needs no app, so the `loyalty` console script runs it without building one (building one is what starts the
embedded servers when DATABASE_URL / REDIS_URL are unset). It stops the development instance's servers and the test
suite's (instance/test), both of which outlive the processes that started them.
"""

from __future__ import annotations

from pathlib import Path

import click

from app.config import load_settings
from app.embedded import stop
from app.paths import PROJECT_ROOT

embedded_cli = click.Group("embedded", help="The embedded PostgreSQL and Redis (development and tests only).")


@embedded_cli.command("stop")
def stop_servers() -> None:
    """Stop the embedded servers of this checkout: development (instance/) and tests (instance/test)."""
    settings = load_settings()
    instance = Path(settings.instance_path) if settings.instance_path else PROJECT_ROOT / "instance"
    for folder in (instance, PROJECT_ROOT / "instance" / "test"):
        stopped = stop(folder)
        click.echo(f"{folder}: " + ("stopped " + ", ".join(stopped) if stopped else "nothing was running"))
