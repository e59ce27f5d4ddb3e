"""The ``check_origin`` rule of an endpoint (Phoenix's ``check_origin``).

>>> allowed = compile_origins(["https://example.com", "//*.example.org"])
>>> origin_allowed(allowed, "https://example.com", "x")
True
>>> origin_allowed(allowed, "http://a.example.org", "x")
True
>>> origin_allowed(allowed, "https://evil.com", "x"), origin_allowed(True, "http://h:1", "h:1")
(False, True)

``True``: the Origin's host and port must equal the request's ``Host``; ``False``: no check;
a list: each entry ``scheme://host[:port]``, where the scheme may be left out (``//host``)
and the host may start with ``*.`` for any subdomain. A request without an ``Origin``
header (not a browser) always passes, as in Phoenix.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

Origins = bool | tuple[tuple[str, str, int | None], ...]


def _parts(origin: str) -> tuple[str, str, int | None]:
    url = urlsplit(origin)
    try:
        port = url.port
    except ValueError:
        port = -1
    return url.scheme.lower(), (url.hostname or "").lower(), port


def compile_origins(check: bool | Iterable[str]) -> Origins:
    """Check and parse a ``check_origin`` setting."""
    if isinstance(check, bool):
        return check
    return tuple(_parts(origin) for origin in check)


def origin_allowed(allowed: Origins, origin: str | None, host: str | None) -> bool:
    """Whether a request with this ``Origin`` and ``Host`` header may connect."""
    if origin is None or allowed is False:
        return True
    scheme, hostname, port = _parts(origin)
    if allowed is True:
        if host is None:
            return False
        origin_host = urlsplit(origin).netloc.lower()
        return bool(origin_host) and origin_host == host.lower()
    for want_scheme, want_host, want_port in allowed:
        if want_scheme and want_scheme != scheme:
            continue
        if want_port is not None and want_port != port:
            continue
        if want_host.startswith("*."):
            if hostname.endswith(want_host[1:]):
                return True
        elif want_host == hostname:
            return True
    return False
