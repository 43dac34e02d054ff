"""shopify.app.toml says what the app handles: one API version, the config's scopes, every subscription a handled
topic with a `# Handled by:` comment naming modules that exist; scripts/shopify-config fills in the environment."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import tomllib

import pytest

from app.config import DEFAULT_SCOPES, SHOPIFY_API_VERSION
from app.paths import PROJECT_ROOT
from app.shopify.topics import TOPIC_EVENT_TYPES, event_type_for

APP_TOML = PROJECT_ROOT / "shopify.app.toml"
COMPLIANCE_TOPICS = ["customers/data_request", "customers/redact", "shop/redact"]
# Mapped but not subscribed on purpose (docs/webhooks.md): it fires on every change of every order.
UNSUBSCRIBED = {"orders/updated"}


@pytest.fixture(scope="module")
def config() -> dict:  # type: ignore[type-arg]
    return tomllib.loads(APP_TOML.read_text())


def test_the_app_is_embedded_with_managed_install_scopes_and_an_auth_callback(config) -> None:  # type: ignore[no-untyped-def]
    assert (config["embedded"], config["access_scopes"]["scopes"]) == (True, DEFAULT_SCOPES)
    assert "use_legacy_install_flow" not in config["access_scopes"]  # managed install stays on
    assert config["auth"]["redirect_urls"] == [config["application_url"] + "/auth/callback"]
    assert config["pos"] == {"embedded": False}
    assert config["app_proxy"] == {"url": "/proxy", "prefix": "apps", "subpath": "loyalty"}


def test_one_api_version_everywhere(config) -> None:  # type: ignore[no-untyped-def]
    assert config["webhooks"]["api_version"] == SHOPIFY_API_VERSION
    versions = set(re.findall(r"\b20\d\d-(?:01|04|07|10)\b", APP_TOML.read_text()))
    assert versions == {SHOPIFY_API_VERSION}


def test_every_subscription_is_a_topic_the_app_handles_at_a_route_it_has(config, app) -> None:  # type: ignore[no-untyped-def]
    subscriptions = config["webhooks"]["subscriptions"]
    topics = [topic for subscription in subscriptions for topic in subscription.get("topics", [])]
    compliance = [topic for subscription in subscriptions for topic in subscription.get("compliance_topics", [])]
    assert compliance == COMPLIANCE_TOPICS
    assert {"app/uninstalled", "app/scopes_update"} <= set(topics)
    assert [topic for topic in topics + compliance if event_type_for(topic) is None] == []
    routes = {rule.rule for rule in app.url_map.iter_rules() if "POST" in (rule.methods or ())}
    assert {subscription["uri"] for subscription in subscriptions} <= routes


def test_every_topic_the_app_handles_is_subscribed_and_documented(config) -> None:  # type: ignore[no-untyped-def]
    subscriptions = config["webhooks"]["subscriptions"]
    subscribed = {
        topic
        for subscription in subscriptions
        for topic in subscription.get("topics", []) + subscription.get("compliance_topics", [])
    }
    assert subscribed == set(TOPIC_EVENT_TYPES) - UNSUBSCRIBED
    documented = (PROJECT_ROOT / "docs" / "webhooks.md").read_text().split("## Outbound webhooks")[0]
    assert [topic for topic in TOPIC_EVENT_TYPES if f"`{topic}`" not in documented] == []


def test_every_subscription_says_which_modules_handle_it() -> None:
    lines = APP_TOML.read_text().splitlines()
    blocks = [index for index, line in enumerate(lines) if line.strip() == "[[webhooks.subscriptions]]"]
    assert blocks
    for index in blocks:
        comment = lines[index - 1].strip()
        assert comment.startswith("# Handled by: "), f"line {index}: {comment!r}"
        modules = re.findall(r"app/[\w/]+(?:\.py|/)", comment)
        assert modules and all((PROJECT_ROOT / module).exists() for module in modules), comment


def test_the_cli_runs_this_server_and_posts_webhooks_where_it_listens(app) -> None:  # type: ignore[no-untyped-def]
    web = tomllib.loads((PROJECT_ROOT / "shopify.web.toml").read_text())
    assert web["roles"] == ["frontend", "backend"]
    assert os.access(PROJECT_ROOT / web["commands"]["dev"], os.X_OK)
    assert web["webhooks_path"] in {rule.rule for rule in app.url_map.iter_rules()}


def run_config_script(name: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PROJECT_ROOT / "scripts" / "shopify-config"), name],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
    )


@pytest.mark.parametrize(
    ("app_url", "expected_url"),
    [("https://loyalty.shop.example/", "https://loyalty.shop.example"), (None, "https://loyalty.example.com")],
    ids=["deploy", "development"],
)
def test_the_config_script_takes_the_client_id_and_url_from_the_environment(app_url, expected_url) -> None:  # type: ignore[no-untyped-def]
    name = f"pytest-{secrets.token_hex(4)}"
    generated = PROJECT_ROOT / f"shopify.app.{name}.toml"
    env = {"SHOPIFY_API_KEY": "0123abcd", **({"SHOPIFY_APP_URL": app_url} if app_url else {})}
    try:
        result = run_config_script(name, env)
        written = tomllib.loads(generated.read_text())
    finally:
        generated.unlink(missing_ok=True)
    assert result.returncode == 0, result.stderr
    assert written["client_id"] == "0123abcd"
    assert written["application_url"] == expected_url
    assert written["auth"]["redirect_urls"] == [f"{expected_url}/auth/callback"]
    assert written["webhooks"] == tomllib.loads(APP_TOML.read_text())["webhooks"]


@pytest.mark.parametrize(
    ("name", "env", "message"),
    [
        ("production", {"SHOPIFY_APP_URL": "https://x.example"}, "SHOPIFY_API_KEY"),
        ("production", {"SHOPIFY_API_KEY": "k"}, "must be the app's public https URL"),
        ("production", {"SHOPIFY_API_KEY": "k", "SHOPIFY_APP_URL": "http://x.example"}, "public https URL"),
        ("production", {"SHOPIFY_API_KEY": "k|evil", "SHOPIFY_APP_URL": "https://x.example"}, "a client id"),
        ("../escape", {"SHOPIFY_API_KEY": "k"}, "NAME must be"),
    ],
    ids=["no-key", "no-url", "not-https", "not-a-client-id", "bad-name"],
)
def test_the_config_script_refuses_what_it_cannot_use(name: str, env: dict[str, str], message: str) -> None:
    before = sorted(PROJECT_ROOT.glob("shopify.app.*.toml"))
    result = run_config_script(name, env)
    assert result.returncode != 0 and message in result.stderr
    assert sorted(PROJECT_ROOT.glob("shopify.app.*.toml")) == before
