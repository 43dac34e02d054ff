"""loyalty keeps no cookie session: every request authenticates itself (session token, HMAC, proxy signature)."""

from __future__ import annotations

import pytest
from flask import session
from flask.sessions import SecureCookieSessionInterface


def test_a_session_cookie_is_not_read_and_the_session_cannot_be_written(app) -> None:  # type: ignore[no-untyped-def]
    # A cookie Flask's default interface would accept: signed with the app's own secret key.
    signed = SecureCookieSessionInterface().get_signing_serializer(app).dumps({"staff": "7"})
    with app.test_request_context("/", headers={"Cookie": f"session={signed}"}):
        assert dict(session) == {}
        with pytest.raises(RuntimeError, match="no cookie session"):
            session["staff"] = "8"
