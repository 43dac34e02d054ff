"""Flask CLI commands: `flask --app app <group> …`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def register_commands(app: Flask) -> None:
    from app.commands.db import db_cli

    app.cli.add_command(db_cli)
