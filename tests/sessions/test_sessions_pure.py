"""The pure pieces: ids, the sliding window, the hash ring, the cookie signer, the errors."""

import re
from collections import Counter as Tally

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from beamish import sessions
from beamish.sessions import HashRing, SlidingWindow
from beamish.sessions._errors import from_wire, to_wire
from beamish.sessions._middleware import CookieSigner
from beamish.sessions._process import end_reason

ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def test_new_id_is_32_url_safe_characters():
    """new_id: 24 random bytes, url-safe base64, 32 characters, valid as an id (reference)."""
    ids = {sessions.new_id() for _ in range(200)}
    assert len(ids) == 200
    for session_id in ids:
        assert len(session_id) == 32
        assert ID_RE.match(session_id)
        assert sessions.is_valid_id(session_id)


@pytest.mark.parametrize(
    "session_id", ["abc123", "ABC123", "test-session_id", "user_session_2023_abc", "a" * 64, "-"]
)
def test_valid_ids(session_id):
    """The reference's valid ids, and the 64-character bound."""
    assert sessions.is_valid_id(session_id)


@pytest.mark.parametrize(
    "session_id",
    [
        "",
        "too-long-session-id-" + "a" * 100,
        "a" * 65,
        "invalid@session",
        "invalid session",
        "invalid.session",
        "invalid/session",
        "caf\u00e9",
        "a\n",
        None,
        123,
        {},
        b"abc",
    ],
)
def test_invalid_ids(session_id):
    """The reference's invalid ids, and non-str values."""
    assert not sessions.is_valid_id(session_id)


@given(st.text(max_size=80))
def test_validity_matches_the_regex(text):
    """is_valid_id agrees with the documented regular expression on any text."""
    assert sessions.is_valid_id(text) == bool(ID_RE.fullmatch(text))


def test_window_admits_up_to_the_limit_then_refuses():
    """Under the limit: admitted; the next one: refused (reference: 5 then the 6th)."""
    window = SlidingWindow(5, 60)
    assert [window.admit(0.0) for _ in range(6)] == [True] * 5 + [False]
    assert window.count(0.0) == 5


def test_window_slides():
    """An admission stops counting exactly one window after it was made."""
    window = SlidingWindow(2, 60)
    assert window.admit(0.0)
    assert window.admit(30.0)
    assert not window.admit(59.9)
    assert window.admit(60.0)  # the one at 0.0 left the window
    assert not window.admit(89.9)
    assert window.admit(90.0)


def test_window_reset():
    """reset clears every admission (reference's RateLimiter.reset)."""
    window = SlidingWindow(2, 60)
    window.admit(0.0)
    window.admit(0.0)
    assert window.count(0.0) == 2
    window.reset()
    assert window.count(0.0) == 0
    assert window.admit(0.0)


@pytest.mark.parametrize(("limit", "window"), [(-1, 60), (1.5, 60), (1, 0), (1, -3)])
def test_window_rejects_bad_settings(limit, window):
    """A negative or fractional limit, or a window that is not positive, is a ValueError."""
    with pytest.raises(ValueError, match="rate"):
        SlidingWindow(limit, window)


@settings(max_examples=200)
@given(
    limit=st.integers(0, 5),
    window=st.integers(1, 10),
    gaps=st.lists(st.integers(0, 6), max_size=40),
)
def test_window_matches_a_model(limit, window, gaps):
    """Against a model that recounts every admission: admitted iff fewer than ``limit``
    admissions happened in (now - window, now]."""
    subject = SlidingWindow(limit, window)
    admitted = []
    now = 0
    for gap in gaps:
        now += gap
        recent = [t for t in admitted if t > now - window]
        expected = len(recent) < limit
        assert subject.admit(float(now)) == expected
        if expected:
            admitted.append(now)


def test_ring_is_deterministic_whatever_the_order():
    """Every node that knows the same nodes picks the same owner."""
    names = ["a@h", "b@h", "c@h", "d@h"]
    one, other = HashRing(names), HashRing(reversed(names))
    for i in range(500):
        key = f"s{i}"
        assert one.owner(key) == other.owner(key)
        assert one.owner(key) in names


def test_ring_spreads_ids_and_moves_few_when_a_node_leaves():
    """Each of 4 nodes owns a fair share; removing one moves only the ids it owned."""
    names = ["a@h", "b@h", "c@h", "d@h"]
    ring = HashRing(names)
    keys = [sessions.new_id() for _ in range(4000)]
    owners = {k: ring.owner(k) for k in keys}
    shares = Tally(owners.values())
    assert all(600 < shares[n] < 1400 for n in names), shares
    smaller = HashRing(names[:3])
    for key in keys:
        if owners[key] != "d@h":
            assert smaller.owner(key) == owners[key]


def test_ring_needs_a_node():
    """An empty ring is a ValueError, not an owner-less lookup later."""
    with pytest.raises(ValueError, match="at least one node"):
        HashRing([])


def test_signer_round_trip_and_forgeries():
    """A signed id verifies; tampered, re-signed with another key, or garbage does not."""
    signer = CookieSigner(b"s" * 32)
    value = signer.sign("user_1")
    assert signer.verify(value) == "user_1"
    sid, _, sig = value.rpartition(".")
    assert signer.verify(f"user_2.{sig}") is None
    assert signer.verify(f"{sid}.{sig[:-1]}A") is None or sig.endswith("A")
    assert signer.verify(CookieSigner(b"t" * 32).sign("user_1")) is None
    for junk in ["", ".", "user_1", "user_1.", "a@b.sig", "x" * 5000, "\u00e9.\u00e9"]:
        assert signer.verify(junk) is None


def test_signer_needs_a_real_secret():
    """A short secret is refused at construction."""
    with pytest.raises(ValueError, match="16 bytes"):
        CookieSigner(b"short")


@given(st.text(max_size=300))
def test_signer_never_raises_on_any_cookie(text):
    """Whatever a browser sends, verify answers an id or None, never an exception."""
    signer = CookieSigner(b"k" * 32)
    result = signer.verify(text)
    assert result is None or sessions.is_valid_id(result)


def test_errors_say_what_to_do():
    """Each error's message names the problem and the remedy (reference: human-readable)."""
    assert "new_id()" in str(sessions.InvalidSessionId("a@b"))
    assert "max_sessions=1000" in str(sessions.SessionLimitReached(1000))
    assert "retry later" in str(sessions.RateLimitExceeded(100, 60))
    assert "start it with" in str(sessions.SessionNotFound("x"))
    assert "raise the timeout" in str(sessions.SessionTimeout("x", 5))
    assert "start it again" in str(sessions.SessionCrashed("x", ValueError()))
    assert isinstance(sessions.SessionTimeout("x", 5), TimeoutError)
    for cls in (
        sessions.InvalidSessionId,
        sessions.SessionLimitReached,
        sessions.RateLimitExceeded,
        sessions.SessionNotFound,
        sessions.SessionTimeout,
        sessions.SessionCrashed,
        sessions.SnapshotError,
        sessions.SessionAlreadyStarted,
    ):
        assert issubclass(cls, sessions.SessionError)


@pytest.mark.parametrize(
    "error",
    [
        sessions.InvalidSessionId("a b"),
        sessions.SessionAlreadyStarted("x", None),
        sessions.SessionLimitReached(3),
        sessions.RateLimitExceeded(5, 60.0),
        sessions.SessionNotFound("x"),
        sessions.SessionTimeout("x", 1.5),
        sessions.SessionCrashed("x", "boom"),
        sessions.SnapshotError("bad state"),
    ],
)
def test_errors_cross_as_plain_data(error):
    """to_wire/from_wire rebuild the same type and message (answers of a remote start)."""
    again = from_wire(to_wire(error))
    assert type(again) is type(error)
    assert str(again) == str(error)


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("normal", "normal"),
        ("shutdown", "shutdown"),
        (("shutdown", "ttl"), "ttl"),
        (("shutdown", "conflict"), "conflict"),
        (("shutdown", "other"), "shutdown"),
        (("name_conflict", "id", None), "conflict"),
        (RuntimeError("x"), "crash"),
        ("killed", "killed"),
        ("noconnection", "crash"),
    ],
)
def test_end_reasons(reason, expected):
    """session_end's reason, from the exit reason."""
    assert end_reason(reason) == expected


@pytest.mark.parametrize(
    "name",
    [
        "os:system",  # loaded, but not a SessionProcess
        "beamish.sessions:SessionError",  # a class, not a SessionProcess
        "no_such_module_for_sessions:Cls",  # not loaded: never imported
        "beamish.sessions:__class__",
        "beamish.sessions",
        "a:b:c",
        42,
        None,
    ],
)
def test_a_peer_names_only_loaded_session_classes(name):
    """A remote start's module name picks among loaded SessionProcess classes: anything
    else is None, and nothing is imported on a peer's word."""
    import sys

    from beamish.sessions._server import resolve_module

    assert resolve_module(name) is None
    assert "no_such_module_for_sessions" not in sys.modules


def test_a_peer_can_name_a_loaded_session_class():
    """The default session resolves by the name the registry carries."""
    from beamish.sessions._process import module_name
    from beamish.sessions._server import resolve_module

    assert resolve_module(module_name(sessions.KeyValueSession)) is sessions.KeyValueSession
