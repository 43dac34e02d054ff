"""Flask CLI commands: `flask --app app <group> …`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def register_commands(app: Flask) -> None:
    from app.commands.db import db_cli
    from app.commands.demo import demo_cli
    from app.commands.embedded import embedded_cli
    from app.commands.events import events_cli
    from app.commands.rules import rules_cli
    from app.commands.shopify import shopify_cli
    from app.commands.stream import stream_cli
    from app.commands.webhooks import webhooks_cli

    for group in (db_cli, demo_cli, embedded_cli, events_cli, rules_cli, shopify_cli, stream_cli, webhooks_cli):
        app.cli.add_command(group)
