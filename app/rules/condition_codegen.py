"""Compile condition trees into generated Python functions for the hot path (no nested closure calls per leaf).

The generated source only ever contains fixed fact names, fixed operators and references to constants `k0`, `k1`,
... held in the function's namespace: no value from the rule is ever written into source text. Leaves without an
inline form call the same getter/test pair the trace path uses. The property test holds both paths to the
reference interpreter.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.rules.condition_leaves import CONTEXT_FACTS, CUSTOMER_FACTS, SET_FACTS, compile_leaf, line_value
from app.rules.event_context import EventContext
from app.rules.values import folded, parse_clock
from app.rules.vocabulary import COMPARISONS

Check = Callable[[EventContext], bool]


class _Source:
    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {"__builtins__": {}, "bool": bool}
        self.count = 0

    def constant(self, value: Any) -> str:
        name = f"k{self.count}"
        self.count += 1
        self.namespace[name] = value
        return name

    def expression(self, node: dict[str, Any]) -> str:
        if "conditions" in node:
            parts = [self.expression(child) for child in node["conditions"]]
            if node["operator"] == "not" and len(parts) == 1:
                return f"(not {parts[0]})"
            if node["operator"] not in ("and", "or") or not parts:
                raise ValueError(f"unsupported group {node['operator']!r} with {len(parts)} conditions")
            return "(" + f" {node['operator']} ".join(parts) + ")"
        return self.leaf(node)

    def leaf(self, node: dict[str, Any]) -> str:
        kind, operator, expected = node["type"], node["operator"], node.get("value")
        if kind in SET_FACTS and operator in ("in", "not_in"):
            wanted = self.constant(frozenset(map(folded, expected)))
            test = f"not {wanted}.isdisjoint(v)" if operator == "in" else f"{wanted}.isdisjoint(v)"
            return f"((v := ctx.{SET_FACTS[kind]}) is not None and {test})"
        if kind in CONTEXT_FACTS:
            name, convert = CONTEXT_FACTS[kind]
            return f"((v := ctx.{name}) is not None and {self.compare(operator, expected, convert)})"
        if kind in CUSTOMER_FACTS:
            field, convert = CUSTOMER_FACTS[kind]
            return f"((v := ctx.customer) is not None and {self.compare(operator, expected, convert, f'v.{field}')})"
        if kind == "frequency":
            fact = (
                f"ctx.event_count({self.constant(node.get('event_type', 'order_created'))}, "
                f"{self.constant(node.get('within_days'))})"
            )
            return f"((v := {fact}) is not None and {self.compare(operator, expected, int)})"
        if kind == "time_of_day":
            start, end = (self.constant(parse_clock(text)) for text in expected)
            inside = (
                f"{start} <= v <= {end}"
                if parse_clock(expected[0]) <= parse_clock(expected[1])
                else f"(v >= {start} or v <= {end})"
            )
            return f"((v := ctx.minute_of_day) is not None and {inside})"
        if kind == "line_item" and "min_amount" not in node:
            wanted = self.constant(frozenset(line_value(node["field"], item) for item in expected))
            fact = f"ctx.line_quantity({self.constant(node['field'])}, {wanted}, {operator == 'in'})"
            return f"((v := {fact}) is not None and v >= {self.constant(node.get('min_quantity', 1))})"
        if kind == "referred_customer":
            return f"((v := ctx.customer) is not None and v.referred is {self.constant(expected)})"
        getter, test, reads_missing = compile_leaf(node)
        get, check = self.constant(getter), self.constant(test)
        if reads_missing:
            return f"{check}({get}(ctx))"
        return f"((v := {get}(ctx)) is not None and {check}(v))"

    def compare(self, operator: str, expected: Any, convert: Callable[[Any], Any], fact: str = "v") -> str:
        if operator in ("in", "not_in"):
            wanted = self.constant(frozenset(convert(item) for item in expected))
            return f"{fact} {'in' if operator == 'in' else 'not in'} {wanted}"
        if operator == "between":
            low, high = self.constant(convert(expected[0])), self.constant(convert(expected[1]))
            return f"{low} <= {fact} <= {high}"
        if operator not in COMPARISONS:
            raise ValueError(f"unsupported operator {operator!r}")
        return f"{fact} {operator} {self.constant(convert(expected))}"


def compile_held(conditions: list[tuple[int, dict[str, Any] | None]]) -> Callable[[Any], list[int]]:
    """Return one generated function giving, in order, the positions whose conditions hold (None: always)."""
    source = _Source()
    lines = ["def held(ctx):", "    out = []", "    append = out.append"]
    for position, node in conditions:
        if node is None:
            lines.append(f"    append({int(position)})")
        else:
            lines.extend((f"    if {source.expression(node)}:", f"        append({int(position)})"))
    lines.append("    return out")
    code = compile("\n".join(lines) + "\n", "<rule set conditions>", "exec")
    exec(code, source.namespace)  # noqa: S102 - source built only from fixed names and constant references
    return source.namespace["held"]


def compile_check(node: dict[str, Any]) -> Check:
    """Return one generated function that says whether the condition tree holds for an event."""
    source = _Source()
    body = source.expression(node)
    code = compile(f"def check(ctx):\n    return bool({body})\n", "<rule conditions>", "exec")
    exec(code, source.namespace)  # noqa: S102 - source built only from fixed names and constant references
    return source.namespace["check"]
