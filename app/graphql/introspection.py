"""Is an operation only introspection? The storefront's depth and cost limits exempt such documents.

Introspection (GraphiQL's schema query nests `ofType` seven levels deep) is refused outright by graphql-core when it
is off (production, unless LOYALTY_GRAPHQL_INTROSPECTION says otherwise), so exempting it from the depth and cost
limits opens nothing where it is off, and lets the explorer load its schema where it is on. The token limit still
bounds such a document's size.
"""

from __future__ import annotations

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)

INTROSPECTION_ROOT_FIELDS = frozenset({"__schema", "__type", "__typename"})


def introspection_only(document: DocumentNode) -> bool:
    """True when every operation of the document selects only __schema, __type and __typename at its root
    (fragments spread at the root followed)."""
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    return bool(operations) and all(_root_is_introspection(op.selection_set, fragments, set()) for op in operations)


def _root_is_introspection(
    selections: SelectionSetNode, fragments: dict[str, FragmentDefinitionNode], seen: set[str]
) -> bool:
    for selection in selections.selections:
        if isinstance(selection, FieldNode):
            if selection.name.value not in INTROSPECTION_ROOT_FIELDS:
                return False
        elif isinstance(selection, InlineFragmentNode):
            if not _root_is_introspection(selection.selection_set, fragments, seen):
                return False
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in seen or name not in fragments:
                return False
            if not _root_is_introspection(fragments[name].selection_set, fragments, seen | {name}):
                return False
    return True
