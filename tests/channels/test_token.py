"""channels.sign / channels.verify (Phoenix.Token): round trips, tampering, expiry."""

from __future__ import annotations

import base64

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from beamish import channels

SECRET = "a secret of the server, long enough"

json_like = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(data=json_like, salt=st.text(min_size=1), secret=st.binary(min_size=1))
def test_round_trip(data: object, salt: str, secret: bytes) -> None:
    token = channels.sign(secret, salt, data)
    assert channels.verify(secret, salt, token) == data


@given(data=json_like, position=st.integers(min_value=0), replacement=st.characters())
def test_any_altered_character_is_refused(data: object, position: int, replacement: str) -> None:
    token = channels.sign(SECRET, "salt", data)
    index = position % len(token)
    altered = token[:index] + replacement + token[index + 1 :]
    if altered == token:
        return
    with pytest.raises(channels.TokenInvalid):
        channels.verify(SECRET, "salt", altered)


@given(data=json_like, cut=st.integers(min_value=1))
def test_truncated_tokens_are_refused(data: object, cut: int) -> None:
    token = channels.sign(SECRET, "salt", data)
    with pytest.raises(channels.TokenInvalid):
        channels.verify(SECRET, "salt", token[: -(cut % len(token)) or -1])


def test_another_salt_or_secret_is_refused() -> None:
    token = channels.sign(SECRET, "user socket", {"user": 1})
    with pytest.raises(channels.TokenInvalid):
        channels.verify(SECRET, "another purpose", token)
    with pytest.raises(channels.TokenInvalid):
        channels.verify("another secret", "user socket", token)


def test_a_re_signed_payload_with_a_forged_signature_is_refused() -> None:
    """Swapping in another payload (say, another user id) breaks the signature."""
    header, _, signature = channels.sign(SECRET, "s", {"user": 1}).split(".")
    forged = base64.urlsafe_b64encode(
        msgpack.packb({"data": {"user": 2}, "signed": 10**13, "max_age": 10**9})
    ).rstrip(b"=")
    with pytest.raises(channels.TokenInvalid, match="signature"):
        channels.verify(SECRET, "s", f"{header}.{forged.decode()}.{signature}")


@pytest.mark.parametrize(
    "token",
    ["", "x", "a.b.c", "SFMyNTY..", "SFMyNTY.é.x", "SFMyNTY.!!!.???", "x" * 100_000, None, 7],
)
def test_garbage_is_invalid_not_another_error(token: object) -> None:
    with pytest.raises(channels.TokenInvalid):
        channels.verify(SECRET, "s", token)  # type: ignore[arg-type]


def test_expiry_uses_the_stored_max_age_unless_verify_gives_one() -> None:
    token = channels.sign(SECRET, "s", "data", signed_at=1_000, max_age=60)
    assert channels.verify(SECRET, "s", token, now=1_059) == "data"
    with pytest.raises(channels.TokenExpired, match=r"expired 1\.0 s ago"):
        channels.verify(SECRET, "s", token, now=1_061)
    assert channels.verify(SECRET, "s", token, now=1_061, max_age=120) == "data"
    with pytest.raises(channels.TokenExpired):
        channels.verify(SECRET, "s", token, now=1_011, max_age=10)


def test_default_max_age_is_one_day_and_errors_are_value_errors() -> None:
    token = channels.sign(SECRET, "s", 1, signed_at=0)
    assert channels.verify(SECRET, "s", token, now=86_400) == 1
    with pytest.raises(ValueError, match="expired"):
        channels.verify(SECRET, "s", token, now=86_401)
    assert issubclass(channels.TokenExpired, channels.TokenError)


def test_a_genuine_token_with_a_foreign_payload_is_invalid() -> None:
    """Signed with our key, but not our claims: invalid, not a KeyError."""
    import hashlib
    import hmac

    key = hashlib.pbkdf2_hmac("sha256", SECRET.encode(), b"s", 1000, 32)
    payload = base64.urlsafe_b64encode(msgpack.packb([1, 2])).rstrip(b"=").decode()
    signed = f"SFMyNTY.{payload}"
    mac = hmac.new(key, signed.encode(), hashlib.sha256).digest()
    token = f"{signed}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    with pytest.raises(channels.TokenInvalid, match="payload"):
        channels.verify(SECRET, "s", token)


def test_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="secret"):
        channels.sign("", "s", 1)


def test_other_spellings_of_the_same_bytes_are_refused() -> None:
    """base64 decoders skip stray characters and ignore the spare bits of the last one: a
    token has exactly one spelling."""
    token = channels.sign(SECRET, "s", {"user": 1})
    header, payload, signature = token.split(".")
    spare_bits = signature[:-1] + chr(ord(signature[-1]) + 1)  # 43 chars: 2 spare bits
    for other in (f"{header}.{payload}+.{signature}", f"{header}.{payload}.{spare_bits}"):
        with pytest.raises(channels.TokenInvalid):
            channels.verify(SECRET, "s", other)
