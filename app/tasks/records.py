"""Where the worker records its tasks for /monitoring/tasks: a leaf module, so the web process reads them without
loading Huey's instance or the task modules (which build a Flask app of their own)."""

from __future__ import annotations


def queue_name(namespace: str) -> str:
    """The Huey instance's name, which its Redis keys are built from."""
    return f"{namespace}:tasks"


def last_runs_key(namespace: str) -> str:
    """Hash: task name -> its last run as JSON (at, outcome, duration_s, error)."""
    return f"{queue_name(namespace)}:last-runs"


def failed_key(namespace: str) -> str:
    """List, newest first: failures with no retry left, each with Huey's serialized message for a retry."""
    return f"{queue_name(namespace)}:failed"


def periodic_key(namespace: str) -> str:
    """Set: the periodic tasks the worker runs (written when it starts)."""
    return f"{queue_name(namespace)}:periodic"
