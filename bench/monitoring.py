"""Benchmark: what observability costs per event, against baselines measured in the same run.

Run: python bench/monitoring.py [--events N]

Prints microseconds per call and ratios for:
- recording one processed event's metrics (counter + two histograms + the rule-evaluation histogram), in-process
  and in prometheus_client's multiprocess mode (a child process with PROMETHEUS_MULTIPROC_DIR), against serialising
  the event's envelope to JSON (work every event already pays when it is published);
- signing one outbound webhook body (HMAC-SHA256 over timestamp and body), against serialising that body.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from time import perf_counter

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

EVENT = {
    "event_id": "7a1c3f4e-58b2-4d6a-9f1e-0c2b3a4d5e6f",
    "event_type": "order_created",
    "shop_domain": "store.myshopify.com",
    "customer_id": "115310627314723954",
    "event_data": {"id": "820982911946154508", "total_price": "150.00", "line_items": [{"sku": "A", "quantity": 1}]},
    "timestamp": "2026-01-15T10:00:00Z",
}

RECORD = """
import json, sys
from time import perf_counter
from app.monitoring.metrics import record_event, record_rule_evaluation
n = int(sys.argv[1])
start = perf_counter()
for _ in range(n):
    record_event("order_created", "processed", seconds=0.004, age_s=0.2)
    record_rule_evaluation(0.0007)
print(json.dumps((perf_counter() - start) / n))
"""


def per_call(function, n: int) -> float:  # type: ignore[no-untyped-def]
    function()
    start = perf_counter()
    for _ in range(n):
        function()
    return (perf_counter() - start) / n


def record_in_child(n: int, multiproc: str | None) -> float:
    env = {key: value for key, value in os.environ.items() if key != "PROMETHEUS_MULTIPROC_DIR"}
    if multiproc:
        env["PROMETHEUS_MULTIPROC_DIR"] = multiproc
    out = subprocess.run([sys.executable, "-c", RECORD, str(n)], cwd=ROOT, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    return float(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    n = parser.parse_args().events

    from app.integrations import signing

    envelope_json = per_call(lambda: json.dumps(EVENT), n)
    single = record_in_child(n, None)
    with tempfile.TemporaryDirectory() as folder:
        multi = record_in_child(n, folder)
    body = json.dumps({"data": EVENT, "topic": "points.earned", "version": 1}, separators=(",", ":"), sort_keys=True)
    serialise = per_call(
        lambda: json.dumps(
            {"data": EVENT, "topic": "points.earned", "version": 1}, separators=(",", ":"), sort_keys=True
        ),
        n,
    )
    sign = per_call(lambda: signing.signature("lwhsec_" + "x" * 43, 1772465400, body.encode()), n)

    rows = [
        ("baseline, JSON of one event envelope", envelope_json, None),
        ("metrics of one event, in-process", single, envelope_json),
        ("metrics of one event, multiprocess mode", multi, envelope_json),
        ("baseline, JSON of one webhook body", serialise, None),
        ("HMAC-SHA256 signature of that body", sign, serialise),
    ]
    print(f"events: {n}")
    for label, seconds, baseline in rows:
        ratio = f"  ({seconds / baseline:.2f}x baseline)" if baseline else ""
        print(f"{label:<42} {seconds * 1e6:8.2f} us{ratio}")


if __name__ == "__main__":
    main()
