"""One place that maps errors to HTTP: JSON bodies `{"error": code, "message": ...}` with the right status."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import jsonify, request
from werkzeug.exceptions import HTTPException

from app.loyalty.base.errors import LoyaltyError, http_status

if TYPE_CHECKING:
    from flask import Flask, Response


def register_error_handlers(app: Flask) -> None:
    """HTTP errors (404, 405, 413, …) and domain errors answer with JSON the caller can act on."""

    @app.errorhandler(HTTPException)
    def handle_http_error(exc: HTTPException) -> tuple[Response, int]:
        status = exc.code or 500
        return jsonify(error=(exc.name or "error").lower().replace(" ", "_"), message=exc.description), status

    @app.errorhandler(LoyaltyError)
    def handle_loyalty_error(exc: LoyaltyError) -> tuple[Response, int]:
        app.logger.info("domain error on %s: %s", request.path, exc)
        return jsonify(error=type(exc).__name__, message=str(exc)), http_status(exc)
