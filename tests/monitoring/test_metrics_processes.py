"""Metrics across real processes: gunicorn with two workers and a Huey worker write to one PROMETHEUS_MULTIPROC_DIR,
and the web's /monitoring/metrics sums them."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.paths import PROJECT_ROOT
from tests.test_processes import BIN, Processes, base_env, free_port, wait_for

pytestmark = pytest.mark.processes


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"http://127.0.0.1:{port}/monitoring/metrics", timeout=10).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_two_gunicorn_workers_and_the_huey_worker_are_summed(  # type: ignore[no-untyped-def]
    tmp_path: Path, database_url: str, redis_url: str, run_id: str, clean_state
) -> None:
    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    namespace = f"metrics-{run_id}"
    env = base_env(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        LOYALTY_REDIS_NAMESPACE=namespace,
        PROMETHEUS_MULTIPROC_DIR=str(multiproc),
        # huey_consumer, unlike gunicorn and flask, does not put the working directory on sys.path: without this a
        # shared virtual environment's editable install would run another checkout's code.
        PYTHONPATH=str(PROJECT_ROOT),
    )
    procs = Processes(env, tmp_path)
    port = free_port()
    try:
        procs.start("web", str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "2", "app:create_app()")
        procs.start("worker", str(BIN / "huey_consumer"), "app.tasks.huey", "--workers", "1", "--flush-locks")
        wait_for(f"http://127.0.0.1:{port}/monitoring/health", seconds=90)
        health = (
            "loyalty_http_requests_total",
            (("endpoint", "/monitoring/health"), ("method", "GET"), ("status", "2xx")),
        )
        # wait_for's own probes may still be answering on a busy machine (a probe it gave up on counts when it ends):
        # start counting once the figure holds still.
        before = scrape(port)[health]
        while True:
            time.sleep(1)
            settled = scrape(port)[health]
            if settled == before:
                break
            before = settled
        for _ in range(30):
            httpx.get(f"http://127.0.0.1:{port}/monitoring/health", timeout=10)
        # 30 answers shared by two workers: each alone knows only its part; every scrape shows the sum.
        assert [scrape(port)[health] - before for _ in range(4)] == [30] * 4

        procs.run(sys.executable, "-c", "from app.tasks.sweeps import recalculate_tiers; recalculate_tiers(0)")
        key = ("loyalty_tasks_total", (("outcome", "complete"), ("task", "recalculate_tiers")))
        deadline = time.monotonic() + 90  # the worker may still be starting on a busy machine
        while time.monotonic() < deadline and key not in scrape(port):
            time.sleep(0.5)
        assert scrape(port).get(key) == 1, procs.log("worker")
    finally:
        procs.stop()
