"""The cluster options of ``python -m beamish run``, in a real OS process."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest
from osnodes import ROOT, START

pytestmark = pytest.mark.timeout(60)


def beamish_run(*args: str, target: str = "options") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "beamish", "run", f"tests.cluster.nodeapp:{target}", *args],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=START,
    )


CLUSTER = ("--name", "o@127.0.0.1", "--cookie", "c", "--listen", "127.0.0.1:0", "--no-discovery")


@pytest.mark.parametrize(
    ("flags", "printed"),
    [
        ((), "(False, None)"),
        (("--allow-pickle",), "(True, None)"),
        (
            ("--spawn-module", "myapp.jobs", "--spawn-module", "beamish"),
            "(False, ['beamish', 'myapp.jobs'])",
        ),
    ],
)
def test_allow_pickle_and_spawn_module_reach_the_cluster(flags, printed):
    done = beamish_run(*CLUSTER, *flags)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == printed


@pytest.mark.parametrize("flag", [("--allow-pickle",), ("--spawn-module", "beamish")])
def test_they_need_a_cluster(flag):
    done = beamish_run(*flag)
    assert done.returncode != 0
    assert "need a cluster (--cookie)" in done.stderr


def test_advertise_and_connect_from_reach_the_cluster():
    done = beamish_run(
        *CLUSTER,
        "--advertise",
        "127.0.0.1:4999",
        "--connect-from",
        "127.0.0.2",
        target="addressing",
    )
    assert done.returncode == 0, done.stderr
    listen, advertised, local_host = ast.literal_eval(done.stdout.strip())
    assert listen.startswith("127.0.0.1:")
    assert listen != "127.0.0.1:0"
    assert (advertised, local_host) == ("127.0.0.1:4999", "127.0.0.2")


@pytest.mark.parametrize("flag", [("--advertise", "127.0.0.1:4999"), ("--connect-from", "::1")])
def test_advertise_and_connect_from_need_a_cluster(flag):
    done = beamish_run(*flag)
    assert done.returncode != 0
    assert "need a cluster (--cookie)" in done.stderr


def test_a_malformed_advertise_is_refused_before_the_node_starts():
    done = beamish_run(*CLUSTER, "--advertise", "no-port")
    assert done.returncode == 2
    assert "--advertise: expected 'host:port'" in done.stderr


@pytest.mark.parametrize("host", ["not a host!", "10.255.255.254", "192.0.2.1"])
def test_a_connect_from_this_host_cannot_dial_from_is_refused_before_the_node_starts(host):
    """Otherwise every dial fails as if each peer were down, and nothing names the cause."""
    done = beamish_run(*CLUSTER, "--connect-from", host)
    assert done.returncode == 2
    assert "--connect-from: " in done.stderr
    assert "not an address of this host" in done.stderr


def test_an_advertise_host_with_blanks_is_refused():
    done = beamish_run(*CLUSTER, "--advertise", "a b:4370")
    assert done.returncode == 2
    assert "--advertise: expected 'host:port'" in done.stderr
