"""The builder's endpoints as its pages call them: building and saving rules, live validation, optimistic locking,
status changes, versions, dry runs, backtests on the worker; bad input answers with what is wrong, and a shop never
reaches another shop's rules."""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from html import unescape
from typing import Any

import pytest
from sqlalchemy import func, select

from app.admin.rule_builder import what_if_views
from app.loyalty import rulebook
from app.loyalty.ledger.profiles import lock_profile
from app.loyalty.rulebook import FIRST_ORDER_BONUS
from app.models import (
    AuditLog,
    EventQueue,
    Order,
    PointsTransaction,
    Rule,
    RuleBacktest,
    RuleRetroRun,
    RuleVersion,
    Shop,
)
from app.rules import parse_rule
from tests.admin.rule_builder.conftest import OTHER_SHOP, SHOP, Builder
from tests.admin.rule_builder.form_fields import form_fields
from tests.loyalty.rulebook_helpers import CANNOT_RUN, RUNS_AS_SAVED, store_old_version
from tests.worker_fixtures import run_next_task

NOW = datetime.now(timezone.utc)


def save(db_session: Any, shop: Shop, definition: dict[str, Any], actor: str = "cli:test") -> Rule:
    result = rulebook.save_rule(db_session, shop_id=shop.id, definition=definition, actor=actor, now=NOW)
    db_session.commit()
    return result.rule


def as_json_tab(definition: Any, **extra: Any) -> dict[str, Any]:
    """The editor's fields when the merchant is on the JSON tab."""
    text = definition if isinstance(definition, str) else json.dumps(definition)
    return {"source": "json", "rule_json": text, **extra}


def text_of(response: Any) -> str:
    """The response's text as a reader sees it: tags gone, spaces collapsed."""
    return text_of_html(response.get_data(as_text=True))


def text_of_html(html: str) -> str:
    """Markup's text as a reader sees it: tags gone, spaces collapsed."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def slot(html: str, pointer: str) -> str:
    """The text of the problem slot of a JSON pointer."""
    match = re.search(rf'data-slot="{re.escape(pointer)}"[^>]*>(.*?)</div>', html, re.S)
    assert match is not None, f"no slot for {pointer}"
    return unescape(re.sub(r"<[^>]+>", " ", match.group(1))).strip()


def editor_fields(html: str) -> list[tuple[str, str]]:
    """The fields of the editor form in a response (#rule-editor), as the browser submits them."""
    start = html.index('<div id="rule-editor"')
    end = html.index("</form>", start) if "</form>" in html[start:] else len(html)
    return form_fields(html[start:end])


def set_field(fields: list[tuple[str, str]], name: str, value: str) -> list[tuple[str, str]]:
    assert any(key == name for key, _ in fields), f"the form has no field {name}"
    return [(key, value if key == name else old) for key, old in fields]


def edit(
    builder: Builder, fields: list[tuple[str, str]], action: str, path: str = "/admin/rules/new/editor"
) -> list[tuple[str, str]]:
    """Click an editor button: the form with its `edit`, and the fields of the editor that comes back."""
    response = builder.post(path, [*fields, ("edit", action)])
    assert response.status_code == 200, response.get_data(as_text=True)
    return editor_fields(response.get_data(as_text=True))


class TestBuilding:
    def test_the_first_order_bonus_built_in_the_blank_form_is_saved_as_the_spec_rule(
        self, builder, db_session, installed
    ) -> None:  # type: ignore[no-untyped-def]
        page = builder.page("/admin/rules/new")
        assert page.status_code == 200
        fields = editor_fields(page.get_data(as_text=True))
        fields = set_field(fields, "/name", "First Order Bonus")
        fields = set_field(fields, "/status", "active")
        fields = edit(builder, fields, "add-condition /conditions")
        fields = set_field(fields, "/conditions/conditions/0/value", "100")
        fields = edit(builder, fields, "add-condition /conditions")
        fields = set_field(fields, "/conditions/conditions/1/type", "frequency")
        fields = edit(builder, fields, "retype /conditions/conditions/1")
        fields = set_field(fields, "/conditions/conditions/1/event_type", "order_created")
        fields = set_field(fields, "/actions/0/amount", "500")
        fields = set_field(fields, "/actions/0/reason", "First order bonus")

        created = builder.post("/admin/rules/", fields)

        assert created.status_code == 204, created.get_data(as_text=True)
        stored = db_session.execute(select(Rule).where(Rule.shop_id == installed[SHOP].id)).scalar_one()
        assert json.loads(created.headers["HX-Location"])["path"] == f"/admin/rules/{stored.id}"
        assert stored.definition == parse_rule(FIRST_ORDER_BONUS).definition
        audit = db_session.execute(select(AuditLog).where(AuditLog.action == "rule_created")).scalar_one()
        assert (audit.actor, audit.subject_id, audit.details["after"]) == ("staff:1", str(stored.id), stored.definition)

    def test_a_nested_or_inside_a_not_is_saved_reloaded_edited_and_saved_again(
        self, builder, db_session, installed
    ) -> None:  # type: ignore[no-untyped-def]
        rule = save(db_session, installed[SHOP], {**FIRST_ORDER_BONUS, "name": "Nested"})
        path = f"/admin/rules/{rule.id}"
        fields = editor_fields(builder.page(path).get_data(as_text=True))
        fields = edit(builder, fields, "add-group /conditions", f"{path}/editor")  # an `or` with one blank condition
        fields = edit(builder, fields, "wrap-not /conditions/conditions/2", f"{path}/editor")
        fields = set_field(fields, "/conditions/conditions/2/conditions/0/conditions/0/value", "20")
        fields = edit(builder, fields, "add-condition /conditions/conditions/2/conditions/0", f"{path}/editor")
        fields = set_field(fields, "/conditions/conditions/2/conditions/0/conditions/1/type", "customer_tag")
        fields = edit(builder, fields, "retype /conditions/conditions/2/conditions/0/conditions/1", f"{path}/editor")
        fields = set_field(fields, "/conditions/conditions/2/conditions/0/conditions/1/value/0", "staff")
        assert builder.post(path, fields).status_code == 200

        reloaded = editor_fields(builder.page(path).get_data(as_text=True))
        reloaded = set_field(reloaded, "/conditions/conditions/2/conditions/0/conditions/0/value", "25.5")
        assert builder.post(path, reloaded).status_code == 200

        db_session.expire_all()
        stored = db_session.get(Rule, rule.id)
        assert stored.current_version == 3
        assert stored.definition["conditions"]["conditions"][2] == {
            "operator": "not",
            "conditions": [
                {
                    "operator": "or",
                    "conditions": [
                        {"type": "order_total", "operator": ">=", "value": 25.5},
                        {"type": "customer_tag", "operator": "in", "value": ["staff"]},
                    ],
                }
            ],
        }

    def test_the_json_tab_and_the_form_show_the_same_rule(self, builder) -> None:  # type: ignore[no-untyped-def]
        fields = editor_fields(builder.page("/admin/rules/new?template=double_points_weekend").get_data(as_text=True))
        as_json = builder.post("/admin/rules/new/editor", [*fields, ("edit", "show-json")])
        text = re.search(
            r'<textarea id="rb-json" name="rule_json"[^>]*>(.*?)</textarea>', as_json.get_data(as_text=True), re.S
        )
        assert json.loads(unescape(text.group(1))) == parse_rule(rulebook.TEMPLATES["double_points_weekend"]).definition
        pasted = {**FIRST_ORDER_BONUS, "status": "draft"}
        back = builder.post("/admin/rules/new/editor", {**as_json_tab(pasted), "edit": "show-form"})
        assert ("/conditions/conditions/1/event_type", "order_created") in editor_fields(back.get_data(as_text=True))


class TestValidation:
    def test_live_validation_puts_each_problem_next_to_its_field_and_counts_them(self, builder) -> None:  # type: ignore[no-untyped-def]
        fields = editor_fields(builder.page("/admin/rules/new?template=spend_threshold").get_data(as_text=True))
        fields = set_field(fields, "/conditions/conditions/0/value", "lots")
        fields = set_field(fields, "/actions/0/amount", "1.5")

        response = builder.post("/admin/rules/new/validate", fields)

        html = response.get_data(as_text=True)
        assert response.status_code == 200
        assert slot(html, "/conditions/conditions/0/value") == "must be a number"
        assert slot(html, "/actions/0/amount") == "must be an integer"
        assert slot(html, "/name") == ""  # a slot without a problem is cleared
        assert re.search(r'id="rb-count" hx-swap-oob="innerHTML"> · 2 problems left', html)

    def test_a_valid_draft_gets_its_plain_language_summary(self, builder) -> None:  # type: ignore[no-untyped-def]
        fields = editor_fields(builder.page("/admin/rules/new?template=first_order_bonus").get_data(as_text=True))
        html = builder.post("/admin/rules/new/validate", fields).get_data(as_text=True)
        assert (
            "(Draft) Customers earn 500 points (First order bonus) when an order is placed and the order total is at "
            "least $100 and it is the customer&#39;s first order."
        ) in html

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ('{"name": "x", ', "not valid JSON: Expecting property name enclosed in double quotes at line 1 column 15"),
            ("[1, 2]", "/: a rule must be a JSON object, not list"),
            ('{"name": "x", "actions": [{"type": "points", "amount": -1}]}', "/actions/0/amount: must be at least 1"),
        ],
    )
    def test_json_pasted_into_the_json_tab_that_is_not_a_rule_is_refused_with_where(
        self, builder, db_session, text: str, message: str
    ) -> None:  # type: ignore[no-untyped-def]
        response = builder.post("/admin/rules/", as_json_tab(text))
        assert response.status_code == 422
        assert message in text_of(response)
        assert db_session.execute(select(func.count()).select_from(Rule)).scalar_one() == 0

    def test_a_new_rule_may_not_take_a_name_the_shop_uses(self, builder, db_session, installed) -> None:  # type: ignore[no-untyped-def]
        save(db_session, installed[SHOP], FIRST_ORDER_BONUS)
        response = builder.post("/admin/rules/", as_json_tab(FIRST_ORDER_BONUS))
        assert response.status_code == 422
        assert "/name: this shop already has a rule named 'First Order Bonus'" in text_of(response)

    def test_another_shop_may_use_the_same_name(self, builder, other_builder, db_session, installed) -> None:  # type: ignore[no-untyped-def]
        save(db_session, installed[OTHER_SHOP], FIRST_ORDER_BONUS)
        assert builder.post("/admin/rules/", as_json_tab(FIRST_ORDER_BONUS)).status_code == 204

    @pytest.mark.parametrize(
        ("fields", "status", "message"),
        [
            ({"source": "xml"}, 422, "unknown editor source 'xml'"),
            ({"kind:": "{}", "kind:name": "str"}, 422, "field 'kind:name' does not name a JSON pointer"),
            ({"kind:": "{}", "edit": "explode /x"}, 400, "unknown edit 'explode'"),
        ],
    )
    def test_a_malformed_editor_request_says_what_is_wrong(self, builder, fields, status, message) -> None:  # type: ignore[no-untyped-def]
        response = builder.post("/admin/rules/new/editor", fields)
        assert response.status_code == status
        assert message in text_of(response)


class TestSaving:
    def test_a_save_after_someone_else_saved_is_refused_and_the_draft_is_kept(
        self, builder, db_session, installed
    ) -> None:  # type: ignore[no-untyped-def]
        rule = save(db_session, installed[SHOP], FIRST_ORDER_BONUS)
        fields = editor_fields(builder.page(f"/admin/rules/{rule.id}").get_data(as_text=True))
        save(db_session, installed[SHOP], {**FIRST_ORDER_BONUS, "priority": 5}, actor="staff:someone-else")
        mine = set_field(fields, "/actions/0/amount", "750")

        response = builder.post(f"/admin/rules/{rule.id}", mine)

        assert response.status_code == 409
        html = response.get_data(as_text=True)
        assert "Not saved: staff:someone-else saved version 2" in unescape(html)
        kept = editor_fields(html)
        assert ("/actions/0/amount", "750") in kept  # nothing the merchant typed is lost
        assert ("base_version", "1") in kept  # and it is not silently rebased
        db_session.expire_all()
        assert db_session.get(Rule, rule.id).definition["priority"] == 5
        assert db_session.get(Rule, rule.id).current_version == 2

    def test_a_saved_rule_keeps_its_name(self, builder, db_session, installed) -> None:  # type: ignore[no-untyped-def]
        rule = save(db_session, installed[SHOP], FIRST_ORDER_BONUS)
        response = builder.post(
            f"/admin/rules/{rule.id}", as_json_tab({**FIRST_ORDER_BONUS, "name": "Renamed"}, base_version="1")
        )
        assert response.status_code == 422
        assert "a saved rule keeps its name ('First Order Bonus')" in text_of(response)

    @pytest.mark.parametrize("base_version", ["", "one", "1.5", "\u00b2"])
    def test_a_save_without_a_whole_base_version_is_a_bad_request(
        self, builder, db_session, installed, base_version
    ) -> None:  # type: ignore[no-untyped-def]
        rule = save(db_session, installed[SHOP], FIRST_ORDER_BONUS)
        response = builder.post(f"/admin/rules/{rule.id}", as_json_tab(FIRST_ORDER_BONUS, base_version=base_version))
        assert response.status_code == 400
        assert f"base_version must be a whole number, not {base_version!r}" in response.get_json()["message"]


class TestListAndStatus:
    def test_the_list_shows_this_shops_rules_by_priority_and_never_another_shops(
        self, builder, db_session, installed
    ) -> None:  # type: ignore[no-untyped-def]
        save(db_session, installed[SHOP], {**FIRST_ORDER_BONUS, "priority": 1})
        save(db_session, installed[SHOP], {**rulebook.TEMPLATES["spend_threshold"], "priority": 9})
        save(db_session, installed[OTHER_SHOP], {**FIRST_ORDER_BONUS, "name": "Theirs"})
        html = builder.page("/admin/rules/").get_data(as_text=True)
        names = re.findall(r'<tr data-rule="([^"]+)"', html)
        assert names == ["Spend over 200", "First Order Bonus"]

    def test_pause_activate_archive_priority_and_duplicate_each_make_what_they_say(
        self, builder, db_session, installed
    ) -> None:  # type: ignore[no-untyped-def]
        rule = save(db_session, installed[SHOP], FIRST_ORDER_BONUS)
        assert (
            builder.post(f"/admin/rules/{rule.id}/status", {"status": "paused", "base_version": "1"}).status_code == 200
        )
        assert (
            builder.post(f"/admin/rules/{rule.id}/priority", {"priority": "7", "base_version": "2"}).status_code == 200
        )
        copied = builder.post(f"/admin/rules/{rule.id}/duplicate")
        assert copied.status_code == 200 and 'data-rule="First Order Bonus (copy)"' in copied.get_data(as_text=True)
        db_session.expire_all()
        row = db_session.get(Rule, rule.id)
        assert (row.status, row.priority, row.current_version) == ("paused", 7, 3)
        copy = db_session.execute(select(Rule).where(Rule.name == "First Order Bonus (copy)")).scalar_one()
        assert (copy.status, copy.definition["conditions"]) == ("draft", row.definition["conditions"])
        actions = db_session.execute(select(AuditLog.action).order_by(AuditLog.id)).scalars().all()
        assert actions == ["rule_paused", "rule_priority_changed", "rule_duplicated"]

    @pytest.mark.parametrize(
        ("path", "data", "status", "message"),
        [
            (
                "status",
                {"status": "deleted", "base_version": "1"},
                400,
                "status must be one of: draft, active, paused, archived (not 'deleted')",
            ),
            (
                "status",
                {"status": "paused", "base_version": "9"},
                409,
                "changed since this page was loaded (now version 1)",
            ),
            ("priority", {"priority": "high", "base_version": "1"}, 400, "priority must be a whole number, not 'high'"),
        ],
    )
    def test_a_bad_status_or_priority_change_changes_nothing(
        self, builder, db_session, installed, path, data, status, message
    ) -> None:  # type: ignore[no-untyped-def]
        rule = save(db_session, installed[SHOP], FIRST_ORDER_BONUS)
        response = builder.post(f"/admin/rules/{rule.id}/{path}", data)
        assert response.status_code == status
        assert message in text_of(response)
        db_session.expire_all()
        assert db_session.get(Rule, rule.id).current_version == 1


class TestVersions:
    def test_the_diff_names_what_changed_and_a_restore_is_a_new_version(self, builder, db_session, installed) -> None:  # type: ignore[no-untyped-def]
        rule = save(db_session, installed[SHOP], FIRST_ORDER_BONUS)
        changed = {**FIRST_ORDER_BONUS, "actions": [{"type": "points", "amount": 750, "reason": "First order bonus"}]}
        save(db_session, installed[SHOP], changed, actor="staff:2")

        diff = text_of(builder.get(f"/admin/rules/{rule.id}/diff", **{"from": 1, "to": 2}))
        assert "Changed Action 1 (Give points) › amount: 500 → 750" in diff

        restored = builder.post(f"/admin/rules/{rule.id}/restore", {"version": "1", "base_version": "2"})
        assert restored.status_code == 200
        assert "Version 1 restored as version 3." in text_of(restored)
        db_session.expire_all()
        versions = (
            db_session.execute(select(RuleVersion).where(RuleVersion.rule_id == rule.id).order_by(RuleVersion.version))
            .scalars()
            .all()
        )
        assert [v.definition["actions"][0]["amount"] for v in versions] == [500, 750, 500]
        assert versions[2].created_by == "staff:1"

    def test_a_diff_or_restore_of_a_version_that_does_not_exist_says_so(self, builder, db_session, installed) -> None:  # type: ignore[no-untyped-def]
        rule = save(db_session, installed[SHOP], FIRST_ORDER_BONUS)
        assert "no rule named 'First Order Bonus' version 4" in text_of(
            builder.get(f"/admin/rules/{rule.id}/diff", **{"from": 1, "to": 4})
        )
        response = builder.post(f"/admin/rules/{rule.id}/restore", {"version": "4", "base_version": "1"})
        assert response.status_code == 404


def stored_order(
    db_session: Any, shop: Shop, *, total: str, customer: str | None, when: datetime, order_id: int
) -> EventQueue:
    order = {"id": order_id, "name": f"#{order_id}", "total_price": total, "subtotal_price": total, "currency": "USD"}
    if customer is not None:
        order["customer"] = {"id": int(customer)}
    row = EventQueue(
        event_id=uuid.uuid4(),
        shop_id=shop.id,
        event_type="order_created",
        topic="orders/create",
        customer_id=customer,
        payload=order,
        occurred_at=when,
        status="processed",
    )
    db_session.add(row)
    db_session.commit()
    return row


class TestDryRun:
    def test_a_recent_order_of_the_shop_shows_each_condition_and_the_points(
        self, builder, db_session, installed
    ) -> None:  # type: ignore[no-untyped-def]
        event = stored_order(db_session, installed[SHOP], total="150.00", customer="1001", when=NOW, order_id=1)
        response = builder.post(
            "/admin/rules/new/try",
            {**as_json_tab(FIRST_ORDER_BONUS), "try_source": "recent", "try_event": str(event.id)},
        )
        text = text_of(response)
        assert response.status_code == 200
        assert "First Order Bonus: fires" in text
        assert 'order total >= 100 — saw "150.00"' in text
        assert "frequency == 1 — saw 1" in text
        assert "Points for the customer: 500" in text
        assert db_session.execute(select(func.count()).select_from(Rule)).scalar_one() == 0  # nothing written

    def test_a_made_up_order_that_misses_shows_which_condition_failed(self, builder) -> None:  # type: ignore[no-untyped-def]
        form = {**as_json_tab(FIRST_ORDER_BONUS), "try_source": "build", "try_total": "40.00", "try_customer": "77"}
        text = text_of(builder.post("/admin/rules/new/try", form))
        assert "First Order Bonus: does not fire (conditions not met)" in text
        assert '✗ did not hold: order total >= 100 — saw "40.00"' in text

    def test_another_shops_order_cannot_be_tried(self, builder, db_session, installed) -> None:  # type: ignore[no-untyped-def]
        theirs = stored_order(db_session, installed[OTHER_SHOP], total="150.00", customer="1", when=NOW, order_id=9)
        response = builder.post("/admin/rules/new/try", {**as_json_tab(FIRST_ORDER_BONUS), "try_event": str(theirs.id)})
        assert response.status_code == 422
        assert f"event {theirs.id} does not exist in this shop" in text_of(response)

    @pytest.mark.parametrize(
        ("form", "message"),
        [
            ({"try_source": "paste", "try_json": "{oops"}, "the pasted event is not valid JSON"),
            (
                {"try_source": "paste", "try_json": '{"event_data": {}, "event_type": ""}'},
                "event_type: must be a non-empty string",
            ),
            ({"try_source": "recent", "try_event": ""}, "pick an order to try the rule on"),
            ({"try_source": "carrier-pigeon"}, "unknown event source 'carrier-pigeon'"),
        ],
    )
    def test_a_bad_event_is_refused_with_what_is_wrong(self, builder, form, message) -> None:  # type: ignore[no-untyped-def]
        response = builder.post("/admin/rules/new/try", {**as_json_tab(FIRST_ORDER_BONUS), **form})
        assert response.status_code == 422
        assert message in text_of(response)


class TestBacktest:
    def test_a_backtest_runs_on_the_worker_reports_progress_and_keeps_its_result(
        self, builder, worker, db_session, installed
    ) -> None:  # type: ignore[no-untyped-def]
        shop = installed[SHOP]
        save(db_session, shop, {"name": "Live", "actions": [{"type": "points", "amount": 10}]})
        start = datetime(2026, 1, 5, 12, tzinfo=timezone.utc)  # a Monday
        for number in range(30):
            stored_order(
                db_session,
                shop,
                total="120.00",
                customer=str(1000 + number % 10),
                when=start + timedelta(days=number % 14),
                order_id=number,
            )
        form = {**as_json_tab(FIRST_ORDER_BONUS), "backtest_from": "2026-01-01", "backtest_to": "2026-01-31"}

        queued = builder.post("/admin/rules/new/backtests", form)

        assert queued.status_code == 202
        run_id = re.search(r'id="backtest-([0-9a-f-]{36})"', queued.get_data(as_text=True)).group(1)
        assert 'hx-trigger="every 1s"' in queued.get_data(as_text=True)
        assert run_next_task(worker) == "run_backtest"
        done = builder.get(f"/admin/rules/backtests/{run_id}")
        text = text_of(done)
        assert "every 1s" not in done.get_data(as_text=True)  # finished: the fragment stops polling
        run = db_session.get(RuleBacktest, uuid.UUID(run_id))
        assert (run.status, run.events_done, run.events_total) == ("done", 30, 30)
        # 10 customers' first orders earn 500 each with the draft; all 30 orders earn 10 with the live rule. Each
        # customer's first order falls in the first week (16 orders), the other 14 orders in the second.
        assert (run.result["points"], run.result["baseline_points"]) == (5000 + 300, 300)
        assert run.result["by_week"] == [["2026-01-05", 5000 + 160, 160], ["2026-01-12", 140, 140]]
        assert len(run.result["top_customers"]) == 10 and run.result["top_customers"][0]["points"] == 530
        assert "Points with this draft 5,300" in text and "Customers most affected" in text

    def test_a_cancelled_backtest_stops_and_says_so(self, builder, worker, db_session, installed) -> None:  # type: ignore[no-untyped-def]
        form = {**as_json_tab(FIRST_ORDER_BONUS), "backtest_from": "2026-01-01", "backtest_to": "2026-01-31"}
        run_id = re.search(
            r'id="backtest-([0-9a-f-]{36})"', builder.post("/admin/rules/new/backtests", form).get_data(as_text=True)
        ).group(1)
        cancelled = builder.post(f"/admin/rules/backtests/{run_id}/cancel")
        assert "Cancelled after 0 events." in text_of(cancelled)
        run_next_task(worker)  # the queued task finds the run no longer queued and does nothing
        db_session.expire_all()
        assert db_session.get(RuleBacktest, uuid.UUID(run_id)).status == "cancelled"

    def test_a_run_whose_worker_died_is_failed_by_the_sweep_and_stops_polling(
        self, builder, db_session, installed
    ) -> None:  # type: ignore[no-untyped-def]
        form = {**as_json_tab(FIRST_ORDER_BONUS), "backtest_from": "2026-01-01", "backtest_to": "2026-01-31"}
        run_id = uuid.UUID(
            re.search(
                r'id="backtest-([0-9a-f-]{36})"',
                builder.post("/admin/rules/new/backtests", form).get_data(as_text=True),
            ).group(1)
        )
        claimed_at = datetime.now(timezone.utc)
        # A worker claims the run and reports once, then dies (nothing ever finishes it).
        with db_session.begin():
            rulebook.claim_backtest(db_session, run_id=run_id, now=claimed_at)
            rulebook.record_progress(db_session, run_id=run_id, done=1000, total=5000, now=claimed_at)

        with db_session.begin():  # still within the silence a live worker may keep
            assert rulebook.fail_stalled_backtests(db_session, now=claimed_at + timedelta(minutes=9)) == 0
        assert "every 1s" in builder.get(f"/admin/rules/backtests/{run_id}").get_data(as_text=True)

        with db_session.begin():
            assert rulebook.fail_stalled_backtests(db_session, now=claimed_at + timedelta(minutes=11)) == 1
        page = builder.get(f"/admin/rules/backtests/{run_id}")
        assert "every 1s" not in page.get_data(as_text=True)
        assert "stopped before it finished" in text_of(page)
        # The worker, if it was only slow, cannot overwrite the failure it never saw.
        with db_session.begin():
            rulebook.finish_backtest(db_session, run_id=run_id, status="done", now=claimed_at + timedelta(minutes=12))
        db_session.expire_all()
        assert db_session.get(RuleBacktest, run_id).status == "failed"

    @pytest.mark.parametrize(
        ("dates", "message"),
        [
            (
                {"backtest_from": "2026-02-01", "backtest_to": "2026-01-01"},
                "the backtest's last day must not be before its first day",
            ),
            (
                {"backtest_from": "yesterday", "backtest_to": "2026-01-01"},
                "backtest_from: 'yesterday' is not a date (YYYY-MM-DD)",
            ),
            ({"backtest_from": "2020-01-01", "backtest_to": "2026-01-01"}, "a backtest covers at most 1098 days"),
        ],
    )
    def test_a_bad_range_queues_nothing(self, builder, db_session, dates, message) -> None:  # type: ignore[no-untyped-def]
        response = builder.post("/admin/rules/new/backtests", {**as_json_tab(FIRST_ORDER_BONUS), **dates})
        assert response.status_code == 422
        assert message in text_of(response)
        assert db_session.execute(select(func.count()).select_from(RuleBacktest)).scalar_one() == 0

    def test_another_shops_backtest_is_not_found(self, builder, other_builder, worker) -> None:  # type: ignore[no-untyped-def]
        form = {**as_json_tab(FIRST_ORDER_BONUS), "backtest_from": "2026-01-01", "backtest_to": "2026-01-31"}
        run_id = re.search(
            r'id="backtest-([0-9a-f-]{36})"',
            other_builder.post("/admin/rules/new/backtests", form).get_data(as_text=True),
        ).group(1)
        assert builder.get(f"/admin/rules/backtests/{run_id}").status_code == 404
        assert builder.post(f"/admin/rules/backtests/{run_id}/cancel").status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("page", ""),
        ("post", "/editor"),
        ("post", "/validate"),
        ("post", ""),
        ("post", "/status"),
        ("post", "/priority"),
        ("post", "/duplicate"),
        ("get", "/versions"),
        ("get", "/diff?from=1&to=1"),
        ("post", "/restore"),
        ("post", "/try"),
        ("post", "/backtests"),
        ("post", "/go-live"),
    ],
)
def test_another_shops_rule_is_not_found_on_any_endpoint(builder, db_session, installed, method, path) -> None:  # type: ignore[no-untyped-def]
    theirs = save(db_session, installed[OTHER_SHOP], FIRST_ORDER_BONUS)
    form = {**as_json_tab(FIRST_ORDER_BONUS), "base_version": "1", "version": "1", "status": "paused", "priority": "1"}
    url = f"/admin/rules/{theirs.id}{path}"
    response = (
        builder.page(url) if method == "page" else builder.get(url) if method == "get" else builder.post(url, form)
    )
    assert response.status_code == 404
    assert f"rule {theirs.id} does not exist in this shop" in text_of(response)
    db_session.expire_all()
    assert db_session.get(Rule, theirs.id).current_version == 1
    assert db_session.execute(select(func.count()).select_from(Rule)).scalar_one() == 1


class TestGoLive:
    def paused_rule_and_past_orders(self, db_session: Any, shop: Shop) -> Rule:
        """A paused rule and three first orders of February, processed: in the inbox, each customer with a profile
        and the order recorded (as the live path leaves them)."""
        rule = save(db_session, shop, {**FIRST_ORDER_BONUS, "status": "paused"})
        placed = datetime(2026, 2, 2, 12, tzinfo=timezone.utc)
        for number in range(3):
            customer = str(3000 + number)
            stored_order(db_session, shop, total="150.00", customer=customer, when=placed, order_id=700 + number)
            member = lock_profile(db_session, shop_id=shop.id, customer_id=customer, now=placed)
            db_session.add(
                Order(
                    shop_id=shop.id,
                    profile_id=member.id,
                    order_id=str(700 + number),
                    total=Decimal("150.00"),
                    subtotal=Decimal("150.00"),
                    placed_at=placed,
                )
            )
            db_session.commit()
        return rule

    def test_the_preview_shows_what_going_live_would_issue_and_changes_nothing(
        self, builder, db_session, installed
    ) -> None:  # type: ignore[no-untyped-def]
        rule = self.paused_rule_and_past_orders(db_session, installed[SHOP])
        form = {"base_version": "1", "retro": "1", "retro_from": "2026-02-01", "retro_to": "2026-02-28", "preview": "1"}
        response = builder.post(f"/admin/rules/{rule.id}/go-live", form)
        assert response.status_code == 200
        assert "Going live would: Give 1,500 points in 3 credits for 3 past events from 2026-02-01." in text_of(
            response
        )
        db_session.expire_all()
        assert (db_session.get(Rule, rule.id).status, db_session.get(Rule, rule.id).current_version) == ("paused", 1)
        assert db_session.execute(select(func.count()).select_from(PointsTransaction)).scalar_one() == 0

    def go_live(self, builder, rule: Rule, **form: str):  # type: ignore[no-untyped-def]
        """Go live; a preview's answer, or the rule's page that going live sends the browser back to."""
        fields = {"base_version": "1", "retro": "1", "retro_from": "2026-02-01", "retro_to": "2026-02-28"}
        answer = builder.post(f"/admin/rules/{rule.id}/go-live", {**fields, "preview": "0", **form})
        if form.get("preview") == "1" or answer.status_code != 204:
            return answer
        assert json.loads(answer.headers["HX-Location"])["path"] == f"/admin/rules/{rule.id}"
        assert "is live (version 2)" in answer.headers["HX-Trigger"]
        return builder.get(f"/admin/rules/{rule.id}")

    def test_going_live_runs_the_rule_over_past_orders_on_the_worker_once_and_the_run_can_be_undone(
        self, builder, worker, db_session, installed
    ) -> None:  # type: ignore[no-untyped-def]
        rule = self.paused_rule_and_past_orders(db_session, installed[SHOP])
        live = self.go_live(builder, rule)  # the rule's page, opened again
        assert "Active · version 2" in text_of(live)
        assert 'name="base_version" value="2"' in live.get_data(as_text=True)
        assert "Live. Applying it to past orders from 2026-02-01" in text_of(live)
        assert 'hx-trigger="every 1s"' in live.get_data(as_text=True)
        run_id = re.search(r"/admin/rules/retroactive/([0-9a-f-]{36})", live.get_data(as_text=True)).group(1)
        db_session.expire_all()
        assert db_session.get(Rule, rule.id).status == "active"  # live at once; the past follows on the worker
        assert db_session.execute(select(func.count()).select_from(PointsTransaction)).scalar_one() == 0

        assert run_next_task(worker) == "run_retroactive"
        done = builder.get(f"/admin/rules/retroactive/{run_id}")
        assert "Live. Gave 1,500 points in 3 credits for 3 past events from 2026-02-01." in text_of(done)
        assert "every 1s" not in done.get_data(as_text=True)  # finished: the fragment stops polling
        assert db_session.execute(select(func.sum(PointsTransaction.points))).scalar_one() == 1500
        run = db_session.get(RuleRetroRun, uuid.UUID(run_id))
        assert (run.status, run.events_done, run.events_total, run.credits) == ("done", 3, 3, 3)

        undoing = builder.post(f"/admin/rules/retroactive/{run_id}/undo")
        assert "Undoing the retroactive run" in text_of(undoing)
        assert 'hx-trigger="every 1s"' in undoing.get_data(as_text=True)
        assert run_next_task(worker) == "run_retroactive"
        undone = builder.get(f"/admin/rules/retroactive/{run_id}")
        assert "Retroactive run undone 1,500 points taken back from 3 customers." in text_of(undone)
        assert "every 1s" not in undone.get_data(as_text=True)
        assert db_session.execute(select(func.sum(PointsTransaction.points))).scalar_one() == 0
        again = builder.post(f"/admin/rules/retroactive/{run_id}/undo")
        assert again.status_code == 409
        assert "the retroactive run is undone already" in text_of(again)

    def test_a_run_still_going_cannot_be_undone(self, builder, worker, db_session, installed) -> None:  # type: ignore[no-untyped-def]
        rule = self.paused_rule_and_past_orders(db_session, installed[SHOP])
        live = self.go_live(builder, rule)
        run_id = re.search(r"/admin/rules/retroactive/([0-9a-f-]{36})", live.get_data(as_text=True)).group(1)
        refused = builder.post(f"/admin/rules/retroactive/{run_id}/undo")
        assert refused.status_code == 409
        assert "the retroactive run is still going; undo it once it has finished" in text_of(refused)
        db_session.expire_all()
        run = db_session.get(RuleRetroRun, uuid.UUID(run_id))
        assert (run.status, run.undone_by) == ("queued", None)  # the refusal asked for nothing
        assert run_next_task(worker) == "run_retroactive"
        assert db_session.execute(select(func.sum(PointsTransaction.points))).scalar_one() == 1500

    def test_another_shops_run_cannot_be_seen_or_undone_here(
        self, builder, other_builder, worker, db_session, installed
    ) -> None:  # type: ignore[no-untyped-def]
        theirs = self.paused_rule_and_past_orders(db_session, installed[OTHER_SHOP])
        live = self.go_live(other_builder, theirs)
        run_id = re.search(r"/admin/rules/retroactive/([0-9a-f-]{36})", live.get_data(as_text=True)).group(1)
        assert run_next_task(worker) == "run_retroactive"
        assert builder.get(f"/admin/rules/retroactive/{run_id}").status_code == 404
        response = builder.post(f"/admin/rules/retroactive/{run_id}/undo")
        assert response.status_code == 404
        assert f"retroactive run {run_id} credited nothing in this shop" in text_of(response)
        assert db_session.execute(select(func.sum(PointsTransaction.points))).scalar_one() == 1500

    def test_a_preview_of_a_range_too_long_to_replay_in_the_request_is_refused_with_what_to_do(
        self, builder, db_session, installed, monkeypatch
    ) -> None:  # type: ignore[no-untyped-def]
        rule = self.paused_rule_and_past_orders(db_session, installed[SHOP])
        monkeypatch.setattr(what_if_views, "PREVIEW_MAX_EVENTS", 2)
        response = self.go_live(builder, rule, preview="1")
        assert response.status_code == 422
        assert (
            "the range holds 3 past events; a preview replays at most 2. Run a backtest for the whole range,"
            " or preview a shorter one" in text_of(response)
        )
        db_session.expire_all()
        assert db_session.get(Rule, rule.id).status == "paused"
        assert db_session.execute(select(func.count()).select_from(PointsTransaction)).scalar_one() == 0

    @pytest.mark.parametrize(
        ("form", "status", "message"),
        [
            (
                {"retro": "1", "retro_from": "2026-03-01", "retro_to": "2026-02-01"},
                422,
                "the retroactive run's last day must not be before its first day",
            ),
            (
                {"retro": "1", "retro_from": "soon", "retro_to": "2026-02-01"},
                422,
                "retro_from: 'soon' is not a date (YYYY-MM-DD)",
            ),
            ({"base_version": "7"}, 409, "changed since this page was loaded (now version 1)"),
        ],
    )
    def test_a_bad_go_live_changes_nothing(self, builder, db_session, installed, form, status, message) -> None:  # type: ignore[no-untyped-def]
        rule = self.paused_rule_and_past_orders(db_session, installed[SHOP])
        response = builder.post(f"/admin/rules/{rule.id}/go-live", {"base_version": "1", **form})
        assert response.status_code == status
        assert message in text_of(response)
        db_session.expire_all()
        assert db_session.get(Rule, rule.id).status == "paused"


@pytest.mark.parametrize("path", ["/admin/rules/", "/admin/rules/new/editor", "/admin/rules/new/backtests"])
def test_a_write_without_the_session_token_header_is_refused_and_changes_nothing(builder, db_session, path) -> None:  # type: ignore[no-untyped-def]
    response = builder.client.post(path, data=as_json_tab(FIRST_ORDER_BONUS))
    assert response.status_code == 403
    assert response.get_json()["error"] == "session_token_required"
    assert db_session.execute(select(func.count()).select_from(Rule)).scalar_one() == 0


class TestVersionsStoredUnderLooserBounds:
    def test_the_list_says_which_rule_does_not_run_and_why_and_which_runs_as_saved(
        self, builder, db_session, installed
    ) -> None:  # type: ignore[no-untyped-def]
        save(db_session, installed[SHOP], FIRST_ORDER_BONUS)
        store_old_version(db_session, installed[SHOP], RUNS_AS_SAVED["amount"])
        store_old_version(db_session, installed[SHOP], CANNOT_RUN["within_days"])
        html = builder.page("/admin/rules/").get_data(as_text=True)
        rows = dict(re.findall(r'<tr data-rule="([^"]+)"(.*?)</tr>', html, re.S))
        assert "Does not run" not in text_of_html(rows["First Order Bonus"])
        assert (
            "Does not run, saved with values today's rules refuse: /conditions/conditions/0/within_days: must be at "
            "most 36,600" in text_of_html(rows["Loyal for ages"])
        )
        assert "Not running" in text_of_html(rows["Loyal for ages"])
        assert (
            "Runs as saved, with values past today's limits: /actions/0/amount: must be at most 1,000,000,000"
            in text_of_html(rows["Big bonus"])
        )
        assert "Not running" not in text_of_html(rows["Big bonus"])

    def test_the_rules_page_says_why_it_does_not_run_until_a_save_within_todays_bounds(
        self, builder, db_session, installed
    ) -> None:  # type: ignore[no-untyped-def]
        row = store_old_version(db_session, installed[SHOP], CANNOT_RUN["within_days"])
        page = text_of(builder.page(f"/admin/rules/{row.id}"))
        assert (
            "This rule is not running Version 1 has values the rules no longer accept, so it is skipped and the shop's "
            "other rules run without it: /conditions/conditions/0/within_days: must be at most 36,600. Correct them "
            "below and save: the new version runs." in page
        )
        refused = builder.post(f"/admin/rules/{row.id}", as_json_tab(CANNOT_RUN["within_days"], base_version="1"))
        assert refused.status_code == 422
        assert "within_days: must be at most 36,600" in text_of(refused)
        fixed = json.loads(json.dumps(CANNOT_RUN["within_days"]))
        fixed["conditions"]["conditions"][0]["within_days"] = 36_600
        saved = builder.post(f"/admin/rules/{row.id}", as_json_tab(fixed, base_version="1"))
        assert saved.status_code == 200 and "Saved as version 2." in text_of(saved)
        assert "not running" not in text_of(saved)
        assert [rule.name for rule in rulebook.active_rules(db_session, installed[SHOP])] == ["Loyal for ages"]

    def test_the_rules_page_of_a_version_that_runs_as_saved_says_so(self, builder, db_session, installed) -> None:  # type: ignore[no-untyped-def]
        row = store_old_version(db_session, installed[SHOP], RUNS_AS_SAVED["amount"])
        page = text_of(builder.page(f"/admin/rules/{row.id}"))
        assert (
            "This rule runs as it was saved Version 1 has values past today's limits, saved when they were allowed: "
            "/actions/0/amount: must be at most 1,000,000,000. It keeps running as saved; to save a change, bring "
            "them within the limits." in page
        )

    def test_a_copy_of_a_version_past_todays_bounds_is_refused_with_why(self, builder, db_session, installed) -> None:  # type: ignore[no-untyped-def]
        row = store_old_version(db_session, installed[SHOP], RUNS_AS_SAVED["amount"])
        copied = builder.post(f"/admin/rules/{row.id}/duplicate")
        assert copied.status_code == 422
        assert text_of(copied) == "Not copied: /actions/0/amount: must be at most 1,000,000,000"
        assert db_session.execute(select(func.count()).select_from(Rule)).scalar_one() == 1
