"""Connect parameters from a query string, as Plug parses them (phoenix.js encodes nested
objects Rails-style).

>>> parse_params("token=abc&user[id]=1&ids[0]=a&ids[1]=b&&vsn=2.0.0&")
{'token': 'abc', 'user': {'id': '1'}, 'ids': {'0': 'a', '1': 'b'}, 'vsn': '2.0.0'}

Empty segments (``&&``, a trailing ``&``) are skipped. Bounded: at most ``MAX_PARAMS``
pairs and ``MAX_DEPTH`` levels of nesting; past that, :class:`ProtocolError`. A key that is
both a value and a map keeps the last one.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from ._errors import ProtocolError

MAX_PARAMS = 1000
MAX_DEPTH = 8


def _path(key: str) -> list[str]:
    head, bracket, rest = key.partition("[")
    if not bracket or not rest.endswith("]"):
        return [key]
    parts = [head, *rest[:-1].split("][")]
    if len(parts) > MAX_DEPTH:
        raise ProtocolError(f"query parameter {key[:60]!r} nests too deeply")
    return parts


def parse_params(query: str | bytes) -> dict[str, Any]:
    """The parameters of ``query`` as nested dicts of strings."""
    if isinstance(query, bytes):
        query = query.decode("latin-1")
    params: dict[str, Any] = {}
    pairs = [p for p in query.split("&") if p]
    if len(pairs) > MAX_PARAMS:
        raise ProtocolError(f"{len(pairs)} query parameters (at most {MAX_PARAMS})")
    for pair in pairs:
        key, _, value = pair.partition("=")
        path = _path(unquote_plus(key))
        target = params
        for part in path[:-1]:
            child = target.get(part)
            if not isinstance(child, dict):
                child = target[part] = {}
            target = child
        target[path[-1]] = unquote_plus(value)
    return params
