"""Problems in rule JSON: each located by an RFC 6901 JSON pointer, and the error that carries them all."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RuleIssue:
    """One problem in a rule: where (RFC 6901 JSON pointer; "" is the whole rule) and what."""

    pointer: str
    message: str

    def __str__(self) -> str:
        return f"{self.pointer or '/'}: {self.message}"


class RuleValidationError(ValueError):
    """A rule was refused; `issues` holds every problem found, each with its JSON pointer."""

    def __init__(self, issues: list[RuleIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(issue) for issue in issues))


def escape(key: str | int) -> str:
    """Return a key escaped for a JSON pointer (RFC 6901: ~ as ~0, / as ~1)."""
    return str(key).replace("~", "~0").replace("/", "~1")
