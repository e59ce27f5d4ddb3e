"""Session ids: 1-64 characters of ``[A-Za-z0-9_-]``; ``new_id()`` makes a random one.

>>> len(new_id()), is_valid_id(new_id()), is_valid_id("a@b"), is_valid_id("x" * 65)
(32, True, False, False)
"""

from __future__ import annotations

import base64
import secrets
from typing import Any

from ._errors import InvalidSessionId

_ALLOWED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
MAX_ID_LENGTH = 64


def new_id() -> str:
    """A fresh session id: 24 random bytes from ``secrets``, url-safe base64 (32 characters).

    >>> a, b = new_id(), new_id()
    >>> a != b and len(a) == 32
    True
    """
    return base64.urlsafe_b64encode(secrets.token_bytes(24)).decode("ascii")


def is_valid_id(session_id: Any) -> bool:
    """Whether ``session_id`` is a str of 1-64 characters of ``[A-Za-z0-9_-]``.

    >>> is_valid_id("user_1-a"), is_valid_id(""), is_valid_id(7)
    (True, False, False)
    """
    return (
        type(session_id) is str
        and 0 < len(session_id) <= MAX_ID_LENGTH
        and _ALLOWED.issuperset(session_id)
    )


def check_id(session_id: Any) -> str:
    """``session_id`` if valid, else ``InvalidSessionId``."""
    if not is_valid_id(session_id):
        raise InvalidSessionId(session_id)
    return session_id  # type: ignore[no-any-return]
