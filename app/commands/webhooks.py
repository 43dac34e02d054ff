"""`flask --app app webhooks …`: merchants' outbound webhook endpoints from the command line (the admin's pages call
the same service, app.integrations.endpoints)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from app.commands.rules import SHOP
from app.extensions import db
from app.integrations import endpoints as service
from app.models import Shop
from app.shopify.token_cipher import TokenCipher, cipher_for
from app.shopify.tokens import find_shop

webhooks_cli = AppGroup("webhooks", help="Merchants' outbound webhook endpoints and their deliveries.")


def installed_shop(domain: str) -> Shop:
    shop = find_shop(db.session, domain)
    if shop is None or shop.uninstalled_at is not None:
        raise click.ClickException(f"shop {domain} is not installed")
    return shop


def _cipher() -> TokenCipher:
    return cipher_for(current_app.config["SETTINGS"], Path(current_app.instance_path))


def _allow_private() -> bool:
    return bool(current_app.config["SETTINGS"].webhooks_allow_private_targets)


def _echo(value: object) -> None:
    click.echo(json.dumps(value, indent=2))


@webhooks_cli.command("add")
@SHOP
@click.option("--url", required=True, help="https:// URL of the merchant's receiver.")
@click.option("--topic", "topics", multiple=True, required=True, type=click.Choice(service.TOPICS))
@click.option("--description", default=None)
def add_command(domain: str, url: str, topics: tuple[str, ...], description: str | None) -> None:
    """Add an endpoint; prints its signing secret, which is shown this once."""
    try:
        with db.session.begin():
            created = service.create_endpoint(
                db.session,
                _cipher(),
                shop_id=installed_shop(domain).id,
                url=url,
                topics=list(topics),
                description=description,
                allow_private=_allow_private(),
            )
    except service.EndpointError as exc:
        raise click.ClickException(str(exc)) from None
    _echo({**service.endpoint_view(created.endpoint), "secret": created.secret})
    click.echo("Keep the secret now: it is stored encrypted and never shown again.", err=True)


@webhooks_cli.command("list")
@SHOP
def list_command(domain: str) -> None:
    """Every endpoint of the shop (never their secrets)."""
    _echo([service.endpoint_view(e) for e in service.list_endpoints(db.session, shop_id=installed_shop(domain).id)])
    db.session.rollback()  # end the read


@webhooks_cli.command("set")
@SHOP
@click.argument("endpoint_id", type=int)
@click.option("--url", default=None)
@click.option("--topic", "topics", multiple=True, type=click.Choice(service.TOPICS))
@click.option("--enable/--disable", "active", default=None, help="Turning on clears an automatic disable.")
def set_command(domain: str, endpoint_id: int, url: str | None, topics: tuple[str, ...], active: bool | None) -> None:
    """Change an endpoint's URL, topics or state."""
    try:
        with db.session.begin():
            endpoint = service.update_endpoint(
                db.session,
                shop_id=installed_shop(domain).id,
                endpoint_id=endpoint_id,
                url=url,
                topics=list(topics) or None,
                active=active,
                allow_private=_allow_private(),
            )
            view = service.endpoint_view(endpoint)
    except (service.EndpointError, service.EndpointNotFound) as exc:
        raise click.ClickException(str(exc)) from None
    _echo(view)


@webhooks_cli.command("rotate-secret")
@SHOP
@click.argument("endpoint_id", type=int)
def rotate_command(domain: str, endpoint_id: int) -> None:
    """A new signing secret (shown once); deliveries from now on use it."""
    try:
        with db.session.begin():
            secret = service.rotate_secret(
                db.session, _cipher(), shop_id=installed_shop(domain).id, endpoint_id=endpoint_id
            )
    except service.EndpointNotFound as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(secret)


@webhooks_cli.command("remove")
@SHOP
@click.argument("endpoint_id", type=int)
def remove_command(domain: str, endpoint_id: int) -> None:
    """Delete an endpoint (its delivery log stays)."""
    try:
        with db.session.begin():
            service.delete_endpoint(db.session, shop_id=installed_shop(domain).id, endpoint_id=endpoint_id)
    except service.EndpointNotFound as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"endpoint {endpoint_id} removed")


@webhooks_cli.command("deliveries")
@SHOP
@click.option("--endpoint", "endpoint_id", type=int, default=None)
@click.option("--limit", default=50, show_default=True)
def deliveries_command(domain: str, endpoint_id: int | None, limit: int) -> None:
    """The delivery log, newest first: status, attempts, response status and time."""
    rows = service.deliveries(db.session, shop_id=installed_shop(domain).id, endpoint_id=endpoint_id, limit=limit)
    _echo([service.delivery_view(row) for row in rows])
    db.session.rollback()  # end the read


@webhooks_cli.command("resend")
@SHOP
@click.argument("delivery_id", type=click.UUID)
def resend_command(domain: str, delivery_id: uuid.UUID) -> None:
    """Send a delivery again at the next sweep (same delivery id)."""
    try:
        with db.session.begin():
            service.resend(
                db.session, shop_id=installed_shop(domain).id, delivery_id=delivery_id, now=datetime.now(timezone.utc)
            )
    except (service.EndpointError, service.EndpointNotFound) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"delivery {delivery_id} queued again")
