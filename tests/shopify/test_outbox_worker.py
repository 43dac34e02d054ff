"""The outbox tasks run the way the worker runs them: enqueued on the real Redis-backed Huey, taken off the queue and
executed in the worker's own Flask app (built from the environment), against the fake Shopify."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select

from app.loyalty import rewards
from app.models import RedemptionLog, Shop
from tests.loyalty.rewards_helpers import give_points
from tests.shopify.conftest import SHOP
from tests.worker_fixtures import run_next_task

CUSTOMER = "115310627314723954"


def test_the_worker_turns_a_redemption_into_a_code_in_shopify(  # type: ignore[no-untyped-def]
    admin,
    shopify_fake,
    db_session,
    worker,  # noqa: F811  (the fixture imported above)
) -> None:
    from app.tasks.outbox import deliver_due_outbox, deliver_outbox

    admin.install()
    shop = db_session.execute(select(Shop).where(Shop.domain == SHOP)).scalar_one()
    now = datetime.now(timezone.utc)
    give_points(db_session, shop, CUSTOMER, 600, now)
    reward = rewards.create_reward(
        db_session,
        shop_id=shop.id,
        spec=rewards.RewardSpec(name="Ten off", kind="fixed_amount", points_cost=500, value="10"),
    )
    rewards.redeem_reward(db_session, shop=shop, customer_id=CUSTOMER, reward_id=reward.id, now=now)
    db_session.commit()

    deliver_outbox(shop.id)
    assert run_next_task(worker) == "deliver_outbox"
    db_session.expire_all()
    redemption = db_session.execute(select(RedemptionLog)).scalar_one()
    assert redemption.status == "posted"
    assert shopify_fake.state.discount_codes(SHOP) == [redemption.code]

    deliver_due_outbox()  # the periodic drain finds nothing more to create
    assert run_next_task(worker) == "deliver_due_outbox"
    assert len(shopify_fake.recorder.graphql("discountCodeBasicCreate")) == 1
