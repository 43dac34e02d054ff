"""Concurrent redemptions against one balance never overspend (L4) and a retried key never spends twice (L13)."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.loyalty import rewards
from app.loyalty.base.errors import InsufficientPoints, LoyaltyError
from app.models import Outbox, RedemptionLog, Shop
from tests.loyalty.rewards_helpers import balance, give_points, ledger_sum, make_reward

THREADS = 60


def _race(session_factory: sessionmaker[Session], shop_id: int, calls: list[dict[str, object]], now: datetime):
    """Run every call in its own thread and session, released together; return the outcomes in call order."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[object] = [None] * len(calls)

    def run(index: int, call: dict[str, object]) -> None:
        session = session_factory()
        try:
            barrier.wait()
            with session.begin():
                shop = session.get(Shop, shop_id)
                outcomes[index] = rewards.redeem_reward(session, shop=shop, now=now, **call)
        except LoyaltyError as exc:
            outcomes[index] = exc
        finally:
            session.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


def test_concurrent_redemptions_succeed_exactly_as_often_as_the_balance_covers(
    db_session: Session, session_factory: sessionmaker[Session], shop: Shop, now: datetime
) -> None:
    profile = give_points(db_session, shop, "700", 1_750, now)
    reward_id = make_reward(db_session, shop, points_cost=500)
    db_session.commit()

    outcomes = _race(session_factory, shop.id, [{"customer_id": "700", "reward_id": reward_id}] * THREADS, now)

    kinds = Counter(type(outcome).__name__ for outcome in outcomes)
    assert kinds == {"RedemptionResult": 3, "InsufficientPoints": THREADS - 3}
    refused = [o for o in outcomes if isinstance(o, InsufficientPoints)]
    assert all(o.balance == 250 and o.needed == 500 for o in refused)
    assert str(refused[0]) == "customer 700 has 250 points; this needs 500"
    balances = sorted(o.new_balance for o in outcomes if isinstance(o, rewards.RedemptionResult))
    assert balances == [250, 750, 1_250]
    db_session.expire_all()
    assert balance(db_session, profile.id) == 250 == ledger_sum(db_session, profile.id)
    assert db_session.execute(select(func.count(RedemptionLog.id))).scalar_one() == 3
    assert (
        db_session.execute(select(func.count(Outbox.id)).where(Outbox.kind == "discount_code.create")).scalar_one() == 3
    )


def test_concurrent_retries_of_one_idempotency_key_spend_once(
    db_session: Session, session_factory: sessionmaker[Session], shop: Shop, now: datetime
) -> None:
    profile = give_points(db_session, shop, "701", 5_000, now)
    reward_id = make_reward(db_session, shop, points_cost=500)
    db_session.commit()
    call = {"customer_id": "701", "reward_id": reward_id, "idempotency_key": "checkout-click-1"}

    outcomes = _race(session_factory, shop.id, [call] * 12, now)

    assert all(isinstance(o, rewards.RedemptionResult) for o in outcomes)
    assert {o.redemption.id for o in outcomes} == {outcomes[0].redemption.id}
    assert sorted(o.replayed for o in outcomes) == [False] + [True] * 11
    assert {(o.points_deducted, o.new_balance) for o in outcomes} == {(500, 4_500)}
    db_session.expire_all()
    assert balance(db_session, profile.id) == 4_500 == ledger_sum(db_session, profile.id)
