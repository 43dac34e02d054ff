"""The rule builder in real Chromium: a merchant builds, checks, tries, backtests and versions rules with clicks;
screenshots of each step go to rule-builder/ in the browser tests' screenshot folder ($LOYALTY_SHOTS, default
/tmp/shots-<checkout folder>/)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import delete, insert, select

from app.admin.rule_builder.editor_views import slot_id
from app.loyalty import rulebook
from app.loyalty.rulebook import FIRST_ORDER_BONUS
from app.models import EventQueue, Rule, RuleBacktest
from app.rules import parse_rule
from tests.admin.browser.conftest import open_admin, serious_violations
from tests.browser_fixtures import SHOTS as BROWSER_SHOTS

SHOTS = BROWSER_SHOTS / "rule-builder"


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def field(page: Any, pointer: str) -> Any:
    return page.locator(f"#{slot_id(pointer)}-input")


def problem(page: Any, pointer: str) -> Any:
    return page.locator(f"#{slot_id(pointer)}")


def settled(page: Any) -> None:
    """htmx binds what it swapped in when it settles, a moment after the response arrived: a change made in between
    reaches an element nothing listens to yet (seen: a type picked then never re-rendered the editor)."""
    page.wait_for_function("!document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')")


def click_edit(page: Any, edit: str) -> None:
    """Click an editor button and wait until the re-rendered editor is live."""
    with page.expect_response(lambda response: "/editor" in response.url):
        page.locator(f'button[name="edit"][value="{edit}"]').click()
    settled(page)


def pick(page: Any, pointer: str, value: str) -> None:
    """Choose in a select that re-renders the editor (a condition's or an action's type, an operator)."""
    with page.expect_response(lambda response: "/editor" in response.url):
        field(page, pointer).select_option(value)
    settled(page)


def stored(demo_shop: Any, name: str) -> Rule:
    from app.extensions import db

    db.session.expire_all()
    return db.session.execute(select(Rule).where(Rule.shop_id == demo_shop.id, Rule.name == name)).scalar_one()


@pytest.fixture
def no_rules(demo_shop: Any) -> Any:
    """The demo shop without its seeded First Order Bonus: the merchant builds it."""
    from app.extensions import db

    db.session.execute(delete(Rule).where(Rule.shop_id == demo_shop.id))
    db.session.commit()
    return demo_shop


def test_the_first_order_bonus_is_built_with_clicks_only_and_stored_as_the_spec_rule(page, no_rules) -> None:  # type: ignore[no-untyped-def]
    open_admin(page, "/admin/rules/new")
    shot(page, "01-new-rule-blank")
    field(page, "/name").fill("First Order Bonus")
    field(page, "/status").select_option("active")
    click_edit(page, "add-condition /conditions")
    field(page, "/conditions/conditions/0/value").fill("100")
    click_edit(page, "add-condition /conditions")
    pick(page, "/conditions/conditions/1/type", "frequency")
    field(page, "/conditions/conditions/1/event_type").fill("order_created")
    field(page, "/actions/0/amount").fill("500")
    field(page, "/actions/0/reason").fill("First order bonus")
    page.wait_for_function("document.getElementById('rb-count').textContent === ''")
    summary = page.locator("#rule-summary").inner_text()
    assert summary.startswith("Customers earn 500 points (First order bonus) when an order is placed and the order")
    shot(page, "02-first-order-bonus-filled")
    page.locator("#rb-save").click()
    page.wait_for_url(lambda url: "/admin/rules/" in url and not url.endswith("/new"))
    page.locator("h1", has_text="First Order Bonus").wait_for()
    shot(page, "03-first-order-bonus-saved")
    assert stored(no_rules, "First Order Bonus").definition == parse_rule(FIRST_ORDER_BONUS).definition
    assert serious_violations(page) == []


def test_an_invalid_value_shows_its_error_at_its_field_as_the_merchant_types(page, demo_shop) -> None:  # type: ignore[no-untyped-def]
    rule = stored(demo_shop, "First Order Bonus")
    open_admin(page, f"/admin/rules/{rule.id}")
    field(page, "/conditions/conditions/0/value").fill("a hundred")
    problem(page, "/conditions/conditions/0/value").locator("text=must be a number").wait_for()
    assert page.locator("#rb-count").inner_text() == " · 1 problem left"
    assert page.locator("#rule-summary").inner_text() == "Fix the problems below to see what this rule does."
    shot(page, "04-invalid-value-error-at-its-field")
    field(page, "/conditions/conditions/0/value").fill("120")
    page.wait_for_function("document.getElementById('rb-count').textContent === ''")
    assert problem(page, "/conditions/conditions/0/value").inner_text() == ""


def test_a_nested_or_inside_a_not_is_saved_reloaded_edited_and_saved(page, demo_shop) -> None:  # type: ignore[no-untyped-def]
    rule = stored(demo_shop, "First Order Bonus")
    open_admin(page, f"/admin/rules/{rule.id}")
    click_edit(page, "add-group /conditions")
    click_edit(page, "wrap-not /conditions/conditions/2")
    field(page, "/conditions/conditions/2/conditions/0/conditions/0/value").fill("20")
    click_edit(page, "add-condition /conditions/conditions/2/conditions/0")
    pick(page, "/conditions/conditions/2/conditions/0/conditions/1/type", "customer_tag")
    field(page, "/conditions/conditions/2/conditions/0/conditions/1/value/0").fill("staff")
    page.wait_for_function("document.getElementById('rb-count').textContent === ''")  # live validation caught up
    shot(page, "05-nested-or-inside-not")
    page.locator("#rb-save").click()
    page.locator("text=Saved as version 2.").wait_for()

    open_admin(page, f"/admin/rules/{rule.id}")  # reload
    field(page, "/conditions/conditions/2/conditions/0/conditions/0/value").fill("25")
    page.locator("#rb-save").click()
    page.locator("text=Saved as version 3.").wait_for()
    click_edit(page, "show-json")
    shot(page, "06-nested-rule-json-tab")
    assert stored(demo_shop, "First Order Bonus").definition["conditions"]["conditions"][2] == {
        "operator": "not",
        "conditions": [
            {
                "operator": "or",
                "conditions": [
                    {"type": "order_total", "operator": ">=", "value": 25},
                    {"type": "customer_tag", "operator": "in", "value": ["staff"]},
                ],
            }
        ],
    }
    assert '"staff"' in page.locator("#rb-json").input_value()
    assert serious_violations(page) == []


def test_a_dry_run_of_a_real_order_shows_the_trace(page, demo_shop) -> None:  # type: ignore[no-untyped-def]
    from app.extensions import db

    db.session.add(
        EventQueue(
            event_id=uuid.uuid4(),
            shop_id=demo_shop.id,
            event_type="order_created",
            customer_id="1001",
            payload={
                "id": 5001,
                "name": "#5001",
                "total_price": "150.00",
                "subtotal_price": "150.00",
                "customer": {"id": 1001},
            },
            occurred_at=datetime.now(timezone.utc),
            status="processed",
        )
    )
    db.session.commit()
    rule = stored(demo_shop, "First Order Bonus")
    open_admin(page, f"/admin/rules/{rule.id}")
    page.locator("#try-form button[type=submit]").click()
    page.locator("#try-result").locator("text=First Order Bonus: fires").wait_for()
    assert 'order total >= 100 — saw "150.00"' in page.locator("#try-result").inner_text()
    assert "Points for the customer: 500" in page.locator("#try-result").inner_text()
    page.locator("#try-result").scroll_into_view_if_needed()
    shot(page, "07-dry-run-trace")


@pytest.fixture
def running_worker(worker: Any) -> Iterator[Any]:
    """A worker thread taking tasks off the real queue while the test runs, as `huey_consumer` does."""
    stop = threading.Event()

    def consume() -> None:
        while not stop.is_set():
            task = worker.dequeue()
            if task is None:
                stop.wait(0.1)
            else:
                worker.execute(task)

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    yield worker
    stop.set()
    thread.join()


def store_orders(
    demo_shop: Any,
    count: int,
    *,
    customer: Callable[[int], int],
    total: Callable[[int], int],
    minutes: int,
    first_id: int = 90000,
) -> None:
    """`count` processed order events of the demo shop, `minutes` apart from 5 January 2026: order n of customer
    `customer(n)` for `total(n)`.00."""
    from app.extensions import db

    start = datetime(2026, 1, 5, tzinfo=timezone.utc)
    db.session.execute(
        insert(EventQueue),
        [
            {
                "event_id": uuid.uuid4(),
                "shop_id": demo_shop.id,
                "event_type": "order_created",
                "customer_id": str(customer(n)),
                "payload": {"id": first_id + n, "total_price": f"{total(n)}.00", "subtotal_price": f"{total(n)}.00"},
                "occurred_at": start + timedelta(minutes=minutes * n),
                "status": "processed",
            }
            for n in range(count)
        ],
    )
    db.session.commit()


def test_a_backtest_of_10000_stored_events_fills_its_progress_bar_to_the_end(page, demo_shop, running_worker) -> None:  # type: ignore[no-untyped-def]
    from app.extensions import db

    store_orders(demo_shop, 10_000, customer=lambda n: 2000 + n % 700, total=lambda n: 50 + n % 120, minutes=13)
    rule = stored(demo_shop, "First Order Bonus")
    open_admin(page, f"/admin/rules/{rule.id}")
    field(page, "/actions/0/amount").fill("750")
    page.locator("#backtest-from").fill("2026-01-01")
    page.locator("#backtest-to").fill("2026-04-30")
    page.locator("#backtest-form button[type=submit]").click()
    page.locator("#backtest-result progress").wait_for()
    shot(page, "08-backtest-running")
    page.locator("#backtest-result").locator("text=Points with this draft").wait_for(timeout=120_000)
    assert page.locator("#backtest-result progress").get_attribute("value") == "100"
    page.locator("#backtest-result").scroll_into_view_if_needed()
    shot(page, "09-backtest-done")
    db.session.expire_all()
    run = db.session.execute(select(RuleBacktest)).scalar_one()
    assert (run.status, run.events_done, run.events_total) == ("done", 10_000, 10_000)
    # the 700 customers' first orders of 100.00 or more earn 750 with the draft instead of 500
    first_orders_over_100 = sum(1 for n in range(700) if 50 + n % 120 >= 100)
    assert run.result["points"] - run.result["baseline_points"] == first_orders_over_100 * 250


def test_two_versions_are_compared_and_one_restored(page, demo_shop) -> None:  # type: ignore[no-untyped-def]
    from app.extensions import db

    now = datetime.now(timezone.utc)
    changed = {**FIRST_ORDER_BONUS, "actions": [{"type": "points", "amount": 750, "reason": "First order bonus"}]}
    rulebook.save_rule(db.session, shop_id=demo_shop.id, definition=changed, actor="staff:2", now=now)
    db.session.commit()
    rule = stored(demo_shop, "First Order Bonus")
    open_admin(page, f"/admin/rules/{rule.id}")
    page.locator("#diff-form button[type=submit]").click()
    page.locator("#rb-diff").locator("text=Action 1 (Give points) › amount").wait_for()
    page.locator("#rb-versions").scroll_into_view_if_needed()
    shot(page, "10-versions-diff")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator('button[aria-label="Restore version 1"]').click()
    page.locator("text=Version 1 restored as version 3.").wait_for()
    assert field(page, "/actions/0/amount").input_value() == "500"
    shot(page, "11-version-restored")
    assert stored(demo_shop, "First Order Bonus").definition["actions"][0]["amount"] == 500
    assert serious_violations(page) == []


def test_the_rule_list_pauses_and_duplicates(page, demo_shop) -> None:  # type: ignore[no-untyped-def]
    open_admin(page, "/admin/rules/")
    page.locator('button[aria-label="Pause First Order Bonus"]').click()
    page.locator('tr[data-rule="First Order Bonus"]').locator("text=Paused").wait_for()
    page.locator('button[aria-label="Duplicate First Order Bonus"]').click()
    page.locator('tr[data-rule="First Order Bonus (copy)"]').wait_for()
    shot(page, "12-rule-list")
    assert stored(demo_shop, "First Order Bonus").status == "paused"
    assert serious_violations(page) == []


def test_a_paused_rule_goes_live_from_its_page(page, demo_shop) -> None:  # type: ignore[no-untyped-def]
    from app.extensions import db

    paused = {**FIRST_ORDER_BONUS, "status": "paused"}
    rulebook.save_rule(
        db.session, shop_id=demo_shop.id, definition=paused, actor="staff:2", now=datetime.now(timezone.utc)
    )
    db.session.commit()
    rule = stored(demo_shop, "First Order Bonus")
    open_admin(page, f"/admin/rules/{rule.id}")
    page.locator('#go-live-form button[value="0"]').click()
    page.locator("text=/Active · version [0-9]+/").wait_for()  # the page opened again on the live rule
    page.locator("#rb-go-live").scroll_into_view_if_needed()
    shot(page, "13-went-live")
    assert stored(demo_shop, "First Order Bonus").status == "active"


def test_going_live_over_1500_past_orders_runs_on_the_worker_to_the_end_and_is_undone_there(  # type: ignore[no-untyped-def]
    page, demo_shop, running_worker
) -> None:
    from app.extensions import db

    # Every order of 100 or more: the stored orders here have no recorded order rows for "their first order" to count.
    big_orders = {"operator": "and", "conditions": [{"type": "order_total", "operator": ">=", "value": 100}]}
    paused = {**FIRST_ORDER_BONUS, "name": "Big orders", "status": "paused", "conditions": big_orders}
    rulebook.save_rule(
        db.session, shop_id=demo_shop.id, definition=paused, actor="staff:2", now=datetime.now(timezone.utc)
    )
    store_orders(demo_shop, 1_500, customer=lambda n: 5000 + n, total=lambda n: 150, minutes=7, first_id=70000)
    rule = stored(demo_shop, "Big orders")
    open_admin(page, f"/admin/rules/{rule.id}")
    page.locator('#go-live-form input[name="retro"]').check()
    page.locator("#retro-from").fill("2026-01-01")
    page.locator("#retro-to").fill("2026-01-31")
    page.locator('#go-live-form button[value="0"]').click()
    page.locator("#rb-go-live-result").locator("text=Applying it to past orders").wait_for()
    page.locator("#rb-go-live").scroll_into_view_if_needed()
    shot(page, "14-retroactive-running")
    outcome = page.locator("#rb-go-live-result")
    outcome.locator("text=Gave 750,000 points in 1,500 credits for 1,500 past events").wait_for(timeout=120_000)
    shot(page, "15-retroactive-done")
    page.once("dialog", lambda dialog: dialog.accept())
    outcome.locator("text=Undo the retroactive run").click()
    outcome.locator("text=Undoing the retroactive run").wait_for()
    outcome.locator("text=750,000 points taken back from 1,500 customers.").wait_for(timeout=120_000)
    shot(page, "16-retroactive-undone")
    assert stored(demo_shop, "Big orders").status == "active"
    assert serious_violations(page) == []
