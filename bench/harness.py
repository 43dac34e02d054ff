"""What the benchmarks and the crash soak share: the project's paths, free ports, servers started and stopped as
child processes, wrk runs read into figures, and a process's resident memory."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
# The same gunicorn settings for the app and for the bare endpoint it is compared with.
GUNICORN = ["--workers", "2", "--threads", "4", "--worker-class", "gthread", "--log-level", "warning"]

MINIMAL_APP = """
from flask import Flask
app = Flask(__name__)

@app.post("/min")
def minimal():
    return "ok"
"""


Figures = tuple[float, float, float]  # (requests/s, p50 ms, p99 ms), as wrk() gives them


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return  # it answers (405 for a GET on a POST route is fine)
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def wrk(url: str, seconds: int, script: Path, *, threads: int = 2, connections: int = 16) -> Figures:
    """(requests/s, p50 ms, p99 ms) of a wrk run (16 connections unless told), after a 3 s warm-up run."""

    def command(duration: int) -> list[str]:
        return ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(script), url]

    subprocess.run(command(3), capture_output=True, check=True)
    out = subprocess.run(command(seconds), capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non_2xx:
        raise RuntimeError(f"{non_2xx.group(1)} failed requests against {url}:\n{out}")
    return rate, _latency(out, "50%"), _latency(out, "99%")


def paired_rounds(
    baseline: Callable[[], Figures], measured: Callable[[], Figures], rounds: int, label: str
) -> tuple[float, Figures, Figures]:
    """Run the baseline and the measured endpoint in turn, `rounds` times, and return the median round's (ratio,
    baseline, measured): a burst of other work on the shared machine then weighs on both sides of a ratio, and one
    lucky or unlucky run does not make the figure. Each round is printed."""
    results = []
    for n in range(1, rounds + 1):
        h0, app = baseline(), measured()
        results.append((app[0] / h0[0], h0, app))
        print(
            f"R{n}    H0 {h0[0]:7,.0f} req/s p50 {h0[1]:6.2f} p99 {h0[2]:6.2f} ms | {label}"
            f" {app[0]:7,.0f} req/s p50 {app[1]:6.2f} p99 {app[2]:6.2f} ms | {app[0] / h0[0]:.2f}x"
        )
    return sorted(results, key=lambda result: result[0])[len(results) // 2]


def _latency(wrk_output: str, percentile: str) -> float:
    found = re.search(rf"{percentile}\s+([\d.]+)(us|ms|s)", wrk_output)
    assert found is not None, wrk_output
    return float(found.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[found.group(2)]


class Servers:
    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs, self.procs = env, logs, []

    def start(self, name: str, *command: str) -> subprocess.Popen[bytes]:
        log = open(self.logs / f"{name}.log", "wb")
        proc = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def stop(self, procs: list[subprocess.Popen[bytes]] | None = None) -> None:
        for proc in self.procs if procs is None else procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs if procs is None else procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0
