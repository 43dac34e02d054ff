"""`flask webhooks …`: the endpoint service from the command line, with clear errors for bad input."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def private_runner(settings_overrides, clean_state):  # type: ignore[no-untyped-def]
    from app import create_app

    app = create_app({**settings_overrides, "webhooks_allow_private_targets": True})
    with app.app_context():
        yield app.test_cli_runner()
        from app.extensions import db

        db.session.remove()
        db.engine.dispose()


def test_add_shows_the_secret_once_and_list_never(private_runner, shop) -> None:  # type: ignore[no-untyped-def]
    added = private_runner.invoke(
        args=["webhooks", "add", "--shop", shop.domain, "--url", "http://127.0.0.1:9/hook", "--topic", "points.earned"]
    )
    assert added.exit_code == 0, added.output
    secret = json.loads(added.stdout)["secret"]
    assert secret.startswith("lwhsec_")
    listed = private_runner.invoke(args=["webhooks", "list", "--shop", shop.domain])
    (endpoint,) = json.loads(listed.stdout)
    assert endpoint["topics"] == ["points.earned"] and secret not in listed.output

    disabled = private_runner.invoke(args=["webhooks", "set", "--shop", shop.domain, str(endpoint["id"]), "--disable"])
    assert json.loads(disabled.stdout)["active"] is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["add", "--shop", "test-shop.myshopify.com", "--url", "https://10.0.0.1/x", "--topic", "points.earned"],
            "private network",
        ),
        (
            ["add", "--shop", "nobody.myshopify.com", "--url", "https://example.com/", "--topic", "points.earned"],
            "is not installed",
        ),
        (
            ["add", "--shop", "test-shop.myshopify.com", "--url", "https://example.com/", "--topic", "points.lost"],
            "Invalid value for '--topic'",
        ),
        (["remove", "--shop", "test-shop.myshopify.com", "999"], "no webhook endpoint 999 in this shop"),
        (
            ["resend", "--shop", "test-shop.myshopify.com", "6d1d1a8e-4c3a-4a0e-9a43-2b0f5c1f0e11"],
            "no webhook delivery",
        ),
    ],
)
def test_bad_input_is_refused_with_the_reason(runner, shop, args, message) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(args=["webhooks", *args])
    assert result.exit_code != 0 and message in result.output
