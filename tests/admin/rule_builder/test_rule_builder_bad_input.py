"""Bad input to the builder's endpoints that used to be a 500: each is now a 400 or 422 that says what is wrong, and
writes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from app.loyalty.rulebook import FIRST_ORDER_BONUS
from app.models import AuditLog, PointsTransaction, Rule, RuleBacktest, RuleVersion
from tests.admin.rule_builder.conftest import SHOP
from tests.admin.rule_builder.test_rule_builder_views import as_json_tab, save

WRITTEN = (Rule, RuleVersion, AuditLog, RuleBacktest, PointsTransaction)


def counts(db_session: Any) -> dict[str, int]:
    """How many rows each table a builder request may write holds."""
    db_session.expire_all()
    count = select(func.count())
    return {model.__name__: db_session.execute(count.select_from(model)).scalar_one() for model in WRITTEN}


@pytest.fixture
def rule(db_session: Any, installed: dict[str, Any]) -> Rule:
    """A saved rule at version 1."""
    return save(db_session, installed[SHOP], FIRST_ORDER_BONUS)


class TestWholeNumberFields:
    @pytest.mark.parametrize(
        ("path", "data", "message"),
        [
            ("/status", {"status": "paused", "base_version": "--1"}, "base_version must be a whole number, not '--1'"),
            ("/priority", {"priority": "1", "base_version": "--1"}, "base_version must be a whole number, not '--1'"),
            (
                "/priority",
                {"priority": "2147483648", "base_version": "1"},
                "priority must be a whole number from -2,147,483,648 to 2,147,483,647, not '2147483648'",
            ),
            (
                "/restore",
                {"version": "9" * 30, "base_version": "1"},
                f"version must be a whole number from -2,147,483,648 to 2,147,483,647, not '{'9' * 30}'",
            ),
            ("/restore", {"version": "1", "base_version": "--1"}, "base_version must be a whole number, not '--1'"),
            ("/go-live", {"base_version": "--1"}, "base_version must be a whole number, not '--1'"),
            ("/editor", {"kind:": "{}", "base_version": "--1"}, "base_version must be a whole number, not '--1'"),
            ("", {**as_json_tab(FIRST_ORDER_BONUS), "base_version": "--1"}, "must be a whole number, not '--1'"),
        ],
    )
    def test_a_version_or_priority_that_is_no_number_an_integer_column_holds_is_a_bad_request(
        self, builder, db_session, rule, path, data, message
    ) -> None:  # type: ignore[no-untyped-def]
        before = counts(db_session)
        response = builder.post(f"/admin/rules/{rule.id}{path}", data)
        assert response.status_code == 400
        assert message in response.get_json()["message"]
        assert counts(db_session) == before
        assert db_session.get(Rule, rule.id).current_version == 1

    @pytest.mark.parametrize(
        ("query", "message"),
        [
            ({"from": "--1", "to": "1"}, "from must be a whole number, not '--1'"),
            (
                {"from": "1", "to": "9999999999999999999999"},
                "to must be a whole number from -2,147,483,648 to 2,147,483,647, not '9999999999999999999999'",
            ),
        ],
    )
    def test_a_diff_between_versions_no_integer_column_holds_is_a_bad_request(
        self, builder, rule, query, message
    ) -> None:  # type: ignore[no-untyped-def]
        response = builder.get(f"/admin/rules/{rule.id}/diff", **query)
        assert response.status_code == 400
        assert message in response.get_json()["message"]
