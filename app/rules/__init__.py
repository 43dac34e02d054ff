"""The rule engine: pure Python, facts in, decisions out (no database, no Flask)."""

from app.rules.compiled_rule import CompiledRule, compile_rule
from app.rules.engine import Evaluation, evaluate
from app.rules.facts import CustomerFacts, Facts, History, StaticHistory
from app.rules.issues import RuleIssue, RuleValidationError
from app.rules.json_schema import RULE_JSON_SCHEMA, schema_json
from app.rules.results import POINT_ACTIONS, Decision, RuleResult
from app.rules.rule_set import RuleSet
from app.rules.rule_validation import (
    Rule,
    StoredRuleCheck,
    check_stored_rule,
    parse_rule,
    parse_stored_rule,
    validate_rule,
)
from app.rules.trace import TraceNode, render_trace

__all__ = [
    "POINT_ACTIONS",
    "RULE_JSON_SCHEMA",
    "CompiledRule",
    "CustomerFacts",
    "Decision",
    "Evaluation",
    "Facts",
    "History",
    "Rule",
    "RuleIssue",
    "RuleResult",
    "RuleSet",
    "RuleValidationError",
    "StaticHistory",
    "StoredRuleCheck",
    "TraceNode",
    "check_stored_rule",
    "compile_rule",
    "evaluate",
    "parse_rule",
    "parse_stored_rule",
    "render_trace",
    "schema_json",
    "validate_rule",
]
