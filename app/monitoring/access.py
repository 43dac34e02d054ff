"""Who may read the non-health monitoring endpoints: the MONITORING_TOKEN bearer, or, with no token set outside
production, only this machine (loopback). Health stays open for load balancers and probes."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps
from ipaddress import ip_address
from typing import Any

from flask import current_app, jsonify, request


def _is_loopback(address: str | None) -> bool:
    try:
        return address is not None and ip_address(address).is_loopback
    except ValueError:
        return False


def refusal() -> tuple[Any, int] | None:
    """None when the request may read monitoring data; else the JSON refusal and its status."""
    settings = current_app.config["SETTINGS"]
    token = settings.monitoring_token
    if token:
        offered = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if offered and hmac.compare_digest(offered.encode(), token.encode()):
            return None
        return jsonify(error="unauthorized", message="send Authorization: Bearer <MONITORING_TOKEN>"), 401
    if settings.is_production:
        return jsonify(error="forbidden", message="set MONITORING_TOKEN to read monitoring data in production"), 403
    if _is_loopback(request.remote_addr):
        return None
    return jsonify(error="forbidden", message="without MONITORING_TOKEN only this machine may read this"), 403


def monitoring_access_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        refused = refusal()
        return refused if refused is not None else view(*args, **kwargs)

    return guarded
