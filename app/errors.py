"""One place that maps domain errors to HTTP statuses and messages (JSON for API callers, HTML for pages)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import jsonify, request
from werkzeug.exceptions import HTTPException

if TYPE_CHECKING:
    from flask import Flask, Response


class AppError(Exception):
    """An error with an HTTP status and a message safe to show the caller."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code


def _status_for_domain_error(exc: Exception) -> int:
    from app.loyalty import errors as loyalty_errors

    return loyalty_errors.http_status(exc)


def register_error_handlers(app: Flask) -> None:
    """JSON error bodies `{"error": code, "message": ...}` everywhere; the admin's HTML pages get templates later."""

    @app.errorhandler(AppError)
    def handle_app_error(exc: AppError) -> tuple[Response, int]:
        return jsonify(error=exc.code, message=exc.message), exc.status

    @app.errorhandler(HTTPException)
    def handle_http_error(exc: HTTPException) -> tuple[Response, int]:
        status = exc.code or 500
        return jsonify(error=(exc.name or "error").lower().replace(" ", "_"), message=exc.description), status

    from app.loyalty.errors import LoyaltyError

    @app.errorhandler(LoyaltyError)
    def handle_loyalty_error(exc: LoyaltyError) -> tuple[Response, int]:
        status = _status_for_domain_error(exc)
        app.logger.info("domain error on %s: %s", request.path, exc)
        return jsonify(error=type(exc).__name__, message=str(exc)), status
