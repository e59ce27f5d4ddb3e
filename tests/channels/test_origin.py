"""``check_origin`` as Phoenix has it, under a real uvicorn over both transports: hostile
Origins (missing, mismatched, lookalike hosts, scheme and port tricks, no host, unparsable)
and the rule's pure function."""

from __future__ import annotations

import json
import socket
import urllib.request
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from beamish.channels._origin import compile_origins, origin_allowed

from .chankit import Server


def websocket_status(server: Server, origin: str | None, host: str | None = None) -> int:
    """The HTTP status of a WebSocket upgrade with this Origin (101: accepted)."""
    lines = [
        "GET /socket/websocket?vsn=2.0.0 HTTP/1.1",
        f"Host: {host or f'127.0.0.1:{server.port}'}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
    ]
    if origin is not None:
        lines.append(f"Origin: {origin}")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        status_line = conn.makefile("rb").readline()
    return int(status_line.split()[1])


def longpoll_status(server: Server, origin: str | None, host: str | None = None) -> int:
    """The JSON status of a session-creating LongPoll GET with this Origin (410: a session)."""
    request = urllib.request.Request(f"{server.http}/socket/longpoll?vsn=2.0.0")
    if origin is not None:
        request.add_header("Origin", origin)
    if host is not None:
        request.add_header("Host", host)
    with urllib.request.urlopen(request, timeout=10) as response:
        status: int = json.loads(response.read())["status"]
        return status


def allowed_over_both(server: Server, origin: str | None, host: str | None = None) -> bool:
    ws = websocket_status(server, origin, host)
    lp = longpoll_status(server, origin, host)
    assert (ws, lp) in ((101, 410), (403, 403)), (origin, ws, lp)
    return ws == 101


@pytest.fixture(scope="module")
def listed() -> Iterator[Server]:
    srv = Server("check_origin=https://good.example,//*.example.org,http://dev.example:4000")
    try:
        yield srv
    finally:
        srv.stop()


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        (None, True),  # not a browser
        ("https://good.example", True),
        ("https://GOOD.example", True),
        ("https://good.example:443", True),
        ("http://good.example", False),  # scheme
        ("https://good.example:8443", False),  # https://good.example is port 443 only
        ("https://good.example:99999", False),  # no such port
        ("https://good.example.evil.com", False),
        ("https://evilgood.example", False),
        ("https://good.example@evil.com", False),  # userinfo: the host is evil.com
        ("https://evil.com/https://good.example", False),
        ("https://example.org", True),  # *.example.org allows example.org itself
        ("http://a.b.example.org:8080", True),  # //: any scheme and port
        ("https://evilexample.org", False),
        ("https://example.org.evil.com", False),
        ("http://dev.example:4000", True),
        ("http://dev.example", False),
        ("null", False),  # sandboxed frames, file:// pages
        ("file://", False),
        ("http://[::1", False),  # does not parse
        ("", False),
    ],
)
def test_listed_origins(listed: Server, origin: str | None, allowed: bool) -> None:
    assert allowed_over_both(listed, origin) is allowed


@pytest.fixture(scope="module")
def same_host() -> Iterator[Server]:
    srv = Server("check_origin=true")
    try:
        yield srv
    finally:
        srv.stop()


def test_true_means_the_request_host(same_host: Server) -> None:
    """check_origin=True: the Origin's host and port are the request's Host."""
    here = f"127.0.0.1:{same_host.port}"
    assert allowed_over_both(same_host, f"http://{here}")
    assert allowed_over_both(same_host, None)
    assert not allowed_over_both(same_host, "http://127.0.0.1")
    assert not allowed_over_both(same_host, f"http://evil.com:{same_host.port}")
    assert not allowed_over_both(same_host, f"http://{here}.evil.com")
    assert not allowed_over_both(same_host, "null")
    assert not allowed_over_both(same_host, "http://[::1")
    assert allowed_over_both(same_host, "https://app.example", host="app.example")


@pytest.fixture(scope="module")
def by_callable() -> Iterator[Server]:
    srv = Server("check_origin=callable:.trusted.example")
    try:
        yield srv
    finally:
        srv.stop()


def test_a_callable_decides(by_callable: Server) -> None:
    assert allowed_over_both(by_callable, "https://app.trusted.example")
    assert not allowed_over_both(by_callable, "https://app.trusted.example.evil")
    assert not allowed_over_both(by_callable, "boom")  # the callable raised: refused


def test_entries_without_a_host_are_refused_at_once() -> None:
    for entry in ["example.com", "https://", "null", ""]:
        with pytest.raises(ValueError, match="no host"):
            compile_origins([entry])
    with pytest.raises(TypeError):
        compile_origins("https://example.com")  # a string, not a list of them


@given(st.text(max_size=60))
def test_any_origin_gets_an_answer(origin: str) -> None:
    """No Origin header value raises: each is allowed or refused."""
    rules = [True, compile_origins(["https://a.example", "//*.b.example", "//c.example:1"])]
    for rule in rules:
        assert origin_allowed(rule, origin, "h:1") in (True, False)


@given(st.from_regex(r"[a-z]{1,8}(\.[a-z]{1,8}){0,3}", fullmatch=True))
def test_a_wildcard_allows_exactly_the_domain_and_its_subdomains(host: str) -> None:
    rule = compile_origins(["//*.example.org"])
    allowed = origin_allowed(rule, f"https://{host}", None)
    assert allowed is (host == "example.org" or host.endswith(".example.org"))
    assert origin_allowed(rule, f"https://{host}.example.org", None)
    assert not origin_allowed(rule, f"https://{host}example.org", None)
