"""What the transports share at connect time: headers, ``ConnectInfo``, origin and ``vsn``.

>>> scope = {"type": "websocket", "scheme": "ws", "path": "/socket/websocket",
...          "query_string": b"user=ann&vsn=2.0.0", "headers": [(b"host", b"h:1")],
...          "client": ("127.0.0.1", 5000), "server": ("h", 1)}
>>> info = connect_info(scope, "websocket", parse_params(scope["query_string"]), None, None)
>>> info.params, info.peer, info.uri
({'user': 'ann'}, ('127.0.0.1', 5000), 'ws://h:1/socket/websocket?user=ann&vsn=2.0.0')
"""

from __future__ import annotations

from http.cookies import CookieError, SimpleCookie
from typing import Any

from ._params import parse_params
from ._socket import ConnectInfo

__all__ = ["connect_info", "headers_of", "parse_params"]


def headers_of(scope: dict[str, Any]) -> dict[str, str]:
    """Request headers, names lower-cased, repeated ones joined by ``", "``."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


def _cookie(headers: dict[str, str], name: str | None) -> str | None:
    if name is None or "cookie" not in headers:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(headers["cookie"])
    except CookieError:
        return None
    morsel = jar.get(name)
    return None if morsel is None else morsel.value


def connect_info(
    scope: dict[str, Any],
    transport: str,
    params: dict[str, Any],
    auth_token: str | None,
    session_cookie: str | None,
) -> ConnectInfo:
    """The :class:`ConnectInfo` of a request (``vsn`` and LongPoll's ``token`` removed from
    the params)."""
    headers = headers_of(scope)
    host = headers.get("host") or ":".join(map(str, scope.get("server") or ("", "")))
    query = scope.get("query_string", b"").decode("latin-1")
    uri = (
        f"{scope.get('scheme', 'http')}://{host}{scope.get('root_path', '')}{scope.get('path', '')}"
    )
    if query:
        uri += "?" + query
    client = scope.get("client")
    peer = (str(client[0]), int(client[1])) if client else None
    user_params = {k: v for k, v in params.items() if k not in ("vsn", "token")}
    return ConnectInfo(
        transport=transport,
        uri=uri,
        peer=peer,
        headers=headers,
        params=user_params,
        session=_cookie(headers, session_cookie),
        auth_token=auth_token,
    )
