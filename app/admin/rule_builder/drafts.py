"""The draft an editor request carries: read from the visual form or from the JSON tab, its problems by JSON
pointer, and the problems placed in the editor's slots (each next to the field it is about)."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from app.admin.rule_builder.form_codec import MAX_DEPTH, FormError, decode_form
from app.rules import RuleIssue, parse_rule, validate_rule
from app.rules.value_checks import text_issues
from app.rules.values import LONE_SURROGATE

SOURCES = ("form", "json")
TOO_DEEP = f"nested too deeply (more than {MAX_DEPTH} levels of objects and lists)"
SLOT = re.compile(r'data-slot="([^"]*)"')


@dataclass
class Draft:
    """The rule being edited: `definition` as given (possibly invalid), the tab it came from, the JSON tab's text,
    and `refused` when the text could not be read as JSON (then `definition` is None; so is the JSON `null`, which
    refuses nothing here and is the validator's to refuse)."""

    definition: Any
    source: str = "form"
    json_text: str = ""
    refused: list[RuleIssue] = field(default_factory=list)


def read_draft(form: Any) -> Draft:
    """The draft in an editor request (a werkzeug MultiDict): the JSON tab's text, else the visual form's fields."""
    source = form.get("source", "form")
    if source not in SOURCES:
        return Draft(None, "json", "", [RuleIssue("", f"unknown editor source {source!r}; expected form or json")])
    if source == "json":
        return draft_from_json(form.get("rule_json", ""))
    try:
        definition = decode_form(form.items(multi=True))
    except FormError as error:
        return Draft(None, "json", "", [RuleIssue("", f"the form could not be read: {error}")])
    return Draft(definition, "form", as_json(definition))


def draft_from_json(text: str) -> Draft:
    """A draft pasted into the JSON tab (or an event pasted to try a rule on); text that cannot be read is kept, with
    why: where the JSON broke, or that it nests deeper than anything the builder shows and walks (whose recursion
    such a document would exhaust), or that a number is too long for int() to read."""
    try:
        definition = json.loads(text)
    except json.JSONDecodeError as error:
        message = f"not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        return Draft(None, "json", text, [RuleIssue("", message)])
    except RecursionError:  # json.loads itself recurses: past Python's limit, far past MAX_DEPTH
        return Draft(None, "json", text, [RuleIssue("", TOO_DEEP)])
    except ValueError:  # the only other refusal of json.loads: an integer of more digits than int() reads
        message = f"unreadable: a number has more than {sys.get_int_max_str_digits():,} digits"
        return Draft(None, "json", text, [RuleIssue("", message)])
    if _deeper_than(definition, MAX_DEPTH):
        return Draft(None, "json", text, [RuleIssue("", TOO_DEEP)])
    return Draft(definition, "json", text)


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether JSON nests objects and lists more than `limit` levels deep (walked with a stack of its own)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return False


def as_json(definition: Any) -> str:
    """The JSON tab's text for a definition. A lone surrogate stays an escape (`\\ud800`), as it was pasted: the page
    could not be encoded with it raw, and the validator points at it."""
    text = json.dumps(definition, indent=2, ensure_ascii=False)
    return LONE_SURROGATE.sub(lambda found: f"\\u{ord(found.group()):04x}", text)


def shown_in(draft: Draft, source: str) -> Draft:
    """The draft switched to the other tab. The visual form shows only what the rule language has words for: JSON
    with unknown keys (or not an object, or with text no form field can carry: see form_fits) stays in the JSON tab,
    its problems saying why."""
    if source == "json" or draft.definition is None:
        text = draft.json_text if draft.definition is None else as_json(draft.definition)
        return Draft(draft.definition, "json", text, draft.refused)
    issues = validate_rule(draft.definition)
    if not form_fits(draft.definition) or any(issue.message.startswith("unknown key") for issue in issues):
        return Draft(draft.definition, "json", draft.json_text or as_json(draft.definition), draft.refused)
    # A valid rule shows with the language's defaults filled in (operators, event types, status), as it is stored.
    definition = draft.definition if issues else parse_rule(draft.definition).definition
    return Draft(definition, "form", as_json(definition))


def form_fits(definition: Any) -> bool:
    """Whether the visual form can show the definition: an object whose every string an input can hold (a NUL or a
    lone surrogate cannot be put on the page, nor come back from it)."""
    return isinstance(definition, dict) and not text_issues(definition)


def issues_of(draft: Draft, extra: Iterable[RuleIssue] = ()) -> list[RuleIssue]:
    """Every problem of the draft: JSON that could not be read, else the validator's, then the caller's (e.g. a name
    already taken)."""
    if draft.refused:
        return list(draft.refused)
    return [*validate_rule(draft.definition), *extra]


def slots_in(html: str) -> list[str]:
    """The problem slots an editor rendering has, by the JSON pointer each stands for."""
    return SLOT.findall(html)


def by_slot(issues: Iterable[RuleIssue], slots: Iterable[str], *, source: str = "form") -> dict[str, list[str]]:
    """Each problem in the slot of the deepest rendered place that contains it (a missing key goes to its object);
    in the JSON tab every problem goes to the top, named by its pointer."""
    available = set(slots)
    placed: dict[str, list[str]] = {}
    for issue in issues:
        if source == "json":
            placed.setdefault("", []).append(str(issue))
            continue
        pointer = issue.pointer
        while pointer not in available and pointer:
            pointer = pointer.rpartition("/")[0]
        text = issue.message if pointer == issue.pointer else f"{issue.pointer[len(pointer) + 1 :]}: {issue.message}"
        placed.setdefault(pointer, []).append(text)
    return placed
