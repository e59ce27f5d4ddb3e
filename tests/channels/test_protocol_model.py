"""Random sequences of client messages against one connection process, checked frame by
frame against a model of the protocol (PHOENIX-PROTOCOL.md §4), on a fresh node each."""

from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import beamish
from beamish import channels
from beamish.channels._connect import connect_info
from beamish.channels._socket import InFrame
from beamish.testing import run_on_node

TOPICS = ["room:0", "room:1", "nope:2"]  # nope:* has no route
OPS = st.lists(
    st.tuples(
        st.sampled_from(["join", "leave", "echo", "crash", "stale", "heartbeat"]),
        st.sampled_from(TOPICS),
    ),
    max_size=25,
)


class Room(channels.Channel):
    def join(self, topic: str, payload: Any, socket: channels.ChannelSocket) -> Any:
        return None

    def handle_in(self, event: str, payload: Any, socket: channels.ChannelSocket) -> Any:
        if event == "crash":
            raise RuntimeError("crash")
        return channels.ok(payload)


class Sock(channels.Socket):
    routes = [("room:*", Room)]  # noqa: RUF012


async def conversation(ops: list[tuple[str, str]]) -> None:
    endpoint = channels.Endpoint(Sock)
    await endpoint.start()
    outbox = channels.Outbox(1000)
    info = connect_info({"type": "websocket"}, "websocket", {}, None, None)
    pid = await endpoint.open_socket(info, channels.V2_SERIALIZER, outbox, None)
    refs = (str(n) for n in itertools.count(1))
    joined: dict[str, str] = {}  # the model: topic -> join_ref

    def send(*frame: Any) -> None:
        beamish.send(pid, InFrame(json.dumps(list(frame))))

    async def expect(*frames: list[Any]) -> None:
        got: list[Any] = []
        while len(got) < len(frames):
            taken = await outbox.take()
            assert taken is not None
            got += [json.loads(f) for f in taken]
        assert got == list(frames)

    unmatched = {"status": "error", "response": {"reason": "unmatched topic"}}
    for op, topic in ops:
        ref = next(refs)
        if op == "heartbeat":
            send(None, ref, "phoenix", "heartbeat", {})
            await expect([None, ref, "phoenix", "phx_reply", {"status": "ok", "response": {}}])
        elif op == "join":
            send(ref, ref, topic, "phx_join", {})
            if topic.startswith("nope"):
                await expect([None, ref, topic, "phx_reply", unmatched])
                continue
            reply = [ref, ref, topic, "phx_reply", {"status": "ok", "response": {}}]
            old = joined.get(topic)
            joined[topic] = ref
            if old is None:
                await expect(reply)
            else:
                await expect(reply, [old, old, topic, "phx_close", {}])
        elif op == "leave":
            jr = joined.pop(topic, ref)
            send(jr, ref, topic, "phx_leave", {})
            ok = [jr, ref, topic, "phx_reply", {"status": "ok", "response": {}}]
            if jr == ref:  # not joined: an ok reply, nothing closes
                await expect(ok)
            else:
                await expect(ok, [jr, jr, topic, "phx_close", {}])
        elif op == "echo":
            send(joined.get(topic), ref, topic, "echo", {"n": ref})
            if topic in joined:
                await expect(
                    [
                        joined[topic],
                        ref,
                        topic,
                        "phx_reply",
                        {"status": "ok", "response": {"n": ref}},
                    ]
                )
            else:
                await expect([None, ref, topic, "phx_reply", unmatched])
        elif op == "crash":
            send(joined.get(topic), ref, topic, "crash", {})
            if topic in joined:
                jr = joined.pop(topic)
                await expect([jr, jr, topic, "phx_error", {"reason": "channel_crash"}])
            else:
                await expect([None, ref, topic, "phx_reply", unmatched])
        elif op == "stale" and topic in joined:
            send("stale-" + ref, ref, topic, "echo", {"stale": True})  # dropped silently
            send(joined[topic], ref + "b", topic, "echo", {})
            await expect(
                [joined[topic], ref + "b", topic, "phx_reply", {"status": "ok", "response": {}}]
            )
    assert set(channels.local_subscribers("room:0") + channels.local_subscribers("room:1")) == {
        channels.lookup(pid, topic) for topic in joined
    }


@settings(max_examples=60, deadline=None)
@given(OPS)
def test_the_connection_follows_the_protocol_model(ops: list[tuple[str, str]]) -> None:
    """Joins, duplicate joins, leaves, pushes, crashes, stale join_refs and heartbeats in any
    order: exactly the frames Phoenix sends, in its order; the joined channels are the
    subscribed and registered ones."""
    run_on_node(conversation, ops)
