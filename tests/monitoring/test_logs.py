"""Structured logs: one JSON object per line with the request id and the bound event, shop and outcome; secrets
masked; the request id echoed to the caller."""

from __future__ import annotations

import io
import json
import logging

import pytest

from app.monitoring.logs import JsonFormatter, TextFormatter, configure_logging, log_context, mask_secrets


@pytest.fixture
def json_lines():  # type: ignore[no-untyped-def]
    """Records of the `loyalty.test` logger as the production JSON handler writes them."""
    stream = io.StringIO()
    handler = configure_logging("json", stream=stream)
    formatter = handler.formatter
    handler.setFormatter(JsonFormatter())
    original = handler.stream
    handler.setStream(stream)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines() if '"logger": "loyalty.test"' in line]
    handler.setStream(original)
    handler.setFormatter(formatter)


def test_a_record_carries_the_bound_event_shop_and_outcome(json_lines) -> None:  # type: ignore[no-untyped-def]
    log = logging.getLogger("loyalty.test")
    with log_context(event_id="e-1", shop="s.myshopify.com"):
        with log_context(outcome="processed"):
            log.info("order %s credited", "1001")
        log.warning("after")
    log.info("outside")
    first, second, third = json_lines()
    assert first["message"] == "order 1001 credited" and first["level"] == "info"
    assert (first["event_id"], first["shop"], first["outcome"]) == ("e-1", "s.myshopify.com", "processed")
    assert "outcome" not in second and second["event_id"] == "e-1"
    assert "event_id" not in third


def test_requests_get_an_id_in_the_logs_and_the_response(app, client, json_lines) -> None:  # type: ignore[no-untyped-def]
    @app.get("/_log-probe")
    def probe() -> str:
        logging.getLogger("loyalty.test").info("inside the request")
        return "ok"

    response = client.get("/_log-probe", headers={"X-Request-Id": "abc12345-from-the-proxy"})
    assert response.headers["X-Request-Id"] == "abc12345-from-the-proxy"
    (line,) = json_lines()
    assert line["request_id"] == "abc12345-from-the-proxy"

    made = client.get("/_log-probe", headers={"X-Request-Id": "<script>"}).headers["X-Request-Id"]
    assert len(made) == 32 and made != "<script>"  # not an id: one is made instead of logging what was sent


@pytest.mark.parametrize(
    "secret",
    [
        "shpat_0123456789abcdef0123456789abcdef",
        "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
        "access_token=shpua_abc123",
        "https://x.test/cb?code=1&hmac=deadbeef&shop=a",
    ],
)
def test_token_shaped_strings_are_masked_in_both_formats(secret: str) -> None:
    record = logging.LogRecord("loyalty.test", logging.INFO, __file__, 1, "calling with %s", (secret,), None)
    for formatter in (JsonFormatter(), TextFormatter()):
        line = formatter.format(record)
        assert "[masked]" in line
        for piece in ("0123456789abcdef", "eyJzdWIiOiIxIn0", "shpua_abc123", "deadbeef"):
            assert piece not in line
    assert mask_secrets("order 1001 earned 500 points") == "order 1001 earned 500 points"
