"""What the Redis streams hold now: per partition and consumer group, length, lag, pending, consumers, dead letters.

Partitions are found rather than assumed: every stream key under `<namespace>:events` is one
(`<namespace>:events:{<namespace>:<n>}`, app/events/stream.py), so one left over from a larger
LOYALTY_STREAM_PARTITIONS still shows its backlog; a key ending in `:dead` is a partition's dead-letter stream. Each
configured partition also shows the stream process holding its lease (None: nobody reads it right now).
"""

from __future__ import annotations

import time
from typing import Any

import redis

from app.events.stream import StreamKeys


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _id_age_s(stream_id: str, now_ms: int) -> float:
    """Age of a stream entry from the milliseconds part of its id (Redis stamps entries with its clock)."""
    return round(max(now_ms - int(stream_id.split("-")[0]), 0) / 1000, 3)


def stream_keys(client: redis.Redis, namespace: str) -> tuple[list[str], list[str]]:
    """(partitions, dead-letter streams), sorted."""
    base = f"{namespace}:events"
    found = {_text(key) for key in client.scan_iter(match=f"{base}*", _type="STREAM", count=1000)}
    found = {key for key in found if key == base or key.startswith(base + ":")}
    dead = sorted(key for key in found if key.endswith(":dead"))
    return sorted(found - set(dead)), dead


def group_state(client: redis.Redis, key: str, group: dict[Any, Any], now_ms: int) -> dict[str, Any]:
    """One consumer group of one partition: lag, pending with the oldest entry's age, and its consumers."""
    name = _text(group["name"])
    lag = group.get("lag")
    state: dict[str, Any] = {
        "name": name,
        "pending": int(group["pending"]),
        "lag": None if lag is None else int(lag),  # Redis 7 reports it; 6.2 does not
        "last_delivered_id": _text(group["last-delivered-id"]),
        "oldest_pending": None,
        "consumers": [],
    }
    if state["pending"]:
        oldest = client.xpending_range(key, name, min="-", max="+", count=1)[0]
        stream_id = _text(oldest["message_id"])
        state["oldest_pending"] = {
            "id": stream_id,
            "age_s": _id_age_s(stream_id, now_ms),
            "idle_s": round(int(oldest["time_since_delivered"]) / 1000, 3),
            "deliveries": int(oldest["times_delivered"]),
            "consumer": _text(oldest["consumer"]),
        }
    for consumer in client.xinfo_consumers(key, name):
        state["consumers"].append(
            {
                "name": _text(consumer["name"]),
                "pending": int(consumer["pending"]),
                "idle_s": round(int(consumer["idle"]) / 1000, 3),
            }
        )
    return state


def stream_info(client: redis.Redis, namespace: str) -> dict[str, Any]:
    """Every partition with its groups, and every dead-letter stream with its length and newest entry's age."""
    now_ms = int(time.time() * 1000)
    partitions, dead = stream_keys(client, namespace)
    leases = {partition.events: partition.lease for partition in StreamKeys.for_namespace(namespace).partitions}
    report: dict[str, Any] = {"partitions": [], "dead_letters": []}
    for key in partitions:
        groups = client.xinfo_groups(key)
        holder = client.get(leases[key]) if key in leases else None
        report["partitions"].append(
            {
                "stream": key,
                "length": client.xlen(key),
                "holder": None if holder is None else _text(holder),
                "groups": [group_state(client, key, group, now_ms) for group in groups],
            }
        )
    for key in dead:
        newest = client.xrevrange(key, count=1)
        report["dead_letters"].append(
            {
                "stream": key,
                "length": client.xlen(key),
                "newest_age_s": _id_age_s(_text(newest[0][0]), now_ms) if newest else None,
            }
        )
    return report


def totals(report: dict[str, Any]) -> dict[str, int]:
    """Lag, pending and dead letters summed over partitions and groups (what alerts and gauges watch)."""
    groups = [group for partition in report["partitions"] for group in partition["groups"]]
    return {
        "length": sum(partition["length"] for partition in report["partitions"]),
        "lag": sum(group["lag"] or 0 for group in groups),
        "pending": sum(group["pending"] for group in groups),
        "dead_letters": sum(dead["length"] for dead in report["dead_letters"]),
        "oldest_pending_age_s": max(
            (group["oldest_pending"]["age_s"] for group in groups if group["oldest_pending"]), default=0
        ),
    }
