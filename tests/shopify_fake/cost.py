"""Calculated query cost, by the rules on Shopify's GraphQL Admin rate-limits page.

Scalars and enums cost 0, an object 1, a connection 2 plus its page size times the cost of one node, a mutation 10;
a union or interface costs the most expensive of its possible selections. The requested cost uses `first`/`last`;
the actual cost walks the response, so a short page and a null object cost less and the difference is refunded.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    is_leaf_type,
)

MUTATION_COST = 10
MAX_QUERY_COST = 1000  # a single query may not request more, whatever the bucket holds
CONNECTION_COST = 2


class CostCalculator:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables

    def operation_cost(self, operation: OperationDefinitionNode, data: dict[str, Any] | None = None) -> int:
        """The requested cost (data None) or the actual cost of `data`, the operation's response."""
        if operation.operation == OperationType.MUTATION:
            return MUTATION_COST * sum(1 for _ in self._fields(operation.selection_set))
        assert self.schema.query_type is not None
        return self._selection_cost(self.schema.query_type, operation.selection_set, data, requested=data is None)

    def _fields(self, selection_set: SelectionSetNode) -> list[tuple[FieldNode, str | None]]:
        """The fields of a selection set with the type condition they sit under (None: unconditional)."""
        found: list[tuple[FieldNode, str | None]] = []
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                found.append((selection, None))
            else:
                if isinstance(selection, FragmentSpreadNode):
                    fragment: FragmentDefinitionNode | InlineFragmentNode = self.fragments[selection.name.value]
                else:
                    assert isinstance(selection, InlineFragmentNode)
                    fragment = selection
                condition = fragment.type_condition.name.value if fragment.type_condition else None
                found += [(node, condition or inner) for node, inner in self._fields(fragment.selection_set)]
        return found

    def _selection_cost(self, parent: Any, selection_set: SelectionSetNode, data: Any, *, requested: bool) -> int:
        by_condition: dict[str | None, int] = {}
        for node, condition in self._fields(selection_set):
            owner = self.schema.get_type(condition) if condition else parent
            if not hasattr(owner, "fields"):  # a union: only __typename sits outside its fragments
                continue
            key = node.alias.value if node.alias else node.name.value
            value = data.get(key) if isinstance(data, dict) else None
            by_condition[condition] = by_condition.get(condition, 0) + self._field_cost(owner, node, value, requested)
        unconditional = by_condition.pop(None, 0)
        return unconditional + max(by_condition.values(), default=0)

    def _field_cost(self, owner: Any, node: FieldNode, value: Any, requested: bool) -> int:
        definition = owner.fields.get(node.name.value)
        if definition is None or node.selection_set is None:
            return 0
        field_type = get_named_type(definition.type)
        if is_leaf_type(field_type):
            return 0
        if field_type.name.endswith("Connection"):
            return self._connection_cost(field_type, node, value, requested)
        if not requested and value is None:
            return 0
        items = value if isinstance(value, list) else [value]
        if requested:
            return 1 + self._selection_cost(field_type, node.selection_set, None, requested=True)
        return sum(1 + self._selection_cost(field_type, node.selection_set, item, requested=False) for item in items)

    def _page_size(self, node: FieldNode) -> int:
        for argument in node.arguments:
            if argument.name.value in ("first", "last"):
                if isinstance(argument.value, IntValueNode):
                    return int(argument.value.value)
                if isinstance(argument.value, VariableNode):
                    return int(self.variables.get(argument.value.name.value) or 0)
        return 1

    def _connection_cost(self, connection_type: Any, node: FieldNode, value: Any, requested: bool) -> int:
        assert node.selection_set is not None
        node_type = get_named_type(connection_type.fields["nodes"].type)
        node_selections = [
            (inner.selection_set, key)
            for field, _ in self._fields(node.selection_set)
            if field.selection_set is not None
            for inner, key in self._node_selections(field)
        ]
        if requested:
            per_node = max(
                (
                    1 + self._selection_cost(node_type, selection, None, requested=True)
                    for selection, _ in node_selections
                ),
                default=1,
            )
            return CONNECTION_COST + self._page_size(node) * per_node
        if value is None:
            return 0
        nodes = value.get("nodes") or [edge.get("node") for edge in value.get("edges") or []]
        per_node = [
            max(
                (
                    1 + self._selection_cost(node_type, selection, item, requested=False)
                    for selection, _ in node_selections
                ),
                default=1,
            )
            for item in nodes
        ]
        return CONNECTION_COST + sum(per_node)

    def _node_selections(self, field: FieldNode) -> list[tuple[FieldNode, str]]:
        """The `nodes { … }` field, or the `node { … }` inside `edges { … }`; pageInfo and cursors are free."""
        if field.name.value == "nodes":
            return [(field, "nodes")]
        if field.name.value == "edges" and field.selection_set is not None:
            return [
                (inner, "edges")
                for inner, _ in self._fields(field.selection_set)
                if inner.name.value == "node" and inner.selection_set is not None
            ]
        return []
