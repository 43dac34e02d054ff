"""The editor's structural edits: each changes exactly the place it names; a bad edit is refused with why."""

from __future__ import annotations

import pytest

from app.admin.rule_builder.editing import EditError, apply_edit, blank_action, blank_condition
from app.loyalty.rulebook import FIRST_ORDER_BONUS
from app.rules import parse_rule
from app.rules.vocabulary import ACTIONS, CONDITIONS

TOTAL = {"type": "order_total", "operator": ">=", "value": 100}
FIRST = {"type": "frequency", "event_type": "order_created", "value": 1}


def test_adding_a_condition_to_a_rule_without_conditions_starts_the_top_group() -> None:
    rule = {"name": "r", "actions": [{"type": "points", "amount": 1}]}
    assert apply_edit(rule, "add-condition /conditions")["conditions"] == {
        "operator": "and",
        "conditions": [{"type": "order_total", "operator": ">=", "value": ""}],
    }
    assert "conditions" not in rule  # the draft given is not changed


def test_a_nested_or_inside_a_not_is_built_by_wrapping_and_adding() -> None:
    rule = {**FIRST_ORDER_BONUS}
    grouped = apply_edit(rule, "add-group /conditions")
    assert grouped["conditions"]["conditions"][2] == {"operator": "or", "conditions": [blank_condition()]}
    negated = apply_edit(grouped, "wrap-not /conditions/conditions/2")
    assert negated["conditions"]["conditions"][2] == {
        "operator": "not",
        "conditions": [{"operator": "or", "conditions": [blank_condition()]}],
    }
    assert apply_edit(negated, "unwrap /conditions/conditions/2")["conditions"] == grouped["conditions"]


def test_moving_and_removing_change_only_the_order_and_the_item() -> None:
    rule = {**FIRST_ORDER_BONUS}
    assert apply_edit(rule, "move-down /conditions/conditions/0")["conditions"]["conditions"] == [FIRST, TOTAL]
    assert apply_edit(rule, "move-up /conditions/conditions/0")["conditions"]["conditions"] == [TOTAL, FIRST]
    assert apply_edit(rule, "remove /conditions/conditions/0")["conditions"]["conditions"] == [FIRST]
    assert "conditions" not in apply_edit(rule, "remove /conditions")


def test_picking_another_type_starts_that_type_blank() -> None:
    rule = {**FIRST_ORDER_BONUS, "conditions": {"operator": "and", "conditions": [{**TOTAL, "type": "customer_tag"}]}}
    retyped = apply_edit(rule, "retype /conditions/conditions/0")
    assert retyped["conditions"]["conditions"][0] == {"type": "customer_tag", "operator": "in", "value": [""]}
    rule = {**FIRST_ORDER_BONUS, "actions": [{"type": "multiply", "amount": 500}]}
    assert apply_edit(rule, "retype /actions/0")["actions"] == [{"type": "multiply", "factor": 2}]


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [("in", 100, [100]), ("between", 100, [100, ""]), ("==", [100, 200], 100), ("exists", "x", True), ("<", "", "")],
)
def test_another_operator_reshapes_the_value(operator: str, value: object, expected: object) -> None:
    rule = {
        **FIRST_ORDER_BONUS,
        "conditions": {"operator": "and", "conditions": [{**TOTAL, "operator": operator, "value": value}]},
    }
    assert apply_edit(rule, "reshape /conditions/conditions/0")["conditions"]["conditions"][0]["value"] == expected


def test_list_items_are_added_and_started() -> None:
    rule = {"name": "r", "actions": [{"type": "tag_customer", "add": ["vip"]}]}
    assert apply_edit(rule, "add-item /actions/0/add")["actions"][0]["add"] == ["vip", ""]
    assert apply_edit(rule, "add-list /actions/0/remove")["actions"][0]["remove"] == [""]
    assert len(apply_edit(rule, "add-action /actions")["actions"]) == 2


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ("explode /conditions", "unknown edit 'explode'"),
        ("remove /conditions/conditions/9", "the rule has nothing at /conditions/conditions/9"),
        ("add-condition /actions", "/actions is not a group of conditions"),
        ("move-up /name", "/name is not an item of a list"),
        ("remove conditions", "'conditions' is not a JSON pointer"),
        ("unwrap /conditions", "/conditions is not a group of exactly one condition"),
    ],
)
def test_an_edit_that_does_not_apply_is_refused_with_why(edit: str, message: str) -> None:
    with pytest.raises(EditError, match=message):
        apply_edit({**FIRST_ORDER_BONUS}, edit)


@pytest.mark.parametrize("kind", sorted(CONDITIONS))
def test_every_condition_type_has_a_blank_that_names_only_what_is_left_to_fill(kind: str) -> None:
    rule = {
        "name": "r",
        "conditions": {"operator": "and", "conditions": [blank_condition(kind)]},
        "actions": [{"type": "points", "amount": 1}],
    }
    try:
        parse_rule(rule)
    except ValueError as error:
        # what is left is a value to type in, never a key the blank forgot or got wrong
        left = [issue.pointer.rpartition("/")[2] for issue in error.issues]  # type: ignore[attr-defined]
        assert set(left) <= {"value", "0", "1", "path"}, error


@pytest.mark.parametrize("kind", sorted(ACTIONS))
def test_every_action_type_has_a_blank_that_names_only_what_is_left_to_fill(kind: str) -> None:
    try:
        parse_rule({"name": "r", "actions": [blank_action(kind)]})
    except ValueError as error:
        assert all(issue.pointer.startswith("/actions/0/") for issue in error.issues), error  # type: ignore[attr-defined]
