"""Query.me (the verified shopper's own membership) and Query.programme (the public programme, for guests too)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ariadne import ObjectType, QueryType
from graphql import GraphQLError, GraphQLResolveInfo

from app.graphql import read_cache
from app.graphql.context import ShopperContext
from app.graphql.profile import iso
from app.loyalty.read_models import storefront
from app.loyalty.read_models.profile import ProfileView, loyalty_profile
from app.rules.earning import EarnWay
from app.rules.summary import summarize

query = QueryType()
member = ObjectType("Member")
reward_offer = ObjectType("RewardOffer")
reward = ObjectType("Reward")
tier_info = ObjectType("TierInfo")
way_to_earn = ObjectType("WayToEarn")
GRAPHQL_MAX_INT = 2**31 - 1  # the GraphQL spec's Int is a signed 32-bit integer
# ISO 8601 strings for the datetime fields of each type.
TIMESTAMPS = {
    "ExpiringPoints": ("expires_at",),
    "HistoryEntry": ("created_at",),
}
timestamps = [ObjectType(name) for name in TIMESTAMPS]


@dataclass(frozen=True)
class Member:
    context: ShopperContext
    profile: ProfileView
    profile_id: int | None


@query.field("me")
def resolve_me(_: Any, info: GraphQLResolveInfo) -> Member | None:
    context: ShopperContext = info.context
    if context.shop is None or context.customer_id is None:
        return None  # a guest: the widget shows the programme and an invitation to sign in
    profile = loyalty_profile(context.session, shop=context.shop, customer_id=context.customer_id, now=context.now)
    return Member(context=context, profile=profile, profile_id=profile.profile_id)


@query.field("programme")
def resolve_programme(_: Any, info: GraphQLResolveInfo) -> storefront.Programme:
    context: ShopperContext = info.context
    assert context.shop is not None  # the routes answer only for an installed shop
    return read_cache.programme(context.session, shop=context.shop, shop_version=context.shop_version)


@member.field("customer_id")
def resolve_customer_id(obj: Member, _info: GraphQLResolveInfo) -> str:
    return obj.profile.customer_id


for _name in (
    "points_balance",
    "points_pending",
    "lifetime_points",
    "current_tier",
    "next_tier",
    "tier_progress_percentage",
    "points_to_next_tier",
):
    member.set_field(_name, lambda obj, _info, _n=_name: getattr(obj.profile, _n))


@member.field("points_name")
def resolve_points_name(obj: Member, _info: GraphQLResolveInfo) -> str:
    assert obj.context.shop is not None
    return obj.context.shop.points_name


@member.field("expiring_next")
def resolve_expiring_next(obj: Member, _info: GraphQLResolveInfo) -> storefront.Expiring | None:
    context = obj.context
    assert context.shop is not None
    return storefront.expiring_next(context.session, shop=context.shop, profile_id=obj.profile_id, now=context.now)


@member.field("history")
def resolve_history(obj: Member, _info: GraphQLResolveInfo, first: int = 10, after: str | None = None) -> dict:
    context = obj.context
    assert context.shop is not None
    try:
        page = storefront.history(
            context.session, shop=context.shop, customer_id=obj.profile.customer_id, first=first, after=after
        )
    except ValueError as exc:  # InvalidCursor too
        raise GraphQLError(str(exc), extensions={"code": "BAD_USER_INPUT"}) from None
    return {
        "entries": page.entries,
        "page_info": {"end_cursor": page.end_cursor, "has_next_page": page.has_next_page},
    }


@member.field("rewards")
def resolve_rewards(obj: Member, _info: GraphQLResolveInfo) -> list[dict]:
    context = obj.context
    assert context.shop is not None
    balance = obj.profile.points_balance
    level = obj.profile.current_tier.level if obj.profile.current_tier else None
    offers = []
    programme = read_cache.programme(context.session, shop=context.shop, shop_version=context.shop_version)
    for item in programme.rewards:
        tier_ok = item.min_tier_level is None or (level is not None and level >= item.min_tier_level)
        needed = max(0, item.points_cost - balance)
        offers.append({"reward": item, "affordable": needed == 0 and tier_ok, "points_needed": needed})
    return offers


@member.field("unused_rewards")
def resolve_unused(obj: Member, _info: GraphQLResolveInfo) -> list[storefront.RedemptionView]:
    context = obj.context
    assert context.shop is not None
    return storefront.unused_redemptions(context.session, shop=context.shop, profile_id=obj.profile_id)


@member.field("referral")
def resolve_referral(obj: Member, _info: GraphQLResolveInfo) -> storefront.ReferralView | None:
    context = obj.context
    assert context.shop is not None
    return storefront.referral(
        context.session,
        shop=context.shop,
        profile_id=obj.profile_id,
        proxy_prefix=context.proxy_prefix,
        now=context.now,
    )


@reward.field("value")
def resolve_value(obj: storefront.RewardInfo, _info: GraphQLResolveInfo) -> str | None:
    return None if obj.value is None else str(obj.value)


@way_to_earn.field("description")
def resolve_description(obj: EarnWay, info: GraphQLResolveInfo) -> str:
    """The rule builder's sentence for the rule (one generator for the admin and the storefront), in the shop's word
    for points."""
    shop = info.context.shop
    assert shop is not None  # ways to earn are reached only through the shop's programme
    return summarize(obj.definition, obj.currency, shop.points_name) or obj.title


@way_to_earn.field("points")
def resolve_points(obj: EarnWay, _info: GraphQLResolveInfo) -> int | None:
    """The fixed award when a GraphQL Int (32-bit) holds it; the description says it in words either way. A rule's
    points actions add up past one (three of 1,000,000,000), and so does a version saved before the bounds."""
    return obj.points if obj.points is None or obj.points <= GRAPHQL_MAX_INT else None


@way_to_earn.field("points_per_unit")
def resolve_points_per_unit(obj: EarnWay, _info: GraphQLResolveInfo) -> str | None:
    return None if obj.points_per_unit is None else str(obj.points_per_unit.normalize())


@tier_info.field("earn_multiplier")
def resolve_multiplier(obj: storefront.TierInfo, _info: GraphQLResolveInfo) -> str:
    return str(obj.earn_multiplier.normalize())


for _type in timestamps:
    for _field in TIMESTAMPS[_type.name]:
        _type.set_field(_field, lambda obj, _info, _f=_field: iso(getattr(obj, _f)))

bindables = [query, member, reward_offer, reward, tier_info, way_to_earn, *timestamps]
