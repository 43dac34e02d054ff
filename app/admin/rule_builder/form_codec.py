"""Rule JSON as an HTML form and back: every value is one form field named by its JSON pointer.

The editor renders each value as an input named by the value's JSON pointer, next to a hidden `kind:<pointer>`
field that says how to read it back (or a select with that name, where the merchant picks the kind). Containers get
a `kind:` field too (`{}` an object, `[]` a list), so an empty list or group survives the trip. Reading the form
back is generic: it knows nothing of the rule language, so whatever the editor renders comes back as it was, and
what the merchant typed wrong comes back as typed for the engine's validator to point at.

Kinds: `str`; `int` (digits read as an integer, anything else kept as typed); `num` (an integer, else a decimal
number, else kept as typed); `bool` (`true`/`false`); `[]`, `{}`; `days` (every checked box, a list of strings, for
weekday toggles). A trailing `?` makes a field optional: left empty (or an empty container), it is left out.
Where the merchant picks how a value reads (an order field compared as text, number or yes/no), a `kind-of:<pointer>`
field overrides the kind of every scalar at or under that pointer.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

from app.rules.values import is_ascii_digits

# The deepest a field may sit (segments of its pointer), as a draft's JSON may nest: far past a rule's deepest, its
# 16 levels of groups (about 35), and far short of what reading the form back (recursive) could not finish.
MAX_DEPTH = 64
KIND_PREFIX = "kind:"
OVERRIDE_PREFIX = "kind-of:"
SCALAR_KINDS = ("str", "int", "num", "bool")
CONTAINER_KINDS = ("[]", "{}", "days")
INTEGER_TEXT = re.compile(r"^-?\d+$")
DECIMAL_TEXT = re.compile(r"^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


class FormError(ValueError):
    """The form's fields do not describe a rule (a field named outside any JSON pointer, an unknown kind)."""


def field_kind(declared: str, value: Any) -> str:
    """The kind a value is rendered with: numbers and booleans keep the kind the language declares for the field;
    ids and free-form values (`id`, `scalar`) keep the kind they have, so a string id stays a string."""
    optional = declared.endswith("?")
    base = declared.rstrip("?")
    if base == "id":
        base = "int" if isinstance(value, int) and not isinstance(value, bool) else "str"
    elif base == "scalar":
        if isinstance(value, bool):
            base = "bool"
        elif isinstance(value, (int, float)):
            base = "num"
        else:
            base = "str"
    return base + ("?" if optional else "")


def shown(value: Any) -> str:
    """A scalar as the text its input holds (booleans as true/false, absent as empty)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def decode_form(items: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """The rule the form's fields describe; FormError for fields that do not name a place in a rule."""
    pairs = list(items)
    values: dict[str, list[str]] = {}
    for name, value in pairs:
        values.setdefault(name, []).append(value)
    overrides = {name[len(OVERRIDE_PREFIX) :]: kind for name, kind in pairs if name.startswith(OVERRIDE_PREFIX)}
    root: dict[str, Any] = {}
    for name, kind in pairs:
        if not name.startswith(KIND_PREFIX):
            continue
        pointer = name[len(KIND_PREFIX) :]
        optional = kind.endswith("?")
        base = kind.rstrip("?")
        if base not in SCALAR_KINDS + CONTAINER_KINDS:
            raise FormError(f"field {name!r} has an unknown kind {kind!r}")
        if pointer and not pointer.startswith("/"):
            raise FormError(f"field {name!r} does not name a JSON pointer")
        if pointer.count("/") > MAX_DEPTH:
            raise FormError(f"field {_short(name)!r} is nested too deeply (more than {MAX_DEPTH} levels)")
        if base in ("[]", "{}"):
            _place(root, pointer, _Container(base, optional))
            continue
        override = _override(overrides, pointer)
        if override is not None and base in SCALAR_KINDS:
            if override not in SCALAR_KINDS:
                raise FormError(f"field {OVERRIDE_PREFIX}{pointer} has an unknown kind {override!r}")
            base = override
        if base == "days":
            _place(root, pointer, list(values.get(pointer, [])))
            continue
        raw = values.get(pointer, [""])[-1]
        if optional and raw.strip() == "":
            continue
        _place(root, pointer, _read(base, raw))
    return _finish(root.get("", {}))


def _short(name: str) -> str:
    """A field's name as a message quotes it: a long one cut, as nobody reads thousands of characters of it."""
    return name if len(name) <= 60 else name[:60] + "…"


def _override(overrides: dict[str, str], pointer: str) -> str | None:
    for prefix, kind in overrides.items():
        if pointer == prefix or pointer.startswith(prefix + "/"):
            return kind
    return None


class _Container:
    """A container named by a `kind:` field: its children are added as they come, then it is finished."""

    def __init__(self, kind: str, optional: bool) -> None:
        self.kind, self.optional = kind, optional
        self.children: dict[str, Any] = {}


def _read(kind: str, raw: str) -> Any:
    text = raw.strip()
    if kind in ("int", "num") and INTEGER_TEXT.match(text) and is_ascii_digits(text.removeprefix("-")):
        return int(text)  # digits int() reads: more than 4,300 stay as typed, for the validator to refuse
    if kind == "num":
        if DECIMAL_TEXT.match(text) and math.isfinite(float(text)):
            return float(text)
    if kind == "bool" and text in ("true", "false"):
        return text == "true"
    return raw


def _segments(pointer: str) -> list[str]:
    return [part.replace("~1", "/").replace("~0", "~") for part in pointer.split("/")[1:]]


def _place(root: dict[str, Any], pointer: str, value: Any) -> None:
    """Put a value at its pointer, under the containers its parent fields declared (or implied ones)."""
    if pointer == "":
        if isinstance(value, _Container) and "" in root:
            return
        root[""] = value
        return
    parent: Any = root.setdefault("", _Container("{}", False))
    parts = _segments(pointer)
    for index, part in enumerate(parts):
        if not isinstance(parent, _Container):
            raise FormError(f"field {pointer!r} is inside a value that is not an object or a list")
        if index == len(parts) - 1:
            existing = parent.children.get(part)
            if isinstance(value, _Container) and isinstance(existing, _Container):
                existing.kind, existing.optional = value.kind, value.optional
            else:
                parent.children[part] = value
            return
        implied = "[]" if is_ascii_digits(parts[index + 1]) else "{}"
        parent = parent.children.setdefault(part, _Container(implied, False))


_OMITTED = object()


def _finish(node: Any) -> Any:
    if not isinstance(node, _Container):
        return node
    children = {key: _finish(child) for key, child in node.children.items()}
    children = {key: child for key, child in children.items() if child is not _OMITTED}
    if node.optional and not children:
        return _OMITTED
    if node.kind == "[]":
        if not all(is_ascii_digits(key) for key in children):
            raise FormError("a list's fields must be numbered")
        return [children[key] for key in sorted(children, key=int)]
    return children
