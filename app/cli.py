"""The `loyalty` console script: Flask's command line with the app already chosen, so every command works from a
plain shell without activating the virtual environment: `.venv/bin/loyalty demo order --total 150.00`.

`loyalty embedded stop` is resolved before the app is built, so it stops the embedded servers without starting them.
"""

from __future__ import annotations

from flask import Flask
from flask.cli import FlaskGroup

from app.commands.embedded import embedded_cli


def _create_app() -> Flask:
    from app import create_app

    return create_app()


cli = FlaskGroup(
    name="loyalty",
    create_app=_create_app,
    add_version_option=False,
    help="loyalty's commands: demo, rules, events, webhooks, stream, db, embedded, routes, shell, run.",
)
cli.add_command(embedded_cli)


def main() -> None:
    cli.main(prog_name="loyalty")


if __name__ == "__main__":
    main()
