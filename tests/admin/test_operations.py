"""Operations in the admin: dead letters inspected and replayed (inbox row pending again, then streamed by the relay,
audit row), events by status, the audit log; another shop's dead letters are neither shown nor replayed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from app.events.relay import Relay
from app.events.stream import StreamKeys
from app.extensions import db
from app.models import AuditLog, DeadLetter, EventQueue
from tests.admin.conftest import Admin, add_dead_letter
from tests.events.stream_helpers import stream_entries


def test_replaying_one_dead_letter_puts_its_event_back_on_the_stream(
    admin: Admin, demo_shop: Any, redis_client: Any, redis_namespace: str, engine: Any
) -> None:
    relay = Relay(engine, redis_client, StreamKeys.for_namespace(redis_namespace))
    first = add_dead_letter(db.session, demo_shop, error="no such reward")
    second = add_dead_letter(db.session, demo_shop, event_type="refund_created", error="timeout")
    page = admin.get("/admin/operations/").get_data(as_text=True)
    assert "ValueError: no such reward" in page and "refund_created" in page
    detail = admin.get(f"/admin/operations/dead-letters/{first.id}").get_data(as_text=True)
    assert "Traceback (most recent call last)" in detail and str(first.event_id) in detail

    response = admin.post("/admin/operations/dead-letters/replay", {"id": str(first.id)})
    assert response.status_code == 200
    assert "1 event queued again: the relay streams it next" in response.headers["HX-Trigger"]
    db.session.expire_all()
    assert db.session.get(DeadLetter, first.id).replayed_at is not None
    assert db.session.get(DeadLetter, second.id).replayed_at is None
    event = db.session.execute(select(EventQueue).where(EventQueue.event_id == first.event_id)).scalar_one()
    assert (event.status, event.attempts) == ("pending", 0)
    assert stream_entries(redis_client, StreamKeys.for_namespace(redis_namespace)) == []  # queued, not streamed yet
    assert relay.turn() == 1  # the relay streams the pending row
    entries = stream_entries(redis_client, StreamKeys.for_namespace(redis_namespace))
    assert [fields["event_id"] for _, fields in entries] == [str(first.event_id)]
    audit = db.session.execute(select(AuditLog).where(AuditLog.action == "dead_letters_replayed")).scalar_one()
    assert audit.details["after"] == {"dead_letters": [first.id]} and audit.actor == "staff:1"

    again = admin.post("/admin/operations/dead-letters/replay", {"id": str(first.id)})
    assert again.status_code == 404 and "replayed already" in again.get_json()["message"]
    replays = select(func.count()).select_from(AuditLog).where(AuditLog.action == "dead_letters_replayed")
    assert db.session.execute(replays).scalar_one() == 1  # the refusal audits nothing
    assert relay.turn() == 0  # and queues nothing again
    everything = admin.post("/admin/operations/dead-letters/replay", {"all": "1"})
    assert "1 event queued again: the relay streams it next" in everything.headers["HX-Trigger"]
    assert relay.turn() == 1
    assert len(stream_entries(redis_client, StreamKeys.for_namespace(redis_namespace))) == 2


def test_another_shops_dead_letters_are_not_shown_or_replayed(
    admin: Admin, demo_shop: Any, other_admin_shop: Any, redis_client: Any, redis_namespace: str
) -> None:
    theirs = add_dead_letter(db.session, other_admin_shop, error="their secret error")
    assert "their secret error" not in admin.get("/admin/operations/").get_data(as_text=True)
    assert admin.get(f"/admin/operations/dead-letters/{theirs.id}").status_code == 404
    assert admin.post("/admin/operations/dead-letters/replay", {"id": str(theirs.id)}).status_code == 404
    admin.post("/admin/operations/dead-letters/replay", {"all": "1"})
    db.session.expire_all()
    assert db.session.get(DeadLetter, theirs.id).replayed_at is None
    assert stream_entries(redis_client, StreamKeys.for_namespace(redis_namespace)) == []
    assert "their secret" not in admin.get("/admin/operations/events").get_data(as_text=True)


def test_bad_operations_input_is_a_clear_400(admin: Admin) -> None:
    for response, message in [
        (admin.post("/admin/operations/dead-letters/replay", {"id": "x"}), "id must be a dead letter's number"),
        # A superscript two: a digit to str.isdigit(), not to int().
        (admin.post("/admin/operations/dead-letters/replay", {"id": "\u00b2"}), "id must be a dead letter's number"),
        (admin.get("/admin/operations/audit?after=\u00b2"), "after must be a whole number"),
        # Beyond a bigint (a 500 from the query), and beyond the 4,300 digits int() reads (a 500 from int()).
        (admin.post("/admin/operations/dead-letters/replay", {"id": "9" * 30}), "id must be a dead letter's number"),
        (admin.post("/admin/operations/dead-letters/replay", {"id": "9" * 5000}), "id must be a dead letter's number"),
        (admin.get("/admin/operations/events?status=weird"), "status must be one of pending, processed, dead"),
        (admin.get("/admin/operations/audit?after=-1"), "after must be a whole number"),
    ]:
        assert response.status_code == 400 and message in response.get_json()["message"]


def test_events_filter_by_status_and_the_audit_log_filters_by_actor(admin: Admin, demo_shop: Any) -> None:
    add_dead_letter(db.session, demo_shop, event_type="customer_updated")
    dead = admin.get("/admin/operations/events?status=dead").get_data(as_text=True)
    assert "customer_updated" in dead
    assert "customer_updated" not in admin.get("/admin/operations/events?status=processed").get_data(as_text=True)
    db.session.add(AuditLog(shop_id=demo_shop.id, actor="system", action="tier_changed", details={}))
    db.session.add(AuditLog(shop_id=demo_shop.id, actor="staff:9", action="reward_created", details={}))
    db.session.commit()
    mine = admin.get("/admin/operations/audit?actor=staff:9").get_data(as_text=True)
    assert "reward created" in mine and "tier changed" not in mine


def test_a_shopify_data_request_is_listed_with_its_export_for_this_shop_only(
    admin: Admin, demo_shop: Any, other_admin_shop: Any
) -> None:
    import json
    import uuid
    from datetime import datetime, timezone

    from app.loyalty.base.inbound import InboundEvent
    from app.loyalty.processing import process_event
    from tests.admin.conftest import add_member

    add_member(db.session, demo_shop, "7001", email="ada@example.com", name="Ada Lovelace", points=120)
    add_member(db.session, other_admin_shop, "9001", email="eve@other.example", name="Eve Other", points=5)
    now = datetime.now(timezone.utc)
    for shop, customer, request_id in ((demo_shop, "7001", 9911), (other_admin_shop, "9001", 9922)):
        body = {"shop_domain": shop.domain, "customer": {"id": int(customer)}, "data_request": {"id": request_id}}
        event = InboundEvent(uuid.uuid4(), "customer_data_requested", shop.domain, customer, now, body)
        process_event(db.session, event, consumer_group="loyalty", now=now)
    db.session.commit()

    page = admin.get("/admin/operations/data-requests").get_data(as_text=True)
    assert "9911" in page and "9922" not in page
    [ours] = [part.split('"')[0] for part in page.split("/admin/operations/data-requests/")[1:]]
    export = admin.get(f"/admin/operations/data-requests/{ours}")
    assert export.status_code == 200 and "attachment" in export.headers["Content-Disposition"]
    assert "ada@example.com" in json.dumps(export.get_json())
    from app.models import Outbox

    theirs = db.session.execute(
        select(Outbox.id).where(Outbox.shop_id == other_admin_shop.id, Outbox.kind == "gdpr.data_request")
    ).scalar_one()
    assert admin.get(f"/admin/operations/data-requests/{theirs}.json").status_code == 404
