"""``SessionMiddleware``: an ASGI middleware that gives every browser a signed session id.

>>> signer = CookieSigner(b"k" * 32)
>>> value = signer.sign("abc")
>>> signer.verify(value), signer.verify("abc.forged"), signer.verify("junk")
('abc', None, None)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ..actors import Node
from ._ids import is_valid_id, new_id

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SCOPE_KEY = "beamish.session_id"
"""Where the middleware puts the session id in the ASGI scope."""

_MAX_COOKIE = 256  # an id (64) + "." + a signature (43); anything longer is not ours


class CookieSigner:
    """HMAC-SHA256 over the id: ``"<id>.<signature>"`` (url-safe base64, no padding)."""

    def __init__(self, secret: bytes | str) -> None:
        key = secret.encode() if isinstance(secret, str) else bytes(secret)
        if len(key) < 16:
            raise ValueError("the session secret must be at least 16 bytes (use 32 random ones)")
        self._key = key

    def _signature(self, session_id: str) -> str:
        digest = hmac.new(self._key, session_id.encode("ascii"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def sign(self, session_id: str) -> str:
        """The cookie value for ``session_id``."""
        return f"{session_id}.{self._signature(session_id)}"

    def verify(self, value: str) -> str | None:
        """The id in a cookie value this signer made; None for anything else."""
        if len(value) > _MAX_COOKIE:
            return None
        session_id, dot, signature = value.rpartition(".")
        if not dot or not is_valid_id(session_id):
            return None
        expected = self._signature(session_id)
        if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
            return None
        return session_id


def _cookie(headers: Any, name: str) -> str | None:
    """The value of cookie ``name`` in the request headers (the first one), or None."""
    wanted = name.encode("latin-1")
    for key, value in headers:
        if key.lower() != b"cookie" or len(value) > 8192:
            continue
        for part in value.split(b";"):
            cname, eq, cvalue = part.strip().partition(b"=")
            if eq and cname == wanted:
                return str(cvalue.strip().strip(b'"').decode("latin-1"))
    return None


class SessionMiddleware:
    """Give every HTTP and WebSocket client a session id, kept in a signed cookie.

    - A request without the cookie, or whose cookie is forged, malformed or signed with
      another secret, gets a fresh id (``new_id()``) and a ``Set-Cookie`` on its response:
      never an error page. A valid cookie keeps its id.
    - The cookie is ``HttpOnly``, ``SameSite=Lax``, ``Path=/``, and ``Secure`` when the
      request came over https (or wss).
    - The id is in ``scope["beamish.session_id"]`` for the app's HTTP and WebSocket
      handlers. The channels endpoint does not read it: give it ``session_cookie=`` and
      verify ``connect_info.session`` in ``Socket.connect`` with a ``CookieSigner`` of the
      same secret (the raw cookie is the client's word until verified).
    - With ``sessions=`` (a ``Sessions`` name), the middleware also starts the id's
      session (``exist_ok``) before the app runs, so handlers can ``call`` it. It runs on
      ``node=``, or on ``scope["state"]["node"]`` (where a lifespan that starts the node
      puts it); an error starting it (a limit) reaches the app as the exception.

    Example::

        app = SessionMiddleware(app, secret=os.environ["SESSION_SECRET"])

        async def handler(scope, receive, send):
            session_id = scope["beamish.session_id"]
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        secret: bytes | str,
        cookie: str = "beamish_session",
        max_age: int | None = None,
        sessions: str | None = None,
        node: Node | None = None,
    ) -> None:
        self.app = app
        self.signer = CookieSigner(secret)
        self.cookie = cookie
        self.max_age = max_age
        self.sessions = sessions
        self.node = node

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope.get("type")
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        raw = _cookie(scope.get("headers") or (), self.cookie)
        session_id = None if raw is None else self.signer.verify(raw)
        fresh = session_id is None
        if session_id is None:
            session_id = new_id()
        scope = dict(scope)
        scope[SCOPE_KEY] = session_id
        if self.sessions is not None:
            await self._start(session_id, scope)
        if not fresh:
            await self.app(scope, receive, send)
            return
        header = self._set_cookie(session_id, scope.get("scheme") in ("https", "wss"))
        start_message = "http.response.start" if kind == "http" else "websocket.accept"

        async def send_with_cookie(message: Message) -> None:
            if message.get("type") == start_message:
                message = dict(message)
                message["headers"] = [*(message.get("headers") or ()), (b"set-cookie", header)]
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _set_cookie(self, session_id: str, secure: bool) -> bytes:
        parts = [
            f"{self.cookie}={self.signer.sign(session_id)}",
            "Path=/",
            "HttpOnly",
            "SameSite=Lax",
        ]
        if self.max_age is not None:
            parts.append(f"Max-Age={int(self.max_age)}")
        if secure:
            parts.append("Secure")
        return "; ".join(parts).encode("latin-1")

    async def _start(self, session_id: str, scope: Scope) -> None:
        from ._api import start

        assert self.sessions is not None
        node = self.node or (scope.get("state") or {}).get("node")
        if node is None:  # the lifespan has not started the node (yet): the app will say so
            return
        with node:
            await start(session_id, exist_ok=True, sessions=self.sessions)
