"""The ``node`` fixture's test process dies like any process, and the test fails with it.

Each test writes a small test file and runs pytest on it in a subprocess, as a user would,
with the beamish plugin; outcomes are read from its JUnit XML report.
"""

import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET

PYTEST = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly"]
CONFTEST = "from beamish.testing import anyio_backend  # noqa: F401\n"

HEADER = """\
import pytest
import beamish

pytestmark = pytest.mark.anyio


async def crash():
    raise RuntimeError("boom")
"""


def run_pytest(tmp_path, body):
    """Run ``body`` (test functions) under pytest; {test id: (outcome, message)}, output."""
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_user.py").write_text(HEADER + textwrap.dedent(body))
    report = tmp_path / "report.xml"
    done = subprocess.run(
        [*PYTEST, "-o", "timeout=30", f"--junitxml={report}", "test_user.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    outcomes = {}
    for case in ET.parse(report).iter("testcase"):
        problems = [e for e in case if e.tag in ("failure", "error")]
        kinds = {e.tag for e in problems}
        text = "\n".join((e.get("message") or "") + "\n" + (e.text or "") for e in problems)
        outcome = "error" if "error" in kinds else "failed" if kinds else "passed"
        outcomes[case.get("name")] = (outcome, text)
    return outcomes, done.stdout + done.stderr


def test_a_linked_crash_fails_the_test_and_stops_its_body(tmp_path):
    """A spawn_link-ed child that crashes ends the test process: the body stops at once and
    the test fails with Exited(reason) caused by the crash; the teardown is clean."""
    outcomes, output = run_pytest(
        tmp_path,
        """
        async def test_linked(node, tmp_path):
            beamish.spawn_link(crash)
            await beamish.sleep(10)
            (tmp_path / "body_went_on").write_text("yes")
        """,
    )
    assert set(outcomes) == {"test_linked[asyncio]", "test_linked[trio]"}, output
    for outcome, text in outcomes.values():
        assert outcome == "failed", output
        assert "Exited" in text
        assert "exited: RuntimeError: boom" in text
        assert "the test process exited before the test returned" in text
    assert not list(tmp_path.rglob("body_went_on"))


def test_exit_self_fails_the_test_without_leaking_internals(tmp_path):
    """exit(self(), "kill") and exit(self(), "shutdown") fail the test with Exited: no
    private SelfExit, no ClosedResourceError at teardown, and the next test runs normally."""
    outcomes, output = run_pytest(
        tmp_path,
        """
        @pytest.mark.parametrize("reason", ["kill", "shutdown"])
        async def test_exit_self(node, reason):
            beamish.exit(beamish.self(), reason)

        async def test_after(node):
            pid = beamish.spawn(beamish.sleep, 0)
            assert isinstance(pid, beamish.Pid)
        """,
    )
    assert len(outcomes) == 6, output
    for test_id, (outcome, text) in outcomes.items():
        if test_id.startswith("test_after"):
            assert outcome == "passed", output
            continue
        assert outcome == "failed", output
        assert "Exited" in text
        assert ("exited: killed" if "kill" in test_id else "exited: shutdown") in text
    assert "SelfExit" not in output
    assert "ClosedResourceError" not in output


def test_a_trapping_test_gets_the_exit_as_a_message(tmp_path):
    """A test that traps exits receives Exit(pid, reason) and passes; its own assertion
    failures stay plain AssertionErrors."""
    outcomes, output = run_pytest(
        tmp_path,
        """
        from beamish.testing import assert_receive

        async def test_trapping(node):
            beamish.trap_exits(True)
            pid = beamish.spawn_link(crash)
            exit = await assert_receive(beamish.Exit)
            assert exit.pid == pid
            assert isinstance(exit.reason, RuntimeError)

        async def test_own_failure(node):
            assert 1 == 2
        """,
    )
    assert outcomes["test_trapping[asyncio]"][0] == "passed", output
    assert outcomes["test_trapping[trio]"][0] == "passed", output
    for backend in ("asyncio", "trio"):
        outcome, text = outcomes[f"test_own_failure[{backend}]"]
        assert outcome == "failed"
        assert "AssertionError" in text
        assert "Exited" not in text
