"""Schemathesis fuzzes every root field of the storefront schema (queries and the mutation) over POST /graphql with a
shopper's token and through the app proxy: never a 5xx, never a traceback in the answer, each answer in bounded time.
"""

from __future__ import annotations

import time

import pytest
import schemathesis
from graphql import introspection_from_schema
from hypothesis import HealthCheck, given, settings

from app.graphql.schema import build_schema
from tests.graphql.storefront_helpers import SHOPPER_A, seed_programme

SCHEMA = schemathesis.graphql.from_dict({"data": introspection_from_schema(build_schema())})
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
SECONDS_PER_ANSWER = 2.0


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.label)
def test_fuzzed_documents_never_fail_the_server(app, client, shopify, db_session, shop, operation) -> None:  # type: ignore[no-untyped-def]
    seed_programme(db_session, shop)
    token = shopify.session_token(customer_id=SHOPPER_A)

    @settings(
        max_examples=40,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(case=operation.as_strategy())
    def fuzz(case) -> None:  # type: ignore[no-untyped-def]
        for door in ("graphql", "proxy"):
            started = time.monotonic()
            if door == "graphql":
                response = client.post(
                    "/graphql", json={"query": case.body}, headers={"Authorization": f"Bearer {token}"}
                )
            else:
                query = shopify.proxy_query(customer_id=SHOPPER_A)
                response = client.post(f"/proxy/graphql?{query}", json={"query": case.body})
            elapsed = time.monotonic() - started
            assert response.status_code < 500, (case.body, response.get_data(as_text=True))
            assert "Traceback" not in response.get_data(as_text=True)
            assert elapsed < SECONDS_PER_ANSWER, (case.body, elapsed)

    fuzz()
