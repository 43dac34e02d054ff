"""Rules as the shop stores and runs them: immutable versions, diffs and restores, the cached active rule set,
the facts and history the engine asks for, recorded executions, and the what-ifs (dry runs, backtests) and
retroactive runs over the shop's past events. The pure engine itself is `app.rules`."""

from app.loyalty.rulebook.backtest_runs import (
    BacktestCancelled,
    cancel_backtest,
    claim_backtest,
    fail_stalled_backtests,
    find_backtest,
    finish_backtest,
    queue_backtest,
    recent_backtests,
    record_progress,
)
from app.loyalty.rulebook.backtesting import BacktestResult, backtest
from app.loyalty.rulebook.executions import record_executions
from app.loyalty.rulebook.facts import EVENT_DAYS
from app.loyalty.rulebook.retroactive import (
    RetroResult,
    RetroReversal,
    claim_retroactive_run,
    continue_retroactive_run,
    count_retroactive_events,
    fail_retroactive_run,
    find_retroactive_run,
    finish_retroactive_run,
    latest_retroactive_run,
    queue_retroactive_run,
    request_undo,
    retroactive_run,
    reverse_retroactive_run,
    stalled_retroactive_runs,
)
from app.loyalty.rulebook.simulation import dry_run
from app.loyalty.rulebook.starter_rules import FIRST_ORDER_BONUS, TEMPLATES
from app.loyalty.rulebook.store import (
    RuleNotFound,
    active_rules,
    current_versions,
    get_version,
    listens_to,
    version_summary,
)
from app.loyalty.rulebook.versions import SaveResult, diff_versions, restore_version, save_rule

__all__ = [
    "EVENT_DAYS",
    "FIRST_ORDER_BONUS",
    "TEMPLATES",
    "BacktestCancelled",
    "BacktestResult",
    "RetroResult",
    "RetroReversal",
    "RuleNotFound",
    "SaveResult",
    "active_rules",
    "listens_to",
    "backtest",
    "cancel_backtest",
    "claim_backtest",
    "find_backtest",
    "fail_stalled_backtests",
    "finish_backtest",
    "queue_backtest",
    "recent_backtests",
    "record_progress",
    "current_versions",
    "diff_versions",
    "dry_run",
    "get_version",
    "record_executions",
    "restore_version",
    "claim_retroactive_run",
    "continue_retroactive_run",
    "count_retroactive_events",
    "fail_retroactive_run",
    "find_retroactive_run",
    "finish_retroactive_run",
    "latest_retroactive_run",
    "queue_retroactive_run",
    "request_undo",
    "retroactive_run",
    "reverse_retroactive_run",
    "stalled_retroactive_runs",
    "save_rule",
    "version_summary",
]
