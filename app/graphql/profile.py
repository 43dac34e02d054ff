"""Query.loyaltyProfile, the LoyaltyProfile type and its redemptions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ariadne import ObjectType, QueryType
from graphql import GraphQLError, GraphQLResolveInfo

from app.graphql.context import ShopperContext
from app.loyalty.read_models.profile import ProfileView, RedemptionView, loyalty_profile

query = QueryType()
redemption = ObjectType("Redemption")


@query.field("loyaltyProfile")
def resolve_loyalty_profile(_: Any, info: GraphQLResolveInfo, customer_id: str) -> ProfileView | None:
    context: ShopperContext = info.context
    allowed = context.own_customer_id(customer_id)
    if allowed is None:
        # Same answer for "not yours", "not installed" and "malformed": nothing to learn by probing.
        raise GraphQLError("no loyalty profile for this customer in this session", extensions={"code": "FORBIDDEN"})
    assert context.shop is not None
    return loyalty_profile(context.session, shop=context.shop, customer_id=allowed, now=context.now)


def iso(moment: datetime | None) -> str | None:
    """A timestamp as the storefront API writes every one: ISO 8601 in UTC with a Z."""
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else None


@redemption.field("created_at")
def resolve_created_at(view: RedemptionView, _: GraphQLResolveInfo) -> str | None:
    return iso(view.created_at)


@redemption.field("expires_at")
def resolve_expires_at(view: RedemptionView, _: GraphQLResolveInfo) -> str | None:
    return iso(view.expires_at)
