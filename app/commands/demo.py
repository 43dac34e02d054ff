"""`flask --app app demo`: seed the demo shop (idempotent), and `demo order` to send it a signed sample order."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from decimal import Decimal

import click
import httpx
import jwt
from flask import current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from app.config import Settings
from app.extensions import db
from app.loyalty import rulebook
from app.loyalty.rulebook import FIRST_ORDER_BONUS
from app.models import Shop, TierDefinition
from app.shopify.context import token_context
from app.shopify.development import DEMO_SHOP, connect_demo_shop
from app.shopify.signing import sign_webhook_body

__all__ = ["DEMO_SHOP", "demo_cli", "demo_shopper_token", "seed"]

TIER_LADDER = (("Bronze", 1, 0), ("Silver", 2, 1000), ("Gold", 3, 5000))


@click.group("demo", cls=AppGroup, invoke_without_command=True)
@click.pass_context
@with_appcontext
def demo_cli(context: click.Context) -> None:
    """Seed the demo shop (idempotent); `demo order` sends it a signed sample order."""
    if context.invoked_subcommand is None:
        seed()


def seed() -> None:
    """Create the demo shop, its First Order Bonus rule and its Bronze/Silver/Gold ladder; safe to run again.

    In development the demo shop is also connected without Shopify (development.connect_demo_shop), so the admin
    opens at the app's URL.
    """
    now = datetime.now(timezone.utc)
    settings = current_app.config["SETTINGS"]
    connection = None
    with db.session.begin():
        db.session.execute(
            insert(Shop)
            .values(domain=DEMO_SHOP, name="Loyalty Demo", installed_at=now)
            .on_conflict_do_nothing(index_elements=["domain"])
        )
        shop = db.session.execute(select(Shop).where(Shop.domain == DEMO_SHOP)).scalar_one()
        for name, level, threshold in TIER_LADDER:
            db.session.execute(
                insert(TierDefinition)
                .values(shop_id=shop.id, name=name, level=level, threshold=Decimal(threshold))
                .on_conflict_do_nothing(index_elements=["shop_id", "name"])
            )
        saved = rulebook.save_rule(db.session, shop_id=shop.id, definition=FIRST_ORDER_BONUS, actor="demo", now=now)
        if settings.app_env == "development":
            connection = connect_demo_shop(db.session, shop, token_context())
    rule_state = "created" if saved.changed else "unchanged"
    click.echo(f"demo shop {DEMO_SHOP} ready: rule 'First Order Bonus' {rule_state}, tiers Bronze/Silver/Gold")
    click.echo(f"  health:        {settings.shopify_app_url}/monitoring/health")
    click.echo(f"  storefront API: POST {settings.shopify_app_url}/graphql (Bearer extension session token)")
    if settings.development_admin:
        click.echo(f"  admin:         {settings.shopify_app_url}/  (development, no Shopify: {connection})")
    else:
        click.echo("  admin:         open the app from the shop's Shopify admin (see README: shopify app dev)")
    click.echo("  sample order:  .venv/bin/loyalty demo order --total 150.00 --customer 1001")
    click.echo("  shopper token: flask --app app demo token --customer 1001  (then POST /graphql with it)")


@demo_cli.command("order")
@click.option("--total", default="150.00", show_default=True, help="Order total in the shop's currency.")
@click.option("--customer", default="1001", show_default=True, help="Shopify customer id.")
@click.option("--order-id", default=None, help="Order id (default: random).")
@click.option("--url", default=None, help="Webhook URL (default: SHOPIFY_APP_URL/webhooks).")
@with_appcontext
def send_order(total: str, customer: str, order_id: str | None, url: str | None) -> None:
    """POST a signed orders/create webhook for the demo shop, as Shopify would."""
    settings = current_app.config["SETTINGS"]
    order = {
        "id": int(order_id or uuid.uuid4().int % 10**15),
        "name": "#D1001",
        "currency": "USD",
        "total_price": total,
        "subtotal_price": total,
        "financial_status": "paid",
        "source_name": "web",
        "line_items": [],
        "discount_codes": [],
        "customer": {"id": int(customer), "email": f"customer{customer}@example.com"},
    }
    body = json.dumps(order).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Shop-Domain": DEMO_SHOP,
        "X-Shopify-Event-Id": str(uuid.uuid4()),
        "X-Shopify-Webhook-Id": str(uuid.uuid4()),
        "X-Shopify-Triggered-At": datetime.now(timezone.utc).isoformat(),
        "X-Shopify-Hmac-Sha256": sign_webhook_body(settings.shopify_api_secret, body),
    }
    target = url or f"{settings.shopify_app_url}/webhooks"
    response = httpx.post(target, content=body, headers=headers, timeout=10)
    click.echo(f"{response.status_code} {response.text.strip()}")


@demo_cli.command("token")
@click.option("--customer", default="1001", show_default=True, help="Shopify customer id of the shopper.")
@with_appcontext
def shopper_token(customer: str) -> None:
    """Print a checkout-extension session token for a demo shopper, signed as Shopify signs it (5 minutes)."""
    settings = current_app.config["SETTINGS"]
    if settings.is_production:
        raise click.ClickException("demo tokens are for development: Shopify signs real ones")
    click.echo(demo_shopper_token(settings, customer))


def demo_shopper_token(settings: Settings, customer: str) -> str:
    """A checkout-extension session token for a shopper of the demo shop, valid 5 minutes (never in production)."""
    if settings.is_production:
        raise ValueError("demo tokens are for development: Shopify signs real ones")
    now = int(datetime.now(timezone.utc).timestamp())
    claims = {
        "dest": DEMO_SHOP,
        "aud": settings.shopify_api_key,
        "sub": f"gid://shopify/Customer/{customer}",
        "exp": now + 300,
        "nbf": now,
        "iat": now,
        "jti": str(uuid.uuid4()),
    }
    return jwt.encode(claims, settings.shopify_api_secret, algorithm="HS256")
