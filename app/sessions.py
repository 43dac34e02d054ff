"""loyalty keeps no cookie session, so Flask is told not to look for one.

Every request proves who it is on its own: the embedded admin with Shopify's session token, webhooks with their HMAC,
the storefront with its token or the app proxy's signature. (The one cookie, the OAuth state of a non-managed install,
is signed and checked by `app.shopify.oauth` itself.) Flask's default interface would still build a signing
serializer and read the cookie header on every request, about 8% of a webhook's CPU, for a session nothing uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

from flask.sessions import NullSession, SessionInterface

if TYPE_CHECKING:
    from flask import Flask, Request


class NoSession(NullSession):
    """`flask.session` reads as empty; writing to it is a programming error, said as such."""

    def _refuse(self, *_args: Any, **_kwargs: Any) -> NoReturn:
        raise RuntimeError(
            "loyalty keeps no cookie session: authenticate the request itself (session token, HMAC, proxy signature)"
        )

    __setitem__ = __delitem__ = clear = pop = popitem = update = setdefault = _refuse


class NoSessions(SessionInterface):
    # A null session is never saved (Flask skips save_session for it): no Set-Cookie or Vary: Cookie on any answer.
    null_session_class = NoSession

    def open_session(self, app: Flask, request: Request) -> NoSession:
        return NoSession()
