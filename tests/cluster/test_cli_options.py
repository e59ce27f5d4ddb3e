"""The cluster options of ``python -m beamish run``, in a real OS process."""

from __future__ import annotations

import subprocess
import sys

import pytest
from osnodes import ROOT, START

pytestmark = pytest.mark.timeout(60)


def beamish_run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "beamish", "run", "tests.cluster.nodeapp:options", *args],
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
