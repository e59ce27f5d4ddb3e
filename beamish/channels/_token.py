"""Signed tokens for socket authentication, like ``Phoenix.Token``.

>>> token = sign("a long server secret", "user socket", {"user": 42})
>>> verify("a long server secret", "user socket", token, max_age=3600)
{'user': 42}
>>> verify("a long server secret", "another salt", token)
Traceback (most recent call last):
    ...
beamish.channels.TokenInvalid: the token's signature does not match

Semantics
---------
- The key is PBKDF2-HMAC-SHA256 of ``secret`` with ``salt`` (1000 iterations, 32 bytes), as
  Phoenix's key generator derives it; different salts give unrelated keys, so a token signed
  for one purpose does not verify for another.
- The token is ``"SFMyNTY.<payload>.<signature>"`` (base64url without padding; ``SFMyNTY`` is
  ``HS256``), the signature an HMAC-SHA256 of the first two parts. The payload is msgpack of
  ``{"data": data, "signed": <ms since the epoch>, "max_age": <seconds>}``: signed, not
  encrypted, so anyone holding the token can read ``data``. Never pickle: ``data`` is what
  msgpack carries (``None``, bools, numbers, strings, bytes, lists, dicts); tuples come back
  as lists.
- :func:`verify` checks the signature before it decodes anything, in constant time. The token
  is expired when more than ``max_age`` seconds passed since it was signed (``max_age`` given
  to :func:`verify`, else the one stored by :func:`sign`).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import time
from typing import Any

import msgpack

__all__ = ["TokenError", "TokenExpired", "TokenInvalid", "sign", "verify"]

_HEADER = "SFMyNTY"  # base64url("HS256"), as Phoenix.Token writes it
_MAX_TOKEN = 1 << 16  # characters; a longer "token" is refused before any work


class TokenError(ValueError):
    """A token did not verify."""


class TokenInvalid(TokenError):
    """Malformed, signed with another secret or salt, or altered."""


class TokenExpired(TokenError):
    """Genuine, but older than its ``max_age``."""


@functools.lru_cache(maxsize=64)
def _key(secret: bytes, salt: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", secret, salt, 1000, 32)


def _bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not text.isascii():
        raise TokenInvalid("the token is not base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise TokenInvalid("the token is not base64url") from None
    if _b64(data) != text:  # stray characters or nonzero spare bits: one token, one spelling
        raise TokenInvalid("the token is not canonical base64url")
    return data


def _signature(secret: str | bytes, salt: str | bytes, signed_part: str) -> bytes:
    key = _key(_bytes(secret), _bytes(salt))
    return hmac.new(key, signed_part.encode("ascii"), hashlib.sha256).digest()


def sign(
    secret: str | bytes,
    salt: str | bytes,
    data: Any,
    *,
    max_age: float = 86400,
    signed_at: float | None = None,
) -> str:
    """A token carrying ``data``, signed with ``secret`` for the purpose ``salt``.

    ``max_age`` (seconds, default one day) is stored in the token and applies when
    :func:`verify` is given none; ``signed_at`` (seconds since the epoch) defaults to now.

    >>> token = sign("secret", "salt", [1, "two"], signed_at=0)
    >>> token.startswith("SFMyNTY.")
    True
    """
    if not secret:
        raise ValueError("the secret must not be empty")
    signed = round((time.time() if signed_at is None else signed_at) * 1000)
    payload = msgpack.packb({"data": data, "signed": signed, "max_age": max_age}, use_bin_type=True)
    signed_part = f"{_HEADER}.{_b64(payload)}"
    return f"{signed_part}.{_b64(_signature(secret, salt, signed_part))}"


def verify(
    secret: str | bytes,
    salt: str | bytes,
    token: str,
    *,
    max_age: float | None = None,
    now: float | None = None,
) -> Any:
    """The ``data`` of a token made by :func:`sign` with the same ``secret`` and ``salt``.

    Raises :class:`TokenInvalid` for anything not signed so (or not a token at all) and
    :class:`TokenExpired` when it is older than ``max_age`` seconds (default: the max_age
    stored in the token). ``now`` (seconds since the epoch) defaults to the current time.

    >>> token = sign("secret", "salt", "hello", signed_at=1000)
    >>> verify("secret", "salt", token, now=1010, max_age=60)
    'hello'
    >>> verify("secret", "salt", token, now=1100, max_age=60)
    Traceback (most recent call last):
        ...
    beamish.channels.TokenExpired: the token expired 40.0 s ago (max_age 60 s)
    """
    if not isinstance(token, str) or len(token) > _MAX_TOKEN:
        raise TokenInvalid("a token is a string of at most 65536 characters")
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != _HEADER:
        raise TokenInvalid("not a token (expected three dot-separated parts, HS256)")
    signed_part = f"{parts[0]}.{parts[1]}"
    if not signed_part.isascii() or not hmac.compare_digest(
        _unb64(parts[2]), _signature(secret, salt, signed_part)
    ):
        raise TokenInvalid("the token's signature does not match")
    try:
        claims = msgpack.unpackb(_unb64(parts[1]), raw=False, strict_map_key=False)
        data, signed, stored_max_age = claims["data"], claims["signed"], claims["max_age"]
    except Exception:  # genuine but not ours: signed by another program with this key
        raise TokenInvalid("the token's payload is not a beamish token") from None
    limit = stored_max_age if max_age is None else max_age
    age = (time.time() if now is None else now) - signed / 1000
    if age > limit:
        raise TokenExpired(f"the token expired {age - limit:.1f} s ago (max_age {limit:g} s)")
    return data
