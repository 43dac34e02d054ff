"""`flask --app app rules …` end to end against real PostgreSQL: rules as code, explain, backtest, retro runs."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.loyalty.rulebook import FIRST_ORDER_BONUS
from app.models import EventQueue, PointsTransaction, Rule, RuleExecution, RuleRetroRun, RuleVersion, Shop
from tests.helpers import order_payload


def write(tmp_path: Path, name: str, data: Any) -> str:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


def rules(runner: FlaskCliRunner, *args: str) -> Any:
    return runner.invoke(args=["rules", *args])


def test_validate_reports_every_error_by_pointer_and_exits_1(runner: FlaskCliRunner, tmp_path: Path) -> None:
    bad = [
        FIRST_ORDER_BONUS,
        {
            "name": "Broken",
            "conditions": {"operator": "and", "conditions": [{"type": "order_total", "value": "lots"}]},
            "actions": [{"type": "points"}],
        },
        {**FIRST_ORDER_BONUS, "priority": 1},
    ]
    result = rules(runner, "validate", write(tmp_path, "bad.json", bad))
    assert result.exit_code == 1
    path = str(tmp_path / "bad.json")
    assert result.output.splitlines() == [
        f"{path}: /1/conditions/conditions/0/value: must be a number",
        f"{path}: /1/actions/0/amount: is required",
        f"{path}: /2/name: repeats the name 'First Order Bonus' of an earlier rule in the file",
    ]
    good = rules(runner, "validate", write(tmp_path, "good.json", FIRST_ORDER_BONUS))
    assert (good.exit_code, good.output) == (0, f"{tmp_path / 'good.json'}: 1 valid rule(s)\n")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON: Expecting property name enclosed in double quotes at line 1 column 2"),
        ("[]", None),
    ],
)
def test_validate_refuses_unreadable_files(
    runner: FlaskCliRunner, tmp_path: Path, content: str, message: str | None
) -> None:
    result = rules(runner, "validate", write(tmp_path, "x.json", content))
    if message is None:
        assert (result.exit_code, result.output) == (0, f"{tmp_path / 'x.json'}: 0 valid rule(s)\n")
    else:
        assert result.exit_code == 1
        assert message in result.output
    missing = rules(runner, "validate", str(tmp_path / "missing.json"))
    assert (missing.exit_code, "no such file" in missing.output) == (1, True)


def test_apply_creates_updates_and_leaves_identical_rules_alone(
    runner: FlaskCliRunner, db_session: Session, shop: Shop, tmp_path: Path
) -> None:
    path = write(tmp_path, "rules.json", [FIRST_ORDER_BONUS])
    first = rules(runner, "apply", "--shop", shop.domain, "--actor", "ops", path)
    assert (first.exit_code, first.output) == (0, "created 'First Order Bonus' v1\n")
    again = rules(runner, "apply", "--shop", shop.domain, path)
    assert again.output == "unchanged 'First Order Bonus' (v1)\n"
    changed = rules(
        runner, "apply", "--shop", shop.domain, write(tmp_path, "v2.json", {**FIRST_ORDER_BONUS, "priority": 3})
    )
    assert changed.output == "updated 'First Order Bonus' v1 -> v2\n  ~ /priority: 0 -> 3\n"
    versions = db_session.execute(
        select(RuleVersion.version, RuleVersion.created_by).order_by(RuleVersion.version)
    ).all()
    assert [v for v, _ in versions] == [1, 2] and versions[0][1] == "ops"


def test_apply_saves_nothing_when_any_rule_is_invalid(
    runner: FlaskCliRunner, db_session: Session, shop: Shop, tmp_path: Path
) -> None:
    result = rules(
        runner,
        "apply",
        "--shop",
        shop.domain,
        write(tmp_path, "r.json", [FIRST_ORDER_BONUS, {"name": "x", "actions": []}]),
    )
    assert result.exit_code == 1
    assert "/1/actions: must be a non-empty list of actions" in result.output
    assert db_session.execute(select(func.count()).select_from(Rule)).scalar_one() == 0
    unknown = rules(runner, "apply", "--shop", "nope.myshopify.com", write(tmp_path, "ok.json", FIRST_ORDER_BONUS))
    assert (unknown.exit_code, "shop nope.myshopify.com is not installed" in unknown.output) == (1, True)


def test_list_show_diff_and_restore(runner: FlaskCliRunner, shop: Shop, tmp_path: Path) -> None:
    rules(runner, "apply", "--shop", shop.domain, write(tmp_path, "a.json", FIRST_ORDER_BONUS))
    rules(runner, "apply", "--shop", shop.domain, write(tmp_path, "b.json", {**FIRST_ORDER_BONUS, "status": "paused"}))
    listed = rules(runner, "list", "--shop", shop.domain)
    assert listed.output == "First Order Bonus\tpaused\tpriority 0\tv2\t0 points issued\n"
    shown = json.loads(rules(runner, "show", "--shop", shop.domain, "First Order Bonus", "--version", "1").output)
    assert (shown["version"], shown["current_version"], shown["definition"]["status"]) == (1, 2, "active")
    diff = rules(runner, "diff", "--shop", shop.domain, "First Order Bonus")
    assert diff.output == "'First Order Bonus' v1 -> v2: 1 change(s)\n  ~ /status: 'active' -> 'paused'\n"
    planned = rules(
        runner,
        "diff",
        "--shop",
        shop.domain,
        "--file",
        write(tmp_path, "c.json", [FIRST_ORDER_BONUS, {"name": "New", "actions": [{"type": "points", "amount": 1}]}]),
    )
    assert planned.output == ("'First Order Bonus': 1 change(s)\n  ~ /status: 'paused' -> 'active'\n'New': new rule\n")
    restored = rules(runner, "restore", "--shop", shop.domain, "First Order Bonus", "--version", "1")
    assert restored.output == "updated 'First Order Bonus' v2 -> v3\n  ~ /status: 'paused' -> 'active'\n"
    missing = rules(runner, "show", "--shop", shop.domain, "Nope")
    assert (missing.exit_code, "no rule named 'Nope' in this shop" in missing.output) == (1, True)


def test_explain_dry_runs_with_the_trace_and_writes_nothing(
    runner: FlaskCliRunner, db_session: Session, shop: Shop, tmp_path: Path
) -> None:
    rules(runner, "apply", "--shop", shop.domain, write(tmp_path, "a.json", FIRST_ORDER_BONUS))
    event = write(
        tmp_path,
        "event.json",
        {
            "event_type": "order_created",
            "customer_id": "77",
            "timestamp": "2026-03-02T10:00:00Z",
            "event_data": order_payload(total="80.00", customer_id=77),
        },
    )
    result = rules(runner, "explain", "--shop", shop.domain, event)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "First Order Bonus: did not fire (conditions not met)",
        "  ✗ and (/conditions)",
        '    ✗ order_total >= 100: saw "80.00" (/conditions/conditions/0)',
        "    ✓ frequency == 1: saw 1 (/conditions/conditions/1)",
        "points for the customer: 0",
    ]
    as_json = json.loads(
        rules(
            runner,
            "explain",
            "--shop",
            shop.domain,
            event,
            "--json",
            "--draft",
            write(tmp_path, "d.json", {"name": "Any", "actions": [{"type": "points", "amount": 5}]}),
        ).output
    )
    assert (as_json["points_total"], as_json["results"][0]["fired"]) == (5, True)
    assert db_session.execute(select(func.count()).select_from(RuleExecution)).scalar_one() == 0
    assert db_session.execute(select(func.count()).select_from(PointsTransaction)).scalar_one() == 0


def test_explain_refuses_an_order_amount_no_order_holds(
    runner: FlaskCliRunner, db_session: Session, shop: Shop, tmp_path: Path
) -> None:
    event = write(tmp_path, "event.json", order_payload(total="1e30", customer_id=77))
    per_currency = {"name": "Per unit", "actions": [{"type": "points_per_currency", "rate": 1, "basis": "total"}]}
    result = rules(runner, "explain", "--shop", shop.domain, event, "--draft", write(tmp_path, "d.json", per_currency))
    assert result.exit_code == 1
    assert "total_price '1e30' is larger than 999999999999.99" in result.output
    assert db_session.execute(select(func.count()).select_from(RuleExecution)).scalar_one() == 0


def store_orders(db_session: Session, shop: Shop) -> None:
    for n, (customer, total, day) in enumerate([("1", "150.00", 5), ("2", "50.00", 6), ("3", "300.00", 7)]):
        db_session.add(
            EventQueue(
                event_id=uuid.uuid4(),
                shop_id=shop.id,
                event_type="order_created",
                customer_id=customer,
                payload=order_payload(order_id=300 + n, total=total),
                occurred_at=datetime(2026, 1, day, 12, tzinfo=timezone.utc),
                status="processed",
            )
        )
    db_session.commit()


def test_backtest_prints_progress_and_the_change(
    runner: FlaskCliRunner, db_session: Session, shop: Shop, tmp_path: Path
) -> None:
    store_orders(db_session, shop)
    result = rules(
        runner,
        "backtest",
        "--shop",
        shop.domain,
        "--from",
        "2026-01-01",
        "--to",
        "2026-01-06",
        write(tmp_path, "draft.json", FIRST_ORDER_BONUS),
    )
    assert result.exit_code == 0, result.output
    lines = result.output.replace("\r", "").splitlines()
    assert lines[0] == "2/2 events"  # progress (to stderr, mixed in by the runner)
    assert lines[1:] == [
        "events replayed: 2 in " + lines[1].split(" in ")[1],
        "points: 500 with the draft rules, 0 with the live rules (+500)",
        "customers affected: 1; earning with the drafts: 1",
        "liability change: +5.00 USD",
        "  First Order Bonus: fired 1 times, 500 points",
    ]
    bad = rules(
        runner,
        "backtest",
        "--shop",
        shop.domain,
        "--from",
        "2026-02-01",
        "--to",
        "2026-01-01",
        write(tmp_path, "d2.json", FIRST_ORDER_BONUS),
    )
    assert (bad.exit_code, "--to must be after --from" in bad.output) == (2, True)


def test_retro_and_retro_reverse(runner: FlaskCliRunner, db_session: Session, shop: Shop, tmp_path: Path) -> None:
    store_orders(db_session, shop)
    rules(
        runner,
        "apply",
        "--shop",
        shop.domain,
        write(
            tmp_path,
            "a.json",
            {
                "name": "Big",
                "conditions": {
                    "operator": "and",
                    "conditions": [{"type": "order_total", "operator": ">=", "value": 100}],
                },
                "actions": [{"type": "points", "amount": 20}],
            },
        ),
    )
    result = rules(
        runner, "retro", "--shop", shop.domain, "Big", "--from", "2026-01-01", "--to", "2026-01-31", "--actor", "ops"
    )
    assert result.exit_code == 0, result.output
    batch = result.output.split()[1].rstrip(":")
    assert result.output == (
        f"batch {batch}: 3 events, 2 credits, 40 points; 0 already credited; 0 non-point actions skipped\n"
    )
    run = db_session.execute(select(RuleRetroRun)).scalar_one()  # applied as the worker applies the admin's
    assert (str(run.id), run.status, run.events_done, run.created_by) == (batch, "done", 3, "ops")
    undo = rules(runner, "retro-reverse", "--shop", shop.domain, batch, "--actor", "ops")
    assert undo.output == f"batch {batch}: 2 customers, 40 points taken back, 0 already spent (not taken)\n"
    again = rules(runner, "retro-reverse", "--shop", shop.domain, batch, "--actor", "ops")
    assert again.exit_code == 1 and "the retroactive run is undone already" in again.output
    total = db_session.execute(select(func.coalesce(func.sum(PointsTransaction.points), 0))).scalar_one()
    assert total == 0


def test_schema_prints_the_builders_json_schema(runner: FlaskCliRunner) -> None:
    schema = json.loads(rules(runner, "schema").output)
    assert schema["title"] == "Loyalty rule" and "condition_line_item" in schema["$defs"]
