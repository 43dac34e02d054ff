"""`flask --app app shopify …`: work against a shop's Shopify store from the command line."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import click
from flask.cli import AppGroup, with_appcontext

from app.extensions import db
from app.loyalty.base.plans import plan_allows
from app.shopify.admin_api import AdminApiError
from app.shopify.backfill import backfill_orders
from app.shopify.context import admin_api
from app.shopify.shop_domains import is_shop_domain
from app.shopify.tokens import ShopNotConnected, find_shop

shopify_cli = AppGroup("shopify", help="Shopify store operations (backfill).")


@shopify_cli.command("backfill")
@click.option("--shop", "domain", required=True, help="The shop's myshopify domain, e.g. store.myshopify.com.")
@click.option("--since", required=True, type=click.DateTime(formats=["%Y-%m-%d"]), help="First day (YYYY-MM-DD).")
@with_appcontext
def backfill(domain: str, since: datetime) -> None:
    """Record the shop's orders since a date as historical events (for backtests and retroactive runs)."""
    domain = domain.strip().lower()
    if not is_shop_domain(domain):
        raise click.BadParameter(f"{domain!r} is not a myshopify.com shop domain", param_hint="--shop")
    if since.date() > datetime.now(timezone.utc).date():
        raise click.BadParameter(f"{since.date()} is in the future", param_hint="--since")
    shop = find_shop(db.session, domain)
    if shop is None:
        raise click.ClickException(f"{domain} has not installed loyalty")
    if not plan_allows(shop, "backfill"):
        raise click.ClickException(f"{domain} is on the free plan; importing past orders is part of the paid plan")
    try:
        result = backfill_orders(
            admin_api(), db.session, shop, since=since.date(), now=datetime.now(timezone.utc), sleep=time.sleep
        )
        db.session.commit()
    except ShopNotConnected as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    except AdminApiError as exc:
        db.session.rollback()
        raise click.ClickException(f"Shopify: {exc}") from exc
    click.echo(
        f"{domain}: {result.orders_read} order(s) since {since.date()}: {result.recorded} recorded as historical, "
        f"{result.already_in_inbox} already in the inbox; {result.earning_recorded} earning event(s) recorded"
    )
