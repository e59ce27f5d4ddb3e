"""The ``check_origin`` rule of an endpoint (Phoenix's ``check_origin``).

>>> allowed = compile_origins(["https://example.com", "//*.example.org"])
>>> origin_allowed(allowed, "https://example.com", "x")
True
>>> origin_allowed(allowed, "http://a.example.org", "x")
True
>>> origin_allowed(allowed, "https://example.org", "x")  # *.example.org: example.org too
True
>>> origin_allowed(allowed, "https://example.com:8443", "x")  # https://example.com is port 443
False
>>> origin_allowed(allowed, "https://evil.com", "x"), origin_allowed(True, "http://h:1", "h:1")
(False, True)

- ``True``: the Origin's host and port must equal the request's ``Host`` header. (Phoenix
  compares the Origin's host with its configured URL's host; an endpoint has no URL of its
  own, so the request's is taken, port included. Behind a proxy that rewrites ``Host``,
  list the origins.)
- ``False``: no check.
- A list: each entry ``scheme://host[:port]``; as Phoenix (which reads it with
  ``URI.parse``), a scheme without a port means its default port (``https://a.com`` is port
  443 only), the scheme may be left out (``//a.com``: any scheme and port), and a host
  ``*.a.com`` allows ``a.com`` and every subdomain of it. An entry without a host is a
  ``ValueError`` when the endpoint is made.
- A callable: ``check(origin) -> bool`` with the Origin header as it came.

A request without an ``Origin`` header (not a browser) always passes, as in Phoenix; an
Origin that has no host (``null``, ``file://``) or does not parse is refused.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

_log = logging.getLogger("beamish.channels")

Allowed = tuple[tuple[str | None, str, int | None], ...]
Origins = bool | Allowed | Callable[[str], bool]

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def _parts(origin: str) -> tuple[str | None, str, int | None] | None:
    """``(scheme, host, port)`` as Elixir's ``URI.parse`` gives them (a known scheme's
    default port filled in); None if it does not parse or has no host."""
    try:
        url = urlsplit(origin.strip())
        host = url.hostname
        port = url.port
    except ValueError:
        return None
    if not host:
        return None
    scheme = url.scheme.lower() or None
    if port is None and scheme is not None:
        port = DEFAULT_PORTS.get(scheme)
    return scheme, host.lower(), port


def compile_origins(check: bool | Iterable[str] | Callable[[str], bool]) -> Origins:
    """Check and parse a ``check_origin`` setting (``ValueError`` for an entry without a
    host, ``TypeError`` for anything else)."""
    if isinstance(check, bool) or callable(check):
        return check
    if isinstance(check, str) or not isinstance(check, Iterable):
        raise TypeError(f"check_origin is a bool, a list of origins or a callable: {check!r}")
    allowed = []
    for entry in check:
        parts = _parts(entry)
        if parts is None:
            raise ValueError(
                f"check_origin entry {entry!r} has no host; for example "
                '"https://example.com", "//other.com:888", "//*.example.com"'
            )
        allowed.append(parts)
    return tuple(allowed)


def _host_allowed(host: str, want: str) -> bool:
    if want.startswith("*."):
        return host == want[2:] or host.endswith(want[1:])
    return host == want


def origin_allowed(allowed: Origins, origin: str | None, host: str | None) -> bool:
    """Whether a request with this ``Origin`` and ``Host`` header may connect."""
    if origin is None or allowed is False:
        return True
    if callable(allowed):
        try:
            return bool(allowed(origin))
        except Exception:
            _log.exception("check_origin(%r) failed: refused", origin)
            return False
    parts = _parts(origin)
    if parts is None:
        return False
    if allowed is True:
        if host is None:
            return False
        origin_host = urlsplit(origin.strip()).netloc.lower()
        return origin_host == host.strip().lower()
    scheme, hostname, port = parts
    for want_scheme, want_host, want_port in allowed:
        if want_scheme is not None and want_scheme != scheme:
            continue
        if want_port is not None and want_port != port:
            continue
        if _host_allowed(hostname, want_host):
            return True
    return False
