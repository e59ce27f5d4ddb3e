"""An idle process holds no empty mailbox deque (760 bytes each: a server with 10,000
connections has 30,000 processes); the next message brings one back."""

import pytest

import beamish
from beamish.testing import assert_receive

pytestmark = pytest.mark.anyio


class Echo(beamish.Actor):
    def handle_call(self, request, caller):
        return request


async def test_a_server_waiting_for_its_next_message_holds_no_mailbox(node):
    pid = await Echo.start()
    for n in range(3):  # each message brings a mailbox back, each wait drops it
        assert await beamish.call(pid, n) == n
        assert node.process_info(pid).status == "waiting"
        assert node._proc(pid)._mailbox is None


async def test_a_process_in_receive_holds_no_mailbox_but_keeps_unmatched_messages(node):
    me = beamish.self()

    async def picky():
        beamish.send(me, ("got", await beamish.receive(lambda m: m == "wanted")))
        beamish.send(me, ("then", await beamish.receive()))
        beamish.send(me, ("last", await beamish.receive()))

    pid = beamish.spawn(picky)
    beamish.send(pid, "other")
    beamish.send(pid, "wanted")
    assert await assert_receive(lambda m: m[0] == "got") == ("got", "wanted")
    assert await assert_receive(lambda m: m[0] == "then") == ("then", "other")
    assert node._proc(pid)._mailbox is None  # waiting for "last", on an empty mailbox
    beamish.send(pid, "end")
    assert await assert_receive(lambda m: m[0] == "last") == ("last", "end")
