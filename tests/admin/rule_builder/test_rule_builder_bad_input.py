"""Bad input to the builder's endpoints that used to be a 500: each is now a 400 or 422 that says what is wrong, and
writes nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from app.loyalty.rulebook import FIRST_ORDER_BONUS
from app.models import AuditLog, PointsTransaction, Rule, RuleBacktest, RuleVersion
from tests.admin.conftest import add_member
from tests.admin.rule_builder.conftest import SHOP
from tests.admin.rule_builder.test_rule_builder_views import as_json_tab, save, text_of

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


def nested_groups(levels: int) -> str:
    """A rule whose conditions are `levels` groups deep, as JSON text (too deep for json.dumps to write)."""
    leaf = '{"type": "order_total", "value": 1}'
    groups = '{"operator": "and", "conditions": [' * levels + leaf + "]}" * levels
    return '{"name": "Deep", "conditions": ' + groups + ', "actions": [{"type": "points", "amount": 1}]}'


TOO_DEEP = "nested too deeply (more than 64 levels of objects and lists)"
BRACKETS = "[" * 100_000 + "]" * 100_000
# Each of these (a rule's JSON) reaches the builder's own walks or json.loads' recursion: refused before either.
TOO_DEEP_RULES = [
    pytest.param(BRACKETS, TOO_DEEP, id="100,000 nested lists"),
    pytest.param(nested_groups(900), TOO_DEEP, id="900 nested groups"),
    pytest.param(nested_groups(40), TOO_DEEP, id="40 nested groups"),
    pytest.param(
        '{"name": "Long", "priority": ' + "9" * 5000 + ', "actions": [{"type": "points", "amount": 1}]}',
        "unreadable: a number has more than 4,300 digits",
        id="a number of 5,000 digits",
    ),
]


class TestUnreadableDrafts:
    @pytest.mark.parametrize(("text", "message"), TOO_DEEP_RULES)
    @pytest.mark.parametrize(
        ("path", "status"),
        [("/admin/rules/", 422), ("/admin/rules/new/editor", 422), ("/admin/rules/new/try", 422)],
    )
    def test_a_new_rule_that_cannot_be_read_is_refused_with_why(
        self, builder, db_session, text, message, path, status
    ) -> None:  # type: ignore[no-untyped-def]
        response = builder.post(path, {**as_json_tab(text), "try_source": "build", "try_total": "10"})
        assert response.status_code == status
        assert f"/: {message}" in text_of(response)
        assert counts(db_session) == dict.fromkeys(counts(db_session), 0)

    @pytest.mark.parametrize(("text", "message"), TOO_DEEP_RULES)
    @pytest.mark.parametrize("path", ["", "/editor", "/try", "/backtests"])
    def test_a_saved_rules_draft_that_cannot_be_read_is_refused_with_why(
        self, builder, db_session, rule, text, message, path
    ) -> None:  # type: ignore[no-untyped-def]
        before = counts(db_session)
        form = {**as_json_tab(text), "base_version": "1", "backtest_from": "2026-01-01", "backtest_to": "2026-01-31"}
        response = builder.post(f"/admin/rules/{rule.id}{path}", form)
        assert response.status_code == 422
        assert f"/: {message}" in text_of(response)
        assert counts(db_session) == before

    @pytest.mark.parametrize(("text", "message"), TOO_DEEP_RULES)
    @pytest.mark.parametrize("path", ["/admin/rules/new/validate", "/admin/rules/{id}/validate"])
    def test_live_validation_shows_why_a_draft_cannot_be_read(self, builder, rule, text, message, path) -> None:  # type: ignore[no-untyped-def]
        response = builder.post(path.format(id=rule.id), as_json_tab(text))
        assert response.status_code == 200  # live validation answers every draft with its problems
        assert f"/: {message} · 1 problem left" in text_of(response)

    def test_a_pasted_event_nested_too_deeply_is_refused(self, builder) -> None:  # type: ignore[no-untyped-def]
        form = {**as_json_tab(FIRST_ORDER_BONUS), "try_source": "paste", "try_json": BRACKETS}
        response = builder.post("/admin/rules/new/try", form)
        assert response.status_code == 422
        assert f"the pasted event is {TOO_DEEP}" in text_of(response)

    def test_a_form_field_nested_too_deeply_is_refused(self, builder, db_session) -> None:  # type: ignore[no-untyped-def]
        field = "kind:/a" + "/0" * 3000
        for path in ("/admin/rules/", "/admin/rules/new/editor"):
            response = builder.post(path, {"kind:": "{}", field: "str"})
            assert response.status_code == 422
            assert "the form could not be read: field 'kind:/a/0/0/0/" in text_of(response)
            assert "…' is nested too deeply (more than 64 levels)" in text_of(response)
        assert counts(db_session)["Rule"] == 0

    def test_a_form_number_of_5000_digits_is_kept_as_typed_and_refused(self, builder, db_session) -> None:  # type: ignore[no-untyped-def]
        fields = {
            **{"kind:": "{}", "kind:/name": "str", "/name": "Long", "kind:/priority": "int", "/priority": "9" * 5000},
            **{"kind:/actions/0/type": "str", "/actions/0/type": "points"},
            **{"kind:/actions/0/amount": "num", "/actions/0/amount": "-" + "9" * 5000},
        }
        response = builder.post("/admin/rules/", fields)
        assert response.status_code == 422
        assert counts(db_session)["Rule"] == 0
        html = response.get_data(as_text=True)
        assert 'data-slot="/priority"' in html and "must be an integer" in text_of(response)

    def test_a_rule_just_inside_the_nesting_limit_still_gets_the_validators_words(self, builder) -> None:  # type: ignore[no-untyped-def]
        response = builder.post("/admin/rules/", as_json_tab(nested_groups(20)))
        assert response.status_code == 422
        assert "groups nest too deeply (at most 16 levels)" in text_of(response)


class TestNull:
    """JSON `null` was read as 'nothing refused' and passed as a valid draft."""

    @pytest.mark.parametrize(
        ("path", "extra"),
        [
            ("/admin/rules/", {}),
            ("/admin/rules/new/try", {"try_source": "build", "try_total": "10"}),
            ("/admin/rules/new/backtests", {"backtest_from": "2026-01-01", "backtest_to": "2026-01-31"}),
            ("/admin/rules/new/editor", {}),
        ],
    )
    def test_a_null_rule_is_refused_by_the_validator(self, builder, db_session, path, extra) -> None:  # type: ignore[no-untyped-def]
        response = builder.post(path, {**as_json_tab("null"), **extra})
        assert response.status_code == 422
        assert "/: a rule must be a JSON object, not null" in text_of(response)
        assert counts(db_session) == dict.fromkeys(counts(db_session), 0)

    def test_a_null_draft_of_a_saved_rule_is_refused(self, builder, db_session, rule) -> None:  # type: ignore[no-untyped-def]
        response = builder.post(f"/admin/rules/{rule.id}", {**as_json_tab("null"), "base_version": "1"})
        assert response.status_code == 422
        assert "/: a rule must be a JSON object, not null" in text_of(response)
        assert db_session.get(Rule, rule.id).current_version == 1

    def test_a_null_pasted_event_is_refused(self, builder) -> None:  # type: ignore[no-untyped-def]
        form = {**as_json_tab(FIRST_ORDER_BONUS), "try_source": "paste", "try_json": "null"}
        response = builder.post("/admin/rules/new/try", form)
        assert response.status_code == 422
        assert "an event must be a JSON object (the event envelope, or a Shopify order)" in text_of(response)


NUL = "must not contain a NUL character (\\u0000)"
SURROGATE = "must not contain a lone surrogate (\\ud800 to \\udfff without its pair): it is not a character"


ACTIONS = '"actions": [{"type": "points", "amount": 1}]'
# Rule JSON as pasted: the escapes stay escapes until json.loads reads them.
FAULTY_TEXT = [
    pytest.param('{"name": "\\ud800", ' + ACTIONS + "}", "/name", SURROGATE, id="surrogate in the name"),
    pytest.param('{"name": "a\\u0000b", ' + ACTIONS + "}", "/name", NUL, id="NUL in the name"),
    pytest.param(
        '{"name": "Odd", "actions": [{"type": "points", "amount": 1, "reason": "\\udc00"}]}',
        "/actions/0/reason",
        SURROGATE,
        id="surrogate in a reason",
    ),
    pytest.param(
        '{"name": "Odd", "description": "\\u0000", ' + ACTIONS + "}", "/description", NUL, id="NUL in the description"
    ),
    pytest.param('{"name": "Odd", "\\ud800": 1, ' + ACTIONS + "}", "/", f"a key {SURROGATE}", id="surrogate in a key"),
]


class TestTextNoPageOrDatabaseTakes:
    @pytest.mark.parametrize(("text", "pointer", "message"), FAULTY_TEXT)
    @pytest.mark.parametrize("path", ["/admin/rules/", "/admin/rules/new/editor", "/admin/rules/new/try"])
    def test_a_new_rule_with_a_nul_or_a_lone_surrogate_is_refused_at_its_pointer(
        self, builder, db_session, text, pointer, message, path
    ) -> None:  # type: ignore[no-untyped-def]
        response = builder.post(path, {**as_json_tab(text), "try_source": "build", "try_total": "10"})
        assert response.status_code == 422
        assert f"{pointer}: {message}" in text_of(response)
        assert counts(db_session) == dict.fromkeys(counts(db_session), 0)

    @pytest.mark.parametrize(("text", "pointer", "message"), FAULTY_TEXT)
    def test_live_validation_points_at_it(self, builder, text, pointer, message) -> None:  # type: ignore[no-untyped-def]
        response = builder.post("/admin/rules/new/validate", as_json_tab(text))
        assert response.status_code == 200
        assert f"{pointer}: {message}" in text_of(response)

    def test_a_saved_rules_draft_with_a_nul_is_refused(self, builder, db_session, rule) -> None:  # type: ignore[no-untyped-def]
        draft = json.dumps({**FIRST_ORDER_BONUS, "description": "a\u0000b"})
        before = counts(db_session)
        response = builder.post(f"/admin/rules/{rule.id}", {**as_json_tab(draft), "base_version": "1"})
        assert response.status_code == 422
        assert f"/description: {NUL}" in text_of(response)
        assert counts(db_session) == before

    @pytest.mark.parametrize("edit", ["show-form", "show-json", "refresh"])
    def test_such_a_draft_stays_in_the_json_tab_as_pasted(self, builder, edit) -> None:  # type: ignore[no-untyped-def]
        text = '{"name": "Odd", "actions": [{"type": "points", "amount": 1, "reason": "\\udc00"}]}'
        response = builder.post("/admin/rules/new/editor", {**as_json_tab(text), "edit": edit})
        assert response.status_code == (422 if edit == "refresh" else 200)
        html = response.get_data(as_text=True)
        assert 'name="rule_json"' in html and "\\udc00" in html  # the escape, as typed: the page can carry it
        assert f"/actions/0/reason: {SURROGATE}" in text_of(response)


FREQUENCY = {
    "name": "Recent regulars",
    "conditions": {"operator": "and", "conditions": [{"type": "frequency", "value": 1, "within_days": 36_600}]},
    "actions": [{"type": "points", "amount": 1}],
}


# Points from the order's amount: the action whose arithmetic an amount of 1e30 took past the engine's precision.
PER_CURRENCY = {"name": "Points per unit", "actions": [{"type": "points_per_currency", "rate": 1, "basis": "total"}]}


def envelope(**changes: Any) -> str:
    """A pasted event envelope, with some of its values changed."""
    event = {"event_type": "order_created", "customer_id": "5001", "event_data": {"id": 1, "total_price": "150.00"}}
    return json.dumps({**event, **changes})


class TestTheDryRunsEvent:
    @pytest.mark.parametrize(
        ("event", "message"),
        [
            (envelope(customer_id="\u0000"), f"customer_id: {NUL}"),
            (envelope(event_data={"id": "1\u00002", "total_price": "150.00"}), f"event_data/id: {NUL}"),
            ('{"id": 1, "source_name": "\\ud800", "customer": {"id": 5001}}', f"source_name: {SURROGATE}"),
            (
                envelope(timestamp="0001-01-01T00:00:00+14:00"),
                "timestamp: '0001-01-01T00:00:00+14:00' is out of range; an event falls from 2000-01-01 to 2999-12-31",
            ),
            (
                envelope(timestamp="0050-06-01T00:00:00+00:00"),
                "timestamp: '0050-06-01T00:00:00+00:00' is out of range; an event falls from 2000-01-01 to 2999-12-31",
            ),
        ],
    )
    def test_a_pasted_event_no_shop_could_send_is_refused_with_what_is_wrong(
        self, builder, db_session, installed, event, message
    ) -> None:  # type: ignore[no-untyped-def]
        self.assert_refused(
            builder, db_session, installed, FREQUENCY, {"try_source": "paste", "try_json": event}, message
        )

    @pytest.mark.parametrize(
        ("source", "message"),
        [
            ({"try_source": "build", "try_total": "1e30"}, "total_price '1e30' is larger than 999999999999.99"),
            (
                {"try_source": "paste", "try_json": envelope(event_data={"id": 1, "total_price": "1e30"})},
                "total_price '1e30' is larger than 999999999999.99",
            ),
            (
                {"try_source": "paste", "try_json": '{"id": 1, "subtotal_price": "1e400", "customer": {"id": 5001}}'},
                "subtotal_price '1e400' is larger than 999999999999.99",
            ),
        ],
    )
    def test_an_order_amount_no_order_holds_is_refused_as_processing_refuses_it(
        self, builder, db_session, installed, source, message
    ) -> None:  # type: ignore[no-untyped-def]
        self.assert_refused(builder, db_session, installed, PER_CURRENCY, source, message)

    @staticmethod
    def assert_refused(builder, db_session, installed, rule, source, message) -> None:  # type: ignore[no-untyped-def]
        """Trying `rule` on the event `source` describes is a 422 saying `message`, and writes nothing."""
        add_member(db_session, installed[SHOP], "5001", email="ada@example.com", name="Ada Lovelace")
        before = counts(db_session)
        response = builder.post("/admin/rules/new/try", {**as_json_tab(rule), **source})
        assert response.status_code == 422
        assert message in text_of(response)
        assert counts(db_session) == before

    def test_a_recent_event_id_past_a_bigint_does_not_exist(self, builder) -> None:  # type: ignore[no-untyped-def]
        form = {**as_json_tab(FIRST_ORDER_BONUS), "try_source": "recent", "try_event": "9" * 30}
        response = builder.post("/admin/rules/new/try", form)
        assert response.status_code == 422
        assert f"event {'9' * 30} does not exist in this shop" in text_of(response)


def in_tokyo(shop: Any) -> None:
    """Move the shop to Tokyo, where 0001-01-01 begins before year 1 in UTC (through the app's session, which holds
    the shop the requests see)."""
    from app.extensions import db

    shop.timezone = "Asia/Tokyo"
    db.session.commit()


class TestDaysOutOfRange:
    @pytest.mark.parametrize(
        ("dates", "message"),
        [
            ({"backtest_from": "2026-01-01", "backtest_to": "9999-12-31"}, "backtest_to: 9999-12-31 is out of range"),
            ({"backtest_from": "0001-01-01", "backtest_to": "0001-01-31"}, "backtest_from: 0001-01-01 is out of range"),
        ],
    )
    def test_a_backtest_beyond_the_days_an_event_falls_on_queues_nothing(
        self, builder, db_session, installed, dates, message
    ) -> None:  # type: ignore[no-untyped-def]
        in_tokyo(installed[SHOP])
        response = builder.post("/admin/rules/new/backtests", {**as_json_tab(FIRST_ORDER_BONUS), **dates})
        assert response.status_code == 422
        assert f"{message}; choose a day from 2000-01-01 to 2999-12-31" in text_of(response)
        assert counts(db_session) == dict.fromkeys(counts(db_session), 0)

    @pytest.mark.parametrize(
        ("dates", "message"),
        [
            ({"retro_from": "2026-01-01", "retro_to": "9999-12-31"}, "retro_to: 9999-12-31 is out of range"),
            ({"retro_from": "0001-01-01", "retro_to": "0001-01-31"}, "retro_from: 0001-01-01 is out of range"),
        ],
    )
    def test_going_live_with_a_retroactive_run_beyond_them_changes_nothing(
        self, builder, db_session, installed, dates, message
    ) -> None:  # type: ignore[no-untyped-def]
        in_tokyo(installed[SHOP])
        paused = save(db_session, installed[SHOP], {**FIRST_ORDER_BONUS, "status": "paused"})
        before = counts(db_session)
        response = builder.post(f"/admin/rules/{paused.id}/go-live", {"base_version": "1", "retro": "1", **dates})
        assert response.status_code == 422
        assert f"{message}; choose a day from 2000-01-01 to 2999-12-31" in text_of(response)
        assert counts(db_session) == before
        assert (db_session.get(Rule, paused.id).status, db_session.get(Rule, paused.id).current_version) == (
            "paused",
            1,
        )


class TestNumbersPastTheLanguagesBounds:
    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ({"priority": 10**30}, "/priority: must be at most 2,147,483,647"),
            ({"actions": [{"type": "points", "amount": 10**30}]}, "/actions/0/amount: must be at most 1,000,000,000"),
            ({"limits": {"budget_points": 2**63}}, "/limits/budget_points: must be at most 1,000,000,000"),
        ],
    )
    def test_a_rule_past_them_is_refused_and_nothing_is_saved(self, builder, db_session, change, message) -> None:  # type: ignore[no-untyped-def]
        response = builder.post("/admin/rules/", as_json_tab({**FIRST_ORDER_BONUS, **change}))
        assert response.status_code == 422
        assert message in text_of(response)
        assert counts(db_session) == dict.fromkeys(counts(db_session), 0)

    def test_a_saved_rule_cannot_be_given_an_amount_past_them(self, builder, db_session, rule) -> None:  # type: ignore[no-untyped-def]
        huge = {**FIRST_ORDER_BONUS, "actions": [{"type": "points", "amount": 10**30}]}
        before = counts(db_session)
        response = builder.post(f"/admin/rules/{rule.id}", {**as_json_tab(huge), "base_version": "1"})
        assert response.status_code == 422
        assert "/actions/0/amount: must be at most 1,000,000,000" in text_of(response)
        assert counts(db_session) == before


class TestATypeThatIsNoName:
    """The form reads each field as its `kind:` field says (form_codec), so a crafted form can make an action's or a
    condition's `type` a list or an object; the editor looked it up in the language's vocabulary (a 500: unhashable)."""

    CRAFTED = [
        (
            {"kind:": "{}", "kind:/actions": "[]", "kind:/actions/0": "{}", "kind:/actions/0/type": "{}"},
            "/actions/0/type",
        ),
        ({"kind:": "{}", "kind:/conditions": "{}", "kind:/conditions/type": "[]"}, "/conditions"),
    ]

    @pytest.mark.parametrize(("fields", "pointer"), CRAFTED, ids=["action-type-object", "condition-type-list"])
    def test_the_editor_shows_the_problem_at_its_field(self, builder, fields, pointer) -> None:  # type: ignore[no-untyped-def]
        for path in ("/admin/rules/new/validate", "/admin/rules/new/editor"):
            response = builder.post(path, fields)
            assert response.status_code == 200
            assert f'data-slot="{pointer}"' in response.get_data(as_text=True)

    @pytest.mark.parametrize(("fields", "pointer"), CRAFTED, ids=["action-type-object", "condition-type-list"])
    def test_saving_it_is_refused_and_writes_nothing(self, builder, db_session, fields, pointer) -> None:  # type: ignore[no-untyped-def]
        response = builder.post("/admin/rules/", fields)
        assert response.status_code == 422
        assert "Fix the problems marked below before saving" in text_of(response)
        assert counts(db_session) == dict.fromkeys(counts(db_session), 0)
