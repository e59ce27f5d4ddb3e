"""Browser tests: headless Chromium from Debian's ``chromium``, driven by Playwright.

Playwright launches the system browser by its path (nothing is downloaded). Where the
browser is missing the tests skip with the reason, and the run's summary says so, except
in CI (``BEAMISH_CI=1``, set by ``.ci/run``), where a missing browser fails them unless
``.ci/run`` found that it cannot be installed (``BEAMISH_BROWSER_UNAVAILABLE``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from .browserkit import CHROMIUM, CHROMIUM_ARGS, PHOENIX_JS

_skipped: list[str] = []


def _unavailable() -> str | None:
    """Why no browser test can run here, or None."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (`make test` or `apt-get install -y chromium` as root)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[dev]')"
    if not (PHOENIX_JS / "phoenix.mjs").exists():
        return "the phoenix client is not installed (`cd examples/chat && npm ci`)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium per test module (each test opens its own contexts).

    Not per session: Playwright's sync API keeps an event loop running in the main thread
    while it is open, and the suite's async tests that run after a module need it gone.
    """
    reason = _unavailable()
    if reason is not None:
        told = os.environ.get("BEAMISH_BROWSER_UNAVAILABLE")
        if told:
            _skipped.append(f"{told}; {reason}")
            pytest.skip(f"browser tests skipped: {told}; {reason}")
        if os.environ.get("BEAMISH_CI"):
            pytest.fail(f"browser tests cannot run in CI: {reason}")
        _skipped.append(reason)
        pytest.skip(f"browser tests skipped: {reason}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say once, at the end of the run, why browser tests were skipped."""
    if _skipped:
        terminalreporter.write_sep("!", "browser tests SKIPPED", yellow=True)
        terminalreporter.write_line(f"reason: {_skipped[0]}")
