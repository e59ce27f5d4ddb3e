"""Exceptions come out of run() and start() as themselves, never inside an ExceptionGroup."""

import logging
import socket

import anyio
import pytest

import beamish
from beamish import cluster as beamish_cluster

BACKENDS = ["asyncio", "trio"]
CLUSTER = {"cookie": "secret", "listen": "127.0.0.1:0", "discovery": False}


async def crash():
    raise ValueError("boom")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("with_cluster", [False, True], ids=["local", "cluster"])
def test_run_raises_mains_exception_as_itself(backend, with_cluster):
    """`except ValueError` catches main's ValueError on every backend, cluster on or off."""
    options = {"cluster": CLUSTER, "name": "crash@localhost"} if with_cluster else {}
    with pytest.raises(ValueError, match="boom") as raised:
        beamish.run(crash, backend=backend, **options)
    assert type(raised.value) is ValueError


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("with_cluster", [False, True], ids=["local", "cluster"])
def test_start_block_raises_its_exception_as_itself(backend, with_cluster):
    """An exception in an `async with runtime.start(...)` block leaves it unwrapped."""
    options = {"cluster": CLUSTER, "name": "block@localhost"} if with_cluster else {}

    async def app():
        with anyio.fail_after(20):
            async with beamish.runtime.start(**options):
                raise KeyError("inside")

    with pytest.raises(KeyError, match="inside") as raised:
        anyio.run(app, backend=backend)
    assert type(raised.value) is KeyError


@pytest.mark.parametrize("backend", BACKENDS)
def test_cluster_start_block_raises_its_exception_as_itself(backend):
    """The same inside `async with cluster.start(...)` on a node started without one."""

    async def app():
        with anyio.fail_after(20):
            async with beamish.runtime.start(name="inner@localhost"):
                async with beamish_cluster.start(**CLUSTER):
                    raise LookupError("inside the cluster block")

    with pytest.raises(LookupError, match="inside the cluster block") as raised:
        anyio.run(app, backend=backend)
    assert type(raised.value) is LookupError


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_port_in_use_raises_oserror(backend):
    """Listening on a port that is taken raises the OSError itself, not a group."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cluster = {**CLUSTER, "listen": f"127.0.0.1:{port}"}

        async def main():
            return "never runs"

        with pytest.raises(OSError, match="in use") as raised:
            beamish.run(main, backend=backend, name="busy@localhost", cluster=cluster)
    assert not isinstance(raised.value, BaseExceptionGroup)


@pytest.mark.parametrize("backend", BACKENDS)
def test_mains_crash_is_logged_once_by_the_caller(backend, caplog):
    """run() raises main's crash and the node does not also log it with a traceback."""
    caplog.set_level(logging.ERROR, logger="beamish")
    with pytest.raises(ValueError, match="boom"):
        beamish.run(crash, backend=backend)
    assert [r for r in caplog.records if r.exc_info] == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_other_crashes_are_still_logged(backend, caplog):
    """Only main's own crash is left to the caller: a crash in another process is logged."""
    caplog.set_level(logging.ERROR, logger="beamish")

    async def main():
        _pid, ref = beamish.spawn_monitor(crash)
        down = await beamish.receive(lambda m: isinstance(m, beamish.Down) and m.ref == ref)
        return type(down.reason).__name__

    assert beamish.run(main, backend=backend) == "ValueError"
    crashes = [r for r in caplog.records if r.exc_info]
    assert [type(r.exc_info[1]) for r in crashes] == [ValueError]
