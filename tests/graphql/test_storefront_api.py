"""The storefront API over POST /graphql (extension tokens): every field for a shopper, a guest and another shopper,
the persisted operations, the read cache's versioning, rate limits and bad inputs."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from app.graphql.persisted import OPERATIONS_DIR
from app.loyalty import rewards, rulebook
from app.models import RedemptionLog, ReferralLink
from tests.graphql.storefront_helpers import SHOPPER_A, SHOPPER_B, earn_points, operation, seed_programme
from tests.helpers import GET_LOYALTY_PROFILE
from tests.loyalty.rewards_helpers import give_points
from tests.loyalty.rulebook_helpers import CANNOT_RUN, RUNS_AS_SAVED, store_old_version


def post(client, shopify, body, *, customer=SHOPPER_A, shop="test-shop.myshopify.com"):  # type: ignore[no-untyped-def]
    token = shopify.session_token(shop=shop, customer_id=customer)
    return client.post("/graphql", json=body, headers={"Authorization": f"Bearer {token}"})


def persisted(name: str, variables: dict | None = None) -> dict:
    digest = hashlib.sha256(operation(name).encode()).hexdigest()
    return {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}}, "variables": variables or {}}


@pytest.fixture
def programme(app, db_session, shop):  # type: ignore[no-untyped-def]
    return seed_programme(db_session, shop)


def test_a_shopper_reads_their_whole_membership(client, shopify, programme) -> None:  # type: ignore[no-untyped-def]
    response = post(client, shopify, persisted("LoyaltyPanel"))
    assert response.status_code == 200, response.get_json()
    data = response.get_json()["data"]
    me = data["me"]
    assert me["customer_id"] == SHOPPER_A
    assert (me["points_balance"], me["points_pending"], me["lifetime_points"]) == (1_200, 0, 1_200)
    assert me["current_tier"] == {"name": "Bronze", "level": 1}
    assert me["next_tier"] == {"name": "Silver", "min_points_required": 2_000}
    assert (me["tier_progress_percentage"], me["points_to_next_tier"]) == (60.0, 800)
    assert me["expiring_next"] is None  # the shop's points never expire
    offers = {offer["reward"]["id"]: offer for offer in me["rewards"]}
    assert offers[str(programme.cheap_reward)] == {
        "reward": {"id": str(programme.cheap_reward)},
        "affordable": True,
        "points_needed": 0,
    }
    assert offers[str(programme.dear_reward)]["points_needed"] == 3_800
    assert me["unused_rewards"] == []
    assert me["referral"]["share_url"] == f"https://test-shop.myshopify.com/apps/loyalty/r/{me['referral']['code']}"
    assert (me["referral"]["clicks"], me["referral"]["friend_points"]) == (0, 200)
    public = data["programme"]
    assert public["points_name"] == "Points"
    # The rule builder's sentence for the active rule: one generator for the admin and the storefront.
    assert public["ways_to_earn"] == [
        {
            "title": "Place an order",
            "description": "Customers earn 500 Points (First order bonus) when an order is placed and the order total"
            " is at least $100 and it is the customer's first order.",
            "points": 500,
            "points_per_unit": None,
        }
    ]
    assert [t["name"] for t in public["tiers"]] == ["Bronze", "Silver"]
    assert public["tiers"][1]["benefits"] == ["Free shipping"]
    assert public["referral"] == {"friend_points": 200, "advocate_points": 300}


def test_a_guest_sees_the_programme_and_no_member(client, shopify, programme) -> None:  # type: ignore[no-untyped-def]
    data = post(client, shopify, persisted("LoyaltyPanel"), customer=None).get_json()["data"]
    assert data["me"] is None
    assert [r["name"] for r in data["programme"]["rewards"]] == ["$5 off", "$50 off"]


def test_shopper_b_sees_only_their_own_and_cannot_ask_for_a(client, shopify, programme) -> None:  # type: ignore[no-untyped-def]
    me = post(client, shopify, persisted("LoyaltyPanel"), customer=SHOPPER_B).get_json()["data"]["me"]
    assert (me["customer_id"], me["points_balance"]) == (SHOPPER_B, 40)
    history = post(client, shopify, persisted("LoyaltyHistory"), customer=SHOPPER_B).get_json()["data"]["me"]
    assert [entry["points"] for entry in history["history"]["entries"]] == [40]
    other = post(
        client, shopify, {"query": GET_LOYALTY_PROFILE, "variables": {"customerId": SHOPPER_A}}, customer=SHOPPER_B
    ).get_json()
    assert other["data"]["loyaltyProfile"] is None and other["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_shop_x_never_sees_shop_y(client, shopify, db_session, programme, other_shop) -> None:  # type: ignore[no-untyped-def]
    data = post(client, shopify, persisted("LoyaltyPanel"), shop="other-shop.myshopify.com").get_json()["data"]
    assert data["me"]["points_balance"] == 0 and data["me"]["referral"] is None
    assert data["programme"]["rewards"] == [] and data["programme"]["tiers"] == []
    assert data["programme"]["ways_to_earn"] == []


def test_history_pages_with_cursors_and_refuses_a_forged_one(client, shopify, db_session, shop, programme) -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(timezone.utc)
    for points in (10, 20, 30):
        give_points(db_session, shop, SHOPPER_A, points, now)
    db_session.commit()
    first = post(client, shopify, persisted("LoyaltyHistory", {"first": 2})).get_json()["data"]["me"]["history"]
    assert [e["points"] for e in first["entries"]] == [30, 20]
    assert first["entries"][0]["reason"] == "Adjustment by the shop"
    assert first["page_info"]["has_next_page"] is True
    rest = post(
        client, shopify, persisted("LoyaltyHistory", {"first": 2, "after": first["page_info"]["end_cursor"]})
    ).get_json()["data"]["me"]["history"]
    assert [e["points"] for e in rest["entries"]] == [10, 1_200]
    assert rest["page_info"]["has_next_page"] is False
    for variables in (
        {"after": "bm90LWEtY3Vyc29y"},
        {"after": "!!"},
        {"first": 0},
        {"first": 500},
        {"after": base64.urlsafe_b64encode(b"entry:" + b"9" * 30).decode()},  # was "internal error"
        {"after": base64.urlsafe_b64encode("entry:\u0663".encode()).decode()},  # read as 3
    ):
        response = post(client, shopify, persisted("LoyaltyHistory", variables))
        assert response.status_code == 200
        body = response.get_json()
        assert body["data"]["me"] is None and body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


def test_a_redemption_shows_its_code_only_once_settled(client, shopify, db_session, shop, programme) -> None:  # type: ignore[no-untyped-def]
    variables = {"input": {"customerId": SHOPPER_A, "rewardId": str(programme.cheap_reward)}}
    result = post(client, shopify, persisted("RedeemForCode", variables)).get_json()["data"]["redeemReward"]
    assert (result["success"], result["new_balance"]) == (True, 700)
    assert (result["status"], result["code"]) == ("pending", None) and result["redemption_id"]
    unused = post(client, shopify, persisted("LoyaltyPanel")).get_json()["data"]["me"]["unused_rewards"]
    assert [(u["reward_name"], u["status"], u["code"]) for u in unused] == [("$5 off", "pending", None)]
    redemption = db_session.execute(select(RedemptionLog)).scalar_one()
    rewards.settle(db_session, shop_id=shop.id, redemption_id=redemption.id, now=datetime.now(timezone.utc))
    db_session.commit()
    unused = post(client, shopify, persisted("LoyaltyPanel")).get_json()["data"]["me"]["unused_rewards"]
    assert [(u["status"], u["code"]) for u in unused] == [("posted", redemption.code)]
    # Shopper B never sees A's codes.
    assert (
        post(client, shopify, persisted("LoyaltyPanel"), customer=SHOPPER_B).get_json()["data"]["me"]["unused_rewards"]
        == []
    )


def test_the_profile_cache_moves_with_the_commit_that_changes_the_balance(  # type: ignore[no-untyped-def]
    client, shopify, db_session, shop, programme, redis_client, redis_namespace
) -> None:
    ask = {"query": GET_LOYALTY_PROFILE, "variables": {"customerId": SHOPPER_A}}
    assert post(client, shopify, ask).get_json()["data"]["loyaltyProfile"]["points_balance"] == 1_200
    assert len(list(redis_client.scan_iter(match=f"{redis_namespace}:storefront:*"))) == 1
    assert post(client, shopify, ask).get_json()["data"]["loyaltyProfile"]["points_balance"] == 1_200
    earn_points(db_session, shop, SHOPPER_A, 900, datetime.now(timezone.utc))
    db_session.commit()
    fresh = post(client, shopify, ask).get_json()["data"]["loyaltyProfile"]
    assert fresh["points_balance"] == 2_100 and fresh["current_tier"]["name"] == "Silver"
    # A ladder change (another table) moves the shop row's version through migration 0004's trigger.
    from app.models import TierDefinition

    silver = db_session.execute(select(TierDefinition).where(TierDefinition.name == "Silver")).scalar_one()
    silver.name = "Gold"
    db_session.commit()
    assert post(client, shopify, ask).get_json()["data"]["loyaltyProfile"]["current_tier"]["name"] == "Gold"


def test_every_persisted_operation_is_accepted_by_hash_and_an_unknown_hash_is_400(client, shopify, programme) -> None:  # type: ignore[no-untyped-def]
    names = sorted(path.stem for path in OPERATIONS_DIR.glob("*.graphql"))
    assert names == ["GetLoyaltyProfile", "LoyaltyHistory", "LoyaltyPanel", "RedeemForCode", "RedeemReward"]
    profile = post(client, shopify, persisted("GetLoyaltyProfile", {"customerId": SHOPPER_A})).get_json()
    assert profile["data"]["loyaltyProfile"]["points_balance"] == 1_200
    unknown = post(client, shopify, {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}})
    assert unknown.status_code == 400 and "persisted query not found" in unknown.get_json()["message"]


def test_rate_limits_answer_429_with_retry_after_and_recover(  # type: ignore[no-untyped-def]
    settings_overrides, clean_state, shopify, db_session, redis_client, redis_namespace
) -> None:
    from app import create_app
    from app.graphql.rate_limit import Limits
    from app.models import Shop

    limited = create_app({**settings_overrides, "STOREFRONT_LIMITS": Limits(per_shopper=3, per_shop=6)})
    with limited.app_context():
        db_session.add(Shop(domain="test-shop.myshopify.com", installed_at=datetime(2026, 1, 1, tzinfo=timezone.utc)))
        db_session.commit()
        client = limited.test_client()
        ask = persisted("LoyaltyPanel")
        assert [post(client, shopify, ask).status_code for _ in range(4)] == [200, 200, 200, 429]
        refused = post(client, shopify, ask)
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert refused.get_json()["error"] == "rate_limited"
        assert refused.headers["Access-Control-Allow-Origin"] == "*"  # the extension can read the refusal
        # Another shopper has their own budget, until the shop's is spent.
        assert post(client, shopify, ask, customer=SHOPPER_B).status_code == 200
        assert post(client, shopify, ask, customer=SHOPPER_B).status_code == 429
        # The next window starts afresh.
        for key in redis_client.scan_iter(match=f"{redis_namespace}:ratelimit:*"):
            redis_client.delete(key)
        assert post(client, shopify, ask).status_code == 200
        from app.extensions import db

        db.session.remove()


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"query": "{ me { history(first: 50) { entries { id } } } }"}, 200, None),
        (
            {
                "query": "{ a: me { history(first: 50) { entries { id points kind reason created_at } } } "
                "b: me { history(first: 50) { entries { id points kind reason created_at } } } }"
            },
            400,
            "may cost at most",
        ),
        # A page given by a variable counts as the largest one (50): it counted as 10, so these two aliases ran 100
        # entries under a cost of 124.
        (
            {
                "query": "query Pages($n: Int) {"
                " a: me { history(first: $n) { entries { id points kind reason created_at } } }"
                " b: me { history(first: $n) { entries { id points kind reason created_at } } } }",
                "variables": {"n": 50},
            },
            400,
            "it costs 506",
        ),
        (
            {
                "query": "{ me { history { page_info { end_cursor ... on PageInfo { ... on PageInfo { ... on PageInfo "
                "{ has_next_page } } } } } } }"
            },
            200,
            None,
        ),
        ({"query": "{ programme { rewards { name } } }", "variables": "not json"}, 400, "variables"),
        # Each was a 500: JSON text that is not an object, a persistedQuery that is not one, JSON too deep to parse.
        ({"query": "{ programme { rewards { name } } }", "extensions": "[1]"}, 400, "extensions must be a JSON object"),
        ({"extensions": {"persistedQuery": "abc"}}, 400, "persistedQuery must be a JSON object"),
        ({"query": "{ programme { rewards { name } } }", "variables": "[" * 5000}, 400, "variables must be"),
        ({"query": 42}, 400, "query must be"),
        ({"query": "{ nope }"}, 400, "Cannot query field"),
        ({"query": "{ me { history(first: 10, after: 7) { entries { id } } } }"}, 400, "String cannot represent"),
        ({"query": "query { __schema { types { name } } }"}, 200, None),
    ],
    ids=[
        "cheap",
        "too-costly",
        "too-costly-by-variable",
        "fragments",
        "variables",
        "extensions-not-an-object",
        "persisted-query-not-an-object",
        "variables-too-deep",
        "query-type",
        "unknown-field",
        "bad-argument",
        "introspection-in-test",
    ],
)
def test_bad_inputs_are_clear_4xx_never_500(client, shopify, programme, body, status, says) -> None:  # type: ignore[no-untyped-def]
    response = post(client, shopify, body)
    assert response.status_code == status, response.get_json()
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    if says:
        payload = response.get_json()
        message = payload.get("message") or payload["errors"][0]["message"]
        assert says in message


@pytest.mark.parametrize("path", ["/graphql", "proxy"])
def test_a_body_nested_too_deeply_to_parse_is_a_400(client, shopify, programme, path) -> None:  # type: ignore[no-untyped-def]
    deep = b"[" * 100_000  # Flask's get_json let the RecursionError through: a 500
    if path == "proxy":
        query = shopify.proxy_query(customer_id=SHOPPER_A)
        response = client.post(f"/proxy/graphql?{query}", data=deep, content_type="application/json")
    else:
        token = shopify.session_token(shop="test-shop.myshopify.com", customer_id=SHOPPER_A)
        headers = {"Authorization": f"Bearer {token}"}
        response = client.post("/graphql", data=deep, content_type="application/json", headers=headers)
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_request"


def test_introspection_is_off_in_production(settings_overrides, clean_state, shopify, db_session) -> None:  # type: ignore[no-untyped-def]
    from app import create_app
    from app.models import Shop

    production = create_app({**settings_overrides, "app_env": "production", "graphql_introspection": False})
    with production.app_context():
        db_session.add(Shop(domain="test-shop.myshopify.com", installed_at=datetime(2026, 1, 1, tzinfo=timezone.utc)))
        db_session.commit()
        response = post(production.test_client(), shopify, {"query": "{ __schema { types { name } } }"})
        assert response.status_code == 400
        assert "introspection" in response.get_json()["errors"][0]["message"].lower()
        from app.extensions import db

        db.session.remove()


def test_a_query_creates_the_referral_link_once(client, shopify, db_session, programme) -> None:  # type: ignore[no-untyped-def]
    codes = {
        post(client, shopify, persisted("LoyaltyPanel")).get_json()["data"]["me"]["referral"]["code"] for _ in range(2)
    }
    assert len(codes) == 1
    assert db_session.execute(select(func.count()).select_from(ReferralLink)).scalar_one() == 1


def test_the_kept_programme_moves_with_rule_and_reward_changes(client, shopify, db_session, shop, programme) -> None:  # type: ignore[no-untyped-def]
    from app.loyalty import rulebook

    def public() -> dict:
        return post(client, shopify, persisted("LoyaltyPanel"), customer=None).get_json()["data"]["programme"]

    assert len(public()["ways_to_earn"]) == 1
    rulebook.save_rule(
        db_session,
        shop_id=shop.id,
        definition={"name": "Per dollar", "actions": [{"type": "points_per_currency", "rate": 2}]},
        actor="test",
        now=datetime.now(timezone.utc),
    )
    db_session.commit()
    ways = public()["ways_to_earn"]
    assert [(w["description"], w["points_per_unit"]) for w in ways][-1] == (
        "Customers earn 2 Points per $1 of the order subtotal (rounded down) when an order is placed.",
        "2",
    )
    rewards.set_active(db_session, shop_id=shop.id, reward_id=programme.dear_reward, active=False)
    db_session.commit()
    assert [r["name"] for r in public()["rewards"]] == ["$5 off"]


def test_ways_to_earn_tell_a_rule_stored_under_looser_bounds_as_it_runs_and_leave_out_one_that_cannot(  # type: ignore[no-untyped-def]
    client, shopify, db_session, shop, programme
) -> None:
    store_old_version(db_session, shop, RUNS_AS_SAVED["amount"])
    store_old_version(db_session, shop, CANNOT_RUN["within_days"])
    three = {"name": "Three", "actions": [{"type": "points", "amount": 1_000_000_000}] * 3}  # within today's bounds
    rulebook.save_rule(db_session, shop_id=shop.id, definition=three, actor="test", now=datetime.now(timezone.utc))
    db_session.commit()
    response = post(client, shopify, persisted("LoyaltyPanel"), customer=None)
    assert response.status_code == 200 and "errors" not in response.get_json()
    ways = response.get_json()["data"]["programme"]["ways_to_earn"]
    assert [(w["description"], w["points"]) for w in ways] == [
        ("Customers earn 5,000,000,000 Points when an order is placed.", None),  # past a GraphQL Int
        (
            "Customers earn 500 Points (First order bonus) when an order is placed and the order total is at least "
            "$100 and it is the customer's first order.",
            500,
        ),
        (
            "Customers earn 1,000,000,000 Points, earn 1,000,000,000 Points and earn 1,000,000,000 Points when an "
            "order is placed.",
            None,
        ),
    ]


def test_a_database_error_in_one_field_answers_nothing_it_did_not_keep(  # type: ignore[no-untyped-def]
    client, shopify, db_session, programme, monkeypatch
) -> None:
    """The referral link is created on first ask, in the request's transaction; a database error in a later field
    aborts that transaction, so its commit keeps nothing. The answer must not hand out the code that was not kept."""
    from sqlalchemy import text

    from app.loyalty.read_models import storefront

    def failing_history(session, **_kwargs):  # type: ignore[no-untyped-def]
        session.execute(text("SELECT 1 / 0"))  # a real error from PostgreSQL, on the request's own connection

    monkeypatch.setattr(storefront, "history", failing_history)
    answer = post(client, shopify, {"query": "{ me { referral { code } history { entries { id } } } }"})
    assert answer.status_code == 500
    assert answer.get_json() == {"errors": [{"message": "internal error"}]}
    assert db_session.execute(select(func.count()).select_from(ReferralLink)).scalar_one() == 0
