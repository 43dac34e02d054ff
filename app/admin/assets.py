"""Static files under names that change with their content, so browsers may keep them for a year.

`asset("js/admin.js")` in a template is `/static/js/admin.js?v=<digest of the file>`; a response to a static request
that carries `v` is marked cacheable for a year and immutable. A changed file gets a new digest, so a new URL (the
digest is taken once per process: files do not change under a running app).
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from flask import current_app, request, url_for
from werkzeug.wrappers import Response

YEAR_S = 365 * 24 * 3600


def asset(filename: str) -> str:
    return url_for("static", filename=filename, v=_digest(current_app.static_folder or "", filename))


@cache
def _digest(folder: str, filename: str) -> str:
    return hashlib.sha256((Path(folder) / filename).read_bytes()).hexdigest()[:16]


def cache_versioned_assets(response: Response) -> Response:
    """after_request: a versioned static file may be cached for a year; anything else keeps its headers."""
    if request.endpoint == "static" and request.args.get("v") and response.status_code == 200:
        response.headers["Cache-Control"] = f"public, max-age={YEAR_S}, immutable"
    return response
