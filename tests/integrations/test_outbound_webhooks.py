"""Signed outbound webhooks against a real receiver on 127.0.0.1 that fails, then recovers: each event delivered
once by delivery id, signatures valid, back-off observed, auto-disable after persistent failure, SSRF refused."""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from app.integrations import endpoints as service
from app.integrations import outbound_webhooks as outbound
from app.integrations import signing
from app.models import AuditLog, WebhookDelivery, WebhookEndpoint
from app.shopify.token_cipher import TokenCipher
from tests.integrations.receiver import Receiver, serve

T0 = datetime(2026, 3, 2, 15, 30, tzinfo=timezone.utc)
LOCAL = outbound.DeliveryPolicy(allow_private=True, rng=random.Random(7))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from serve()


@pytest.fixture
def cipher() -> TokenCipher:
    return TokenCipher((Fernet.generate_key().decode(),))


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with outbound.build_client() as client:
        yield client


@pytest.fixture
def endpoint(db_session, cipher, shop, receiver):  # type: ignore[no-untyped-def]
    created = service.create_endpoint(
        db_session,
        cipher,
        shop_id=shop.id,
        url=receiver.url,
        topics=["points.earned", "tier.changed"],
        allow_private=True,
    )
    db_session.commit()
    return created


def earned(db_session, shop, key: str = "order:1:rule:7", topic: str = "points.earned") -> list[WebhookDelivery]:  # type: ignore[no-untyped-def]
    with db_session.begin():
        return outbound.fan_out(
            db_session,
            shop_id=shop.id,
            topic=topic,
            data={"customer_id": "115310627314723954", "points": 500},
            dedupe_key=key,
            occurred_at=T0,
            event_id=uuid.uuid4(),
        )


def run_due(session_factory, cipher, http, now: datetime, policy=LOCAL) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return outbound.deliver_due(session_factory, cipher=cipher, client=http, now=now, policy=policy)


def delivery_row(session_factory) -> WebhookDelivery:  # type: ignore[no-untyped-def]
    with session_factory() as session:
        return session.execute(select(WebhookDelivery)).scalar_one()


def test_a_delivery_is_signed_over_timestamp_and_raw_body(
    db_session, session_factory, cipher, http, shop, endpoint, receiver
) -> None:  # type: ignore[no-untyped-def]
    (delivery,) = earned(db_session, shop)
    assert run_due(session_factory, cipher, http, T0) == {"delivered": 1, "retry": 0, "failed": 0}

    (request,) = receiver.requests
    headers = request.headers
    assert request.path == "/hooks/loyalty"
    assert signing.verify_signature(endpoint.secret, headers, request.body, now=int(T0.timestamp()))
    assert headers[signing.DELIVERY_HEADER] == str(delivery.delivery_id)
    assert headers[signing.TOPIC_HEADER] == "points.earned" and headers[signing.SHOP_HEADER] == shop.domain
    body = json.loads(request.body)
    assert body == {
        "version": 1,
        "topic": "points.earned",
        "shop_domain": shop.domain,
        "occurred_at": T0.isoformat(),
        "delivery_id": str(delivery.delivery_id),
        "data": {"customer_id": "115310627314723954", "points": 500},
    }
    # A body changed in transit, another secret, or a replay ten minutes later all fail the receiver's check.
    assert not signing.verify_signature(endpoint.secret, headers, request.body + b" ", now=int(T0.timestamp()))
    assert not signing.verify_signature("lwhsec_other", headers, request.body, now=int(T0.timestamp()))
    assert not signing.verify_signature(endpoint.secret, headers, request.body, now=int(T0.timestamp()) + 600)
    stored = delivery_row(session_factory)
    assert (stored.status, stored.attempts, stored.response_status) == ("delivered", 1, 200)
    assert stored.response_ms is not None and stored.response_ms >= 0


def test_each_event_is_delivered_once_even_when_fanned_out_twice(
    db_session, session_factory, cipher, http, shop, endpoint, receiver
) -> None:  # type: ignore[no-untyped-def]
    assert len(earned(db_session, shop)) == 1
    assert earned(db_session, shop) == []  # the outbox dispatcher ran the same row again
    run_due(session_factory, cipher, http, T0)
    run_due(session_factory, cipher, http, T0 + timedelta(days=2))
    assert len(receiver.requests) == 1


def test_a_topic_the_endpoint_did_not_choose_is_not_sent(
    db_session, session_factory, cipher, http, shop, endpoint, receiver
) -> None:  # type: ignore[no-untyped-def]
    assert earned(db_session, shop, topic="points.redeemed") == []
    run_due(session_factory, cipher, http, T0)
    assert receiver.requests == []


def test_a_failing_receiver_is_retried_with_back_off_until_it_recovers(
    db_session, session_factory, cipher, http, shop, endpoint, receiver
) -> None:  # type: ignore[no-untyped-def]
    receiver.script = [503, 500]
    earned(db_session, shop)

    assert run_due(session_factory, cipher, http, T0)["retry"] == 1
    first_wait = delivery_row(session_factory).next_attempt_at - T0
    assert timedelta(seconds=48) <= first_wait <= timedelta(seconds=72)  # 60 s ± 20 % jitter
    assert run_due(session_factory, cipher, http, T0 + first_wait - timedelta(seconds=1)) == {
        "delivered": 0,
        "retry": 0,
        "failed": 0,
    }  # not due yet
    second = T0 + first_wait
    assert run_due(session_factory, cipher, http, second)["retry"] == 1
    second_wait = delivery_row(session_factory).next_attempt_at - second
    assert timedelta(seconds=240) <= second_wait <= timedelta(seconds=360)  # 300 s ± 20 %
    assert run_due(session_factory, cipher, http, second + second_wait)["delivered"] == 1

    assert [r.headers[signing.DELIVERY_HEADER] for r in receiver.requests] == [
        str(delivery_row(session_factory).delivery_id)
    ] * 3  # one delivery id across the attempts: the receiver dedupes on it
    stored = delivery_row(session_factory)
    assert (stored.status, stored.attempts, stored.last_error) == ("delivered", 3, None)


def test_persistent_failure_gives_up_after_a_day_and_disables_the_endpoint(
    db_session, session_factory, cipher, http, shop, endpoint, receiver
) -> None:  # type: ignore[no-untyped-def]
    receiver.script = [500] * 1000
    now = T0
    for number in range(outbound.AUTO_DISABLE_AFTER):
        earned(db_session, shop, key=f"order:{number}")
        for _ in range(outbound.MAX_ATTEMPTS):
            run_due(session_factory, cipher, http, now)
            now += timedelta(hours=9)  # past the longest wait
    with session_factory() as session:
        statuses = session.execute(select(WebhookDelivery.status, WebhookDelivery.attempts)).all()
        assert statuses == [("failed", outbound.MAX_ATTEMPTS)] * outbound.AUTO_DISABLE_AFTER
        stored = session.get(WebhookEndpoint, endpoint.endpoint.id)
        assert stored.active is False and stored.disabled_at is not None
        assert "5 deliveries in a row failed" in stored.disabled_reason and "HTTP 500" in stored.disabled_reason
        (notice,) = session.execute(select(AuditLog).where(AuditLog.action == "webhook_endpoint.disabled")).scalars()
        assert (notice.shop_id, notice.subject_id) == (shop.id, str(stored.id))
        assert notice.details["reason"] == stored.disabled_reason
    assert sum(outbound.RETRY_SCHEDULE_S) >= 23 * 3600  # the retries span about a day
    assert earned(db_session, shop, key="order:after") == []  # a disabled endpoint gets nothing new

    with session_factory.begin() as session:  # the merchant turns it on again
        service.update_endpoint(session, shop_id=shop.id, endpoint_id=endpoint.endpoint.id, active=True)
    with session_factory() as session:
        stored = session.get(WebhookEndpoint, endpoint.endpoint.id)
        assert (stored.active, stored.disabled_reason, stored.consecutive_failures) == (True, None, 0)


def test_a_manual_resend_sends_the_same_delivery_again(
    db_session, session_factory, cipher, http, shop, endpoint, receiver
) -> None:  # type: ignore[no-untyped-def]
    (delivery,) = earned(db_session, shop)
    run_due(session_factory, cipher, http, T0)
    with session_factory.begin() as session:
        service.resend(session, shop_id=shop.id, delivery_id=delivery.delivery_id, now=T0 + timedelta(hours=1))
    run_due(session_factory, cipher, http, T0 + timedelta(hours=1))
    assert [r.headers[signing.DELIVERY_HEADER] for r in receiver.requests] == [str(delivery.delivery_id)] * 2


def test_the_answer_is_read_only_up_to_the_limit(
    db_session, session_factory, cipher, http, shop, endpoint, receiver
) -> None:  # type: ignore[no-untyped-def]
    receiver.response_body = b"x" * (5 * 1024 * 1024)
    earned(db_session, shop)
    assert run_due(session_factory, cipher, http, T0)["delivered"] == 1


@pytest.mark.parametrize("phase", ["headers", "body"])
def test_a_receiver_that_answers_a_byte_at_a_time_is_cut_off_at_the_attempts_deadline(
    db_session, session_factory, cipher, http, shop, endpoint, receiver, phase
) -> None:  # type: ignore[no-untyped-def]
    """Each byte comes well inside the 10 s read timeout, so only a deadline for the whole attempt bounds it: one
    merchant's receiver must not hold the worker that sends every shop's webhooks (for hours, at 64 KiB)."""
    receiver.trickle = phase
    earned(db_session, shop)
    policy = outbound.DeliveryPolicy(allow_private=True, rng=random.Random(7), deadline_s=1.0)
    started = time.monotonic()
    counts = run_due(session_factory, cipher, http, T0, policy=policy)
    assert time.monotonic() - started < 5
    row = delivery_row(session_factory)
    if phase == "headers":  # no answer within the deadline: a failed attempt, retried later
        assert counts == {"delivered": 0, "retry": 1, "failed": 0}
        assert row.status == "pending" and row.response_status is None
        assert row.last_error.startswith("ReadTimeout") and "1 s" in row.last_error
    else:  # the 200 came in time: delivered, however slowly the rest of the answer would have come
        assert counts == {"delivered": 1, "retry": 0, "failed": 0}
        assert (row.status, row.response_status) == ("delivered", 200)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://127.0.0.1/hook", "loopback"),
        ("https://localhost:8443/hook", "loopback"),
        ("https://10.0.0.5/hook", "private network"),
        ("https://192.168.1.1/hook", "private network"),
        ("https://169.254.169.254/latest/meta-data", "link-local"),
        ("https://[::1]/hook", "loopback"),
        ("https://[::ffff:127.0.0.1]/hook", "loopback"),
        ("https://100.64.0.1/hook", "not a public address"),
        ("https://0.0.0.0/hook", "not a public address"),
        ("http://93.184.215.14/hook", "must start with https://"),
        ("ftp://example.com/x", "must start with https://"),
        ("https://user:pw@93.184.215.14/x", "user name or password"),
        ("https://no-such-host.invalid/x", "cannot resolve"),
        # 6to4 addresses that carry 127.0.0.1 and the metadata address (Python counts 2002::/16 as global).
        ("https://[2002:7f00:1::]/h", "loopback"),
        ("https://[2002:a9fe:a9fe::]/h", "link-local"),
        # IPv6 site-local (fec0::/10), deprecated but routed where still used (Python counts it as global).
        ("https://[fec0::1]/h", "site-local"),
        ("https://[fec0:0:0:ffff::1]/h", "site-local"),
        # Each was a 500 (urlsplit's ValueError), or stored: port 0 (delivered to 443), a line break (as typed).
        ("https://[::1/h", "not well formed"),
        ("https://[evil.com]/h", "not well formed"),
        ("https://93.184.215.14:0/h", "port is not a number from 1 to 65535"),
        ("https://93.184.215.14/h\r\nX-Injected: 1", "control characters"),
    ],
)
def test_private_and_malformed_targets_are_refused(db_session, cipher, shop, url, reason) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(service.EndpointError, match=reason):
        service.create_endpoint(db_session, cipher, shop_id=shop.id, url=url, topics=["points.earned"])
    assert db_session.execute(select(func.count()).select_from(WebhookEndpoint)).scalar_one() == 0


def test_a_description_longer_than_a_note_is_refused(db_session, cipher, shop) -> None:  # type: ignore[no-untyped-def]
    url = "https://93.184.215.14/hook"
    with pytest.raises(service.EndpointError, match="the description is longer than 500 characters"):
        service.create_endpoint(
            db_session, cipher, shop_id=shop.id, url=url, topics=["points.earned"], description="d" * 501
        )
    assert db_session.execute(select(func.count()).select_from(WebhookEndpoint)).scalar_one() == 0


def test_a_target_that_turned_private_is_refused_at_delivery(
    db_session, session_factory, cipher, http, shop, endpoint, receiver
) -> None:  # type: ignore[no-untyped-def]
    """Checked again on every attempt (a DNS answer can change after the endpoint was saved)."""
    earned(db_session, shop)
    production_like = outbound.DeliveryPolicy(allow_private=False)
    assert run_due(session_factory, cipher, http, T0, policy=production_like)["failed"] == 1
    assert receiver.requests == []
    assert "refused" in delivery_row(session_factory).last_error


@pytest.mark.parametrize("topics", [[], ["points.stolen"]])
def test_unknown_or_no_topics_are_refused(db_session, cipher, shop, receiver, topics) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(service.EndpointError, match="topic"):
        service.create_endpoint(
            db_session, cipher, shop_id=shop.id, url=receiver.url, topics=topics, allow_private=True
        )


def test_another_shop_cannot_see_or_touch_the_endpoint(db_session, cipher, shop, other_shop, endpoint) -> None:  # type: ignore[no-untyped-def]
    endpoint_id = endpoint.endpoint.id
    assert service.list_endpoints(db_session, shop_id=other_shop.id) == []
    for call in (
        lambda: service.get_endpoint(db_session, shop_id=other_shop.id, endpoint_id=endpoint_id),
        lambda: service.update_endpoint(db_session, shop_id=other_shop.id, endpoint_id=endpoint_id, active=False),
        lambda: service.delete_endpoint(db_session, shop_id=other_shop.id, endpoint_id=endpoint_id),
        lambda: service.rotate_secret(db_session, cipher, shop_id=other_shop.id, endpoint_id=endpoint_id),
    ):
        with pytest.raises(service.EndpointNotFound):
            call()
    with pytest.raises(service.EndpointNotFound):
        service.resend(db_session, shop_id=other_shop.id, delivery_id=uuid.uuid4(), now=T0)
    assert service.get_endpoint(db_session, shop_id=shop.id, endpoint_id=endpoint_id).active is True


def test_the_secret_is_stored_encrypted_and_never_shown_again(db_session, cipher, shop, endpoint) -> None:  # type: ignore[no-untyped-def]
    stored = db_session.get(WebhookEndpoint, endpoint.endpoint.id)
    assert endpoint.secret.startswith("lwhsec_") and endpoint.secret not in stored.secret
    assert cipher.decrypt(stored.secret) == endpoint.secret
    assert "secret" not in json.dumps(service.endpoint_view(stored))
