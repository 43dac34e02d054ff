"""Persisted operations: the documents the extensions and the theme widget send are known when they are built
(`extensions/shared/operations/*.graphql`), so they are parsed and validated once here and accepted by their
SHA-256 (Apollo's `extensions.persistedQuery.sha256Hash`, or `id`). A client that sends the full text of one of them
(whitespace aside) gets the same cached parse. Any other document is parsed and validated per request, within the
limits.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from graphql import DocumentNode, GraphQLSchema, OperationDefinitionNode, parse, validate

from app.graphql.limits import VALIDATION_RULES
from app.paths import PROJECT_ROOT

OPERATIONS_DIR = PROJECT_ROOT / "extensions" / "shared" / "operations"


@dataclass(frozen=True)
class PersistedOperation:
    name: str
    text: str
    sha256: str
    document: DocumentNode
    is_query: bool


def sha256_of(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _spaced(text: str) -> str:
    """The document with every run of whitespace made one space (the persisted files hold no string literals, so
    this cannot make another document equal to one of them)."""
    return " ".join(text.split())


class PersistedOperations:
    def __init__(self, schema: GraphQLSchema, directory: Path = OPERATIONS_DIR) -> None:
        from graphql import specified_rules

        self._by_hash: dict[str, PersistedOperation] = {}
        self._by_text: dict[str, PersistedOperation] = {}
        for path in sorted(directory.glob("*.graphql")):
            text = path.read_text()
            document = parse(text)
            errors = validate(schema, document, rules=(*specified_rules, *VALIDATION_RULES))
            if errors:  # a broken operation file is a build error, never a runtime surprise
                raise ValueError(f"{path.name} does not validate against the schema: {errors[0].message}")
            (operation,) = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
            if '"' in text:
                raise ValueError(f"{path.name}: persisted operations take values as variables, not string literals")
            persisted = PersistedOperation(
                name=path.stem,
                text=text,
                sha256=sha256_of(text),
                document=document,
                is_query=operation.operation.value == "query",
            )
            self._by_hash[persisted.sha256] = persisted
            self._by_text[_spaced(text)] = persisted
        self.documents = frozenset(id(op.document) for op in self._by_hash.values())

    def by_hash(self, sha256: str) -> PersistedOperation | None:
        return self._by_hash.get(sha256)

    def by_text(self, text: str) -> PersistedOperation | None:
        return self._by_text.get(_spaced(text))

    def by_name(self, name: str) -> PersistedOperation:
        return next(op for op in self._by_hash.values() if op.name == name)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._by_hash.values())
