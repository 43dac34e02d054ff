"""GET /docs renders the repository's docs/; GET /graphql opens the vendored GraphiQL where introspection is allowed,
and the explorer's introspection query passes the storefront's limits."""

from __future__ import annotations

import re

import pytest
from graphql import get_introspection_query, parse

from app.graphql.introspection import introspection_only
from app.paths import PROJECT_ROOT
from tests.browser_fixtures import SHOTS

# What GraphiQL 3 sends to load the schema (its options as graphiql 3.9 sets them).
EXPLORER_INTROSPECTION = get_introspection_query(
    descriptions=True,
    specified_by_url=True,
    directive_is_repeatable=True,
    schema_description=True,
    input_value_deprecation=True,
)


def test_the_docs_index_lists_every_page_and_pages_render_with_working_links(client) -> None:  # type: ignore[no-untyped-def]
    index = client.get("/docs")
    assert index.status_code == 200
    for path in (PROJECT_ROOT / "docs").glob("*.md"):
        assert f'href="/docs/{path.stem}"' in index.get_data(as_text=True)
        page = client.get(f"/docs/{path.stem}")
        assert page.status_code == 200 and "<h1" in page.get_data(as_text=True)
        for target in re.findall(r'href="/docs/([A-Za-z0-9_-]+)', page.get_data(as_text=True)):
            assert (PROJECT_ROOT / "docs" / f"{target}.md").exists(), f"{path.name} links to a missing page {target}"


@pytest.mark.parametrize("name", ["nope", "..%2FREADME", "architecture.md", "%2Fetc%2Fpasswd"])
def test_a_page_that_is_not_in_docs_is_404(client, name) -> None:  # type: ignore[no-untyped-def]
    response = client.get(f"/docs/{name}")
    assert response.status_code == 404


def test_the_explorer_is_served_from_the_app_with_a_demo_token_outside_production(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/graphql")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "https://" not in html and "//cdn" not in html  # vendored, no CDN
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
        assert client.get(asset).status_code == 200, asset
    assert "Bearer ey" in html.replace("&#34;", '"')


def test_the_explorer_is_off_where_introspection_is_off(settings_overrides, clean_state) -> None:  # type: ignore[no-untyped-def]
    from app import create_app

    production = create_app({**settings_overrides, "app_env": "production", "graphql_introspection": False})
    response = production.test_client().get("/graphql")
    assert response.status_code == 404
    assert "LOYALTY_GRAPHQL_INTROSPECTION" in response.get_json()["message"]


def graphql(client, shopify, shop, query: str):  # type: ignore[no-untyped-def]
    token = shopify.session_token(shop=shop.domain, customer_id="1001")
    return client.post("/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token}"})


def test_the_explorers_introspection_query_passes_the_storefront_limits(client, shopify, shop) -> None:  # type: ignore[no-untyped-def]
    response = graphql(client, shopify, shop, EXPLORER_INTROSPECTION)
    assert response.status_code == 200, response.get_json()
    types = {t["name"] for t in response.get_json()["data"]["__schema"]["types"]}
    assert "LoyaltyProfile" in types


def test_introspection_is_refused_where_it_is_off(settings_overrides, clean_state, shopify, shop) -> None:  # type: ignore[no-untyped-def]
    from app import create_app

    app = create_app({**settings_overrides, "graphql_introspection": False})
    response = graphql(app.test_client(), shopify, shop, EXPLORER_INTROSPECTION)
    assert response.status_code == 400
    assert "introspection" in response.get_data(as_text=True).lower()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (EXPLORER_INTROSPECTION, True),
        ('{ __type(name: "LoyaltyProfile") { name } __typename }', True),
        ("query A { ...F } fragment F on Query { __schema { queryType { name } } }", True),
        ('{ __schema { queryType { name } } loyaltyProfile(customerId: "1") { points_balance } }', False),
        ('query A { ...F } fragment F on Query { loyaltyProfile(customerId: "1") { points_balance } }', False),
        ("query A { ...F } fragment F on Query { ...F }", False),
    ],
)
def test_introspection_only_documents_are_recognised(query: str, expected: bool) -> None:
    assert introspection_only(parse(query)) is expected


@pytest.mark.browser
def test_the_explorer_loads_the_schema_in_chromium(app, shop, browser) -> None:  # type: ignore[no-untyped-def]
    """A real browser opens GET /graphql, GraphiQL starts from the vendored files, runs the introspection query
    through POST /graphql and shows the schema's documentation."""
    import threading

    from werkzeug.serving import make_server

    from app.commands.demo import DEMO_SHOP

    shop.domain = DEMO_SHOP  # the explorer's token is a demo shopper's
    from app.extensions import db

    db.session.merge(shop)
    db.session.commit()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    SHOTS.mkdir(parents=True, exist_ok=True)
    external: list[str] = []
    try:
        page = browser.new_page()
        page.on("request", lambda r: None if r.url.startswith("http://127.0.0.1") else external.append(r.url))
        page.goto(f"http://127.0.0.1:{server.server_port}/graphql")
        page.get_by_role("button", name="Show Documentation Explorer").click()
        page.get_by_text("LoyaltyProfile", exact=False).first.wait_for(timeout=15_000)
        page.screenshot(path=str(SHOTS / "graphiql.png"))
        page.close()
    finally:
        server.shutdown()
    assert external == []
