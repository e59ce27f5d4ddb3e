"""Hostile peers over real TCP on 127.0.0.1: before a peer has proved the cookie, nothing it
sends reaches pickle, an import or a class lookup, on the listening side and on the dialling
side; the connection closes and the failure is counted; a peer cannot borrow another node's
proof."""

from __future__ import annotations

import contextlib
import secrets
import sys
import uuid
from pathlib import Path

import anyio
import cloudpickle
import msgpack
import pytest
from meshkit import Recorder

import beamish
from beamish import cluster
from beamish.cluster._framing import FrameDecoder, encode_frame
from beamish.cluster._handshake import Initiator
from beamish.cluster._mesh import HANDSHAKE_FAILED
from beamish.cluster._wire import Codec
from beamish.cluster.transports import TcpTransport

pytestmark = [
    pytest.mark.anyio,
    # Real sockets wait on real I/O: no trio MockClock here (the global conftest's default).
    pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"]),
    pytest.mark.timeout(30),
]

A, B = "a@127.0.0.1", "b@127.0.0.1"
COOKIE = "hostile-test-cookie"
WAIT = 10  # seconds: the bound on every wait for something that should happen at once
ROGUE = Path(__file__).with_name("roguepeer.py")
_PICKLE_EXT = 33  # the wire codec's pickle extension code


class _OpenFile:
    """Unpickling this calls ``open(path, "w")``: the marker file shows it ran."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


class Probe:
    """A pickle that creates ``executed`` when loaded, and a module on ``sys.path`` that
    creates ``imported`` when imported; ``untouched()`` says neither happened."""

    def __init__(self, tmp_path: Path) -> None:
        self.executed = tmp_path / "executed"
        self.imported = tmp_path / "imported"
        self.module = f"hostile_probe_{uuid.uuid4().hex}"
        (tmp_path / f"{self.module}.py").write_text(
            f"open({str(self.imported)!r}, 'w').close()\nclass Boom(Exception):\n    pass\n"
        )

    def pickle(self) -> bytes:
        return cloudpickle.dumps(_OpenFile(self.executed))

    def exception(self) -> Exception:
        boom = type("Boom", (Exception,), {})
        boom.__module__ = self.module  # the receiver would import this module to rebuild it
        return boom("boom")

    def untouched(self) -> bool:
        return (
            not self.executed.exists()
            and not self.imported.exists()
            and self.module not in sys.modules
        )


@pytest.fixture
def probe(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    probe = Probe(tmp_path)
    yield probe
    sys.modules.pop(probe.module, None)


def hostile_payloads(probe: Probe, shape: dict) -> dict[str, bytes]:
    """Each hostile value, as a whole message and nested in a handshake-shaped ``shape``."""
    pickled = msgpack.ExtType(_PICKLE_EXT, probe.pickle())
    values = {
        "pickle": pickled,
        "exception_record": probe.exception(),
        "unknown_extension": msgpack.ExtType(99, b"\x00" * 8),
    }
    codec = Codec()
    out = {f"{kind}_alone": codec.encode(value) for kind, value in values.items()}
    out.update(
        {f"{kind}_in_a_field": codec.encode({**shape, "nonce": v}) for kind, v in values.items()}
    )
    return out


HELLO_SHAPE = {"hello": 1, "name": "mallory@127.0.0.1", "creation": 1, "nonce": b""}
CHALLENGE_SHAPE = {"challenge": 1, "name": "rogue@127.0.0.1", "creation": 1, "proof": b"p" * 32}
KINDS = [
    f"{k}_{w}"
    for k in ("pickle", "exception_record", "unknown_extension")
    for w in ("alone", "in_a_field")
]


@contextlib.asynccontextmanager
async def tcp_node(name, *, listen="127.0.0.1:0", **options):
    async with beamish.runtime.start(name=name) as node:
        async with cluster.start(
            cookie=COOKIE, transport=TcpTransport(), listen=listen, discovery=False, **options
        ) as the_cluster:
            yield node, the_cluster


async def _raw_connect(address):
    host, _, port = address.rpartition(":")
    return await anyio.connect_tcp(host, int(port))


async def _read_message(stream, decoder):
    pending = []
    while not pending:
        pending.extend(decoder.feed(await stream.receive()))
    return msgpack.unpackb(pending[0])


async def _closed_by_peer(stream, timeout=WAIT):
    """Read (and drop) until the peer closes ``stream``; fail if it stays open."""
    received = b""
    with anyio.fail_after(timeout):
        try:
            while True:
                received += await stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError, ConnectionError):
            return received


# ---------------------------------------------------------------------------------------
# The listening side
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", ["instead_of_the_hello", "instead_of_the_proof"])
@pytest.mark.parametrize("kind", KINDS)
async def test_a_listener_never_unpickles_or_imports_for_an_unauthenticated_peer(
    probe, kind, stage
):
    """A raw client sends a pickle, an exception record naming an importable module, or an
    unknown extension, as its first frame or in place of its proof: the listener runs none
    of it, imports nothing, closes the connection and counts a failed handshake."""
    payload = hostile_payloads(probe, HELLO_SHAPE)[kind]
    async with tcp_node(A) as (_, ca):
        with Recorder(HANDSHAKE_FAILED, A) as failed:
            stream = await _raw_connect(ca.address)
            async with stream:
                if stage == "instead_of_the_proof":
                    hello = Initiator("mallory@127.0.0.1", 1, b"a guess").hello()
                    await stream.send(encode_frame(msgpack.packb(hello)))
                    challenge = await _read_message(stream, FrameDecoder())
                    assert challenge["name"] == A
                with contextlib.suppress(anyio.BrokenResourceError, OSError):
                    await stream.send(encode_frame(payload))
                await _closed_by_peer(stream)
            seen = await failed.wait_for(1)
        assert len(seen) == 1
        assert probe.untouched()
        assert ca.nodes() == []


async def test_a_listener_cuts_an_unauthenticated_peer_at_a_large_frame_header():
    """Before the handshake a peer may not make the node buffer a large frame: a header
    announcing 1 MiB (under max_frame) closes the connection at once, long before the
    handshake timeout."""
    async with tcp_node(A, handshake_timeout=60) as (_, ca):
        with Recorder(HANDSHAKE_FAILED, A) as failed:
            stream = await _raw_connect(ca.address)
            async with stream:
                await stream.send(b"\x01\x00\x10\x00\x00" + b"x" * 1024)
                await _closed_by_peer(stream, timeout=5)
            seen = await failed.wait_for(1)
        assert "over the" in seen[0]["why"]


@pytest.mark.parametrize("claimed", [B, A])
async def test_a_peer_cannot_pass_off_another_nodes_proof_as_its_own(claimed):
    """Mallory, without the cookie, asks A for a challenge claiming to be ``claimed``, then
    gets that challenge answered by a node that has the cookie (B, or A itself) by using
    A's nonce as her own in a hello to it. A must refuse the borrowed proof."""
    async with tcp_node(A) as (_, ca), tcp_node(B) as (_, cb):
        with Recorder(HANDSHAKE_FAILED, A) as failed:
            to_a = await _raw_connect(ca.address)
            async with to_a:
                hello = {**Initiator(claimed, 1, b"").hello(), "nonce": secrets.token_bytes(32)}
                await to_a.send(encode_frame(msgpack.packb(hello)))
                try:
                    challenge = await _read_message(to_a, FrameDecoder())
                except anyio.EndOfStream:  # refused at the hello (it claims A's own name)
                    challenge = None
                received = b""
                if challenge is not None:
                    oracle = ca if claimed == A else cb
                    to_oracle = await _raw_connect(oracle.address)
                    async with to_oracle:
                        relay = {**hello, "name": "mallory@127.0.0.1", "nonce": challenge["nonce"]}
                        await to_oracle.send(encode_frame(msgpack.packb(relay)))
                        answer = await _read_message(to_oracle, FrameDecoder())
                    await to_a.send(encode_frame(msgpack.packb({"proof": answer["proof"]})))
                    received = await _closed_by_peer(to_a)
            await failed.wait_for(1)
        assert received == b""  # no welcome, nothing else
        assert claimed not in ca.nodes()


# ---------------------------------------------------------------------------------------
# The dialling side: cluster.connect to a rogue listener in its own OS process
# ---------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def rogue_listener(answer: bytes):
    """A rogue node in another OS process that answers any hello with ``answer``; yields
    (its address, a function that reads the next line it prints: "closed" per connection)."""
    process = await anyio.open_process(
        [sys.executable, str(ROGUE), answer.hex()], stdin=-1, stdout=-1
    )
    async with process:
        assert process.stdout is not None
        assert process.stdin is not None
        lines = process.stdout

        async def line():
            with anyio.fail_after(WAIT):
                text = b""
                while not text.endswith(b"\n"):
                    text += await lines.receive(1)
            return text.decode().strip()

        port = await line()
        try:
            yield f"127.0.0.1:{port}", line
        finally:
            await process.stdin.aclose()
            with anyio.fail_after(WAIT):
                await process.wait()


@pytest.mark.parametrize("kind", KINDS)
async def test_a_dialler_never_unpickles_or_imports_what_a_rogue_listener_sends(probe, kind):
    """``cluster.connect`` to a rogue node (another OS process) that answers the hello with
    a pickle, an exception record or an unknown extension, alone or inside a challenge:
    the dialler runs none of it, imports nothing, raises ConnectionError and counts it."""
    answer = encode_frame(hostile_payloads(probe, CHALLENGE_SHAPE)[kind])
    async with rogue_listener(answer) as (address, line), tcp_node(A, listen=None) as (node, ca):
        with Recorder(HANDSHAKE_FAILED, A) as failed:

            async def dial():
                with pytest.raises(ConnectionError, match="cannot connect"):
                    await cluster.connect(address)

            await beamish.runtime.run_main(node, dial)
            await failed.wait_for(1)
            assert await line() == "closed"  # the rogue saw the dialler hang up
        assert probe.untouched()
        assert ca.nodes() == []


# ---------------------------------------------------------------------------------------
# After the handshake: a message the peer cannot decode, between real OS processes
# ---------------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


class Opaque:
    """A value only a node that allows pickles sends (and none of the OS nodes accepts)."""


@contextlib.asynccontextmanager
async def os_node(name, tmp_path):
    """``python -m beamish run tests.cluster.nodeapp:main`` (pickles off, the default);
    yields its address once it printed ``READY``."""
    command = [
        sys.executable, "-m", "beamish", "run", "tests.cluster.nodeapp:main",
        "--name", name, "--cookie", COOKIE, "--listen", "127.0.0.1:0", "--no-discovery",
    ]  # fmt: skip
    with (tmp_path / "node.log").open("wb") as stderr:
        process = await anyio.open_process(command, stdin=-3, stdout=-1, stderr=stderr, cwd=ROOT)
    async with process:
        try:
            assert process.stdout is not None
            line = b""
            with anyio.fail_after(20):  # an import of beamish on a cold, busy machine
                while not line.endswith(b"\n"):
                    line += await process.stdout.receive(1)
            word, _, address = line.decode().split()
            assert word == "READY"
            yield address
        finally:
            process.kill()


async def test_a_message_an_os_node_cannot_decode_is_dropped_and_the_link_stays(tmp_path):
    """A node that allows pickles casts a pickled value to a node in another OS process
    that does not: that node drops the message alone; the connection stays up (no
    NodeDown), and a call right after is answered."""
    async with (
        os_node("n1@127.0.0.1", tmp_path) as address,
        tcp_node("t@127.0.0.1", allow_pickle=True) as (node, ct),
    ):

        async def client():
            peer = await cluster.connect(address)
            connection = ct.connections[peer]
            cluster.monitor_node(peer)
            beamish.cast(("ctl", peer), (beamish.self(), Opaque()))
            answer = await beamish.call(("ctl", peer), ("echo", "after"), timeout=WAIT)
            with pytest.raises(TimeoutError):
                await beamish.receive(lambda m: isinstance(m, cluster.NodeDown), timeout=0)
            return answer, ct.connections.get(peer) is connection

        assert await beamish.runtime.run_main(node, client) == (("n1@127.0.0.1", "after"), True)


async def test_a_peer_cannot_make_the_node_tick_without_pause():
    """An authenticated peer announcing a heartbeat of a nanosecond does not make the node
    tick in a busy loop: the node ticks no faster than MIN_HEARTBEAT."""
    from beamish.cluster._connection import MIN_HEARTBEAT
    from beamish.cluster._mesh import MESSAGE_DROPPED

    async with tcp_node(A) as (_, ca):
        with Recorder(MESSAGE_DROPPED, A) as dropped:
            stream = await _raw_connect(ca.address)
            async with stream:
                decoder = FrameDecoder()
                initiator = Initiator("raw@127.0.0.1", 1, COOKIE.encode())
                await stream.send(encode_frame(msgpack.packb(initiator.hello())))
                proof = initiator.on_challenge(await _read_message(stream, decoder))
                await stream.send(encode_frame(msgpack.packb(proof)))
                initiator.on_welcome(await _read_message(stream, decoder))
                codec = Codec()
                await stream.send(encode_frame(codec.encode(("heartbeat", 1e-9))))
                await stream.send(encode_frame(codec.encode(("send_name", "nobody", "x"))))
                await dropped.wait_for(1)  # so the heartbeat before it was read
                assert ca.connections["raw@127.0.0.1"]._heartbeat >= MIN_HEARTBEAT
