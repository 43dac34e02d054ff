"""Query.loyaltyProfile and the LoyaltyProfile type."""

from __future__ import annotations

from typing import Any

from ariadne import QueryType
from graphql import GraphQLError, GraphQLResolveInfo

from app.graphql.context import ShopperContext
from app.loyalty.read_models.profile import ProfileView, loyalty_profile

query = QueryType()


@query.field("loyaltyProfile")
def resolve_loyalty_profile(_: Any, info: GraphQLResolveInfo, customer_id: str) -> ProfileView | None:
    context: ShopperContext = info.context
    allowed = context.own_customer_id(customer_id)
    if allowed is None:
        # Same answer for "not yours", "not installed" and "malformed": nothing to learn by probing.
        raise GraphQLError("no loyalty profile for this customer in this session", extensions={"code": "FORBIDDEN"})
    assert context.shop is not None
    return loyalty_profile(context.session, shop=context.shop, customer_id=allowed, now=context.now)
