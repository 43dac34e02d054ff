"""Bounds on what one storefront request may ask for.

The schema is shallow, but aliases let one request run `loyaltyProfile` or `redeemReward` hundreds of times
(alias batching: reliability.md §4.2, OWASP GraphQL cheat sheet), and a huge document costs parser time before any
check runs. So: at most MAX_ROOT_FIELDS root fields per operation, aliases counted, and MAX_TOKENS tokens.
"""

from __future__ import annotations

from typing import Any

from graphql import DocumentNode, GraphQLError, OperationDefinitionNode, parse
from graphql.validation import ValidationRule

MAX_ROOT_FIELDS = 5
MAX_TOKENS = 2_000


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


def parse_bounded(_context: Any, data: dict[str, Any]) -> DocumentNode:
    """Parse the query, refusing documents longer than MAX_TOKENS tokens before building them."""
    return parse(data["query"], max_tokens=MAX_TOKENS)
