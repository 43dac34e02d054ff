"""Bounds on what one storefront request may ask for.

The schema is shallow, but aliases let one request run `loyaltyProfile` or `redeemReward` hundreds of times
(alias batching: reliability.md §4.2, OWASP GraphQL cheat sheet), and a huge document costs parser time before any
check runs. So: at most MAX_ROOT_FIELDS root fields per operation, aliases counted, MAX_TOKENS tokens, MAX_DEPTH
levels of selection, and a computed cost of at most MAX_COST: every field costs 1, and the one list whose length the
client chooses, `history`'s `entries`, costs its selection once per entry of the page asked for.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    parse,
)
from graphql.validation import ValidationRule

from app.graphql.introspection import introspection_only
from app.loyalty.read_models.storefront import MAX_PAGE

MAX_ROOT_FIELDS = 5
MAX_TOKENS = 2_000
MAX_DEPTH = 6
MAX_COST = 400
# The page of `history` when the query does not say how many entries it wants (the schema's default).
DEFAULT_PAGE = 10


class RootFieldLimit(ValidationRule):
    """Refuses an operation whose top level selects more than MAX_ROOT_FIELDS fields (aliases included)."""

    def enter_operation_definition(self, node: OperationDefinitionNode, *_args: Any) -> None:
        count = len(node.selection_set.selections)
        if count > MAX_ROOT_FIELDS:
            self.report_error(
                GraphQLError(
                    f"an operation may select at most {MAX_ROOT_FIELDS} root fields (aliases count); it has {count}",
                    node,
                )
            )


def _page(history: FieldNode) -> int:
    """How many entries a `history` field may return: its `first` when written in the document; the largest page
    the resolver serves when a variable gives it (validation runs before, and for persisted operations once for all,
    the variables of a request), so no value of the variable can cost more than the check counted."""
    for argument in history.arguments or ():
        if argument.name.value == "first":
            if isinstance(argument.value, IntValueNode):
                return max(1, int(argument.value.value))
            return MAX_PAGE
    return DEFAULT_PAGE


class DepthAndCostLimit(ValidationRule):
    """Refuses an operation nested deeper than MAX_DEPTH or costing more than MAX_COST (fragments followed)."""

    def enter_operation_definition(self, node: OperationDefinitionNode, *_args: Any) -> None:
        if introspection_only(self.context.document):
            return  # refused outright where introspection is off; GraphiQL's schema query nests deeper than 6
        fragments = {
            definition.name.value: definition
            for definition in self.context.document.definitions
            if hasattr(definition, "type_condition")
        }
        depth, cost = self._measure(node.selection_set, fragments, 1, set(), page=1)
        if depth > MAX_DEPTH:
            self.report_error(GraphQLError(f"an operation may nest at most {MAX_DEPTH} levels; it has {depth}", node))
        elif cost > MAX_COST:
            self.report_error(GraphQLError(f"an operation may cost at most {MAX_COST}; it costs {cost}", node))

    def _measure(
        self, selections: SelectionSetNode, fragments: dict[str, Any], level: int, seen: set[str], *, page: int
    ) -> tuple[int, int]:
        """(depth, cost) of a selection set; `page` is the page of the `history` field it belongs to (1 elsewhere),
        which its `entries` selection is counted for."""
        depth, cost = level, 0
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                inner_depth, inner_cost = level, 0
                if selection.selection_set is not None:
                    inner_page = _page(selection) if selection.name.value == "history" else 1
                    inner_depth, inner_cost = self._measure(
                        selection.selection_set, fragments, level + 1, seen, page=inner_page
                    )
                per_entry = page if selection.name.value == "entries" else 1
                depth, cost = max(depth, inner_depth), cost + 1 + per_entry * inner_cost
            elif isinstance(selection, InlineFragmentNode):
                inner_depth, inner_cost = self._measure(selection.selection_set, fragments, level, seen, page=page)
                depth, cost = max(depth, inner_depth), cost + inner_cost
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name in seen or name not in fragments:  # cycles and unknown fragments: the standard rules say so
                    continue
                inner_depth, inner_cost = self._measure(
                    fragments[name].selection_set, fragments, level, seen | {name}, page=page
                )
                depth, cost = max(depth, inner_depth), cost + inner_cost
        return depth, cost


VALIDATION_RULES = [RootFieldLimit, DepthAndCostLimit]


def parse_bounded(_context: Any, data: dict[str, Any]) -> DocumentNode:
    """Parse the query, refusing documents longer than MAX_TOKENS tokens before building them."""
    return parse(data["query"], max_tokens=MAX_TOKENS)
