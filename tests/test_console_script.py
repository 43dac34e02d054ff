"""The `loyalty` console script (app.cli): flask's commands with the app chosen, from a plain shell."""

from __future__ import annotations

import os
import subprocess
import sys

from app.paths import PROJECT_ROOT


def loyalty(*args: str, **environment: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in ("FLASK_APP", "VIRTUAL_ENV")}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=PROJECT_ROOT,
        env={**env, **environment},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_embedded_stop_starts_nothing_to_stop_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = loyalty("embedded", "stop", LOYALTY_INSTANCE_PATH=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert f"{tmp_path}: nothing was running" in result.stdout
    assert list(tmp_path.iterdir()) == []  # no embedded server was started under it
    assert "DATABASE_URL unset" not in result.stdout + result.stderr


def test_app_commands_run_without_flask_app_and_without_warning_noise(database_url, redis_url, redis_namespace) -> None:  # type: ignore[no-untyped-def]
    result = loyalty(
        "webhooks",
        "--help",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        LOYALTY_REDIS_NAMESPACE=redis_namespace,
        APP_ENV="test",
    )
    assert result.returncode == 0, result.stderr
    assert "rotate-secret" in result.stdout
    assert result.stderr == ""
