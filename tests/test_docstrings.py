"""The public API documents itself: `help()` and the API reference show the contract on the
public object, with an example, never a pointer into a private module."""

from __future__ import annotations

import importlib
import inspect

import pytest

import beamish

PUBLIC_PACKAGES = [
    "beamish",
    "beamish.actors",
    "beamish.supervision",
    "beamish.cluster",
    "beamish.cluster.transports",
    "beamish.pubsub",
    "beamish.workers",
    "beamish.runtime",
    "beamish.testing",
    "beamish.telemetry",
]


def public_objects(package: str) -> list[tuple[str, object]]:
    module = importlib.import_module(package)
    return [
        (f"{package}.{name}", value)
        for name, value in vars(module).items()
        if not name.startswith("_") and (inspect.isclass(value) or inspect.isfunction(value))
    ]


@pytest.mark.parametrize("package", PUBLIC_PACKAGES)
def test_no_public_docstring_points_into_a_private_module(package: str) -> None:
    """Docstrings of public objects and packages carry their contract, not "see the module
    docstring" (the module being private)."""
    pointers = [
        name
        for name, value in [(package, importlib.import_module(package)), *public_objects(package)]
        if "module doc" in (inspect.getdoc(value) or "")
    ]
    assert pointers == []


def test_every_function_of_the_everyday_api_has_an_example() -> None:
    """Each function `import beamish` exports says what it does and shows it in an example
    (run by the doctests)."""
    without = [
        name
        for name, value in public_objects("beamish")
        if inspect.isfunction(value) and ">>>" not in (inspect.getdoc(value) or "")
    ]
    assert without == []


def test_the_contracts_moved_from_private_modules() -> None:
    """The semantics once kept in `_call.py`, `_mailbox.py` and `_actor.py` are on the
    public objects: help(beamish.call) names its errors, help(beamish.Actor) its callbacks,
    help(beamish.receive) selective receive."""
    call = inspect.getdoc(beamish.call) or ""
    for fact in ("CallTimeout", "Exited", "CallCycle", "REPLY_DROP", "Example"):
        assert fact in call
    actor = inspect.getdoc(beamish.Actor) or ""
    for fact in ("handle_call", "handle_info", "terminate", "StartError", "NameTaken"):
        assert fact in actor
    receive = inspect.getdoc(beamish.receive) or ""
    for fact in ("save", "64 messages", "TimeoutError"):
        assert fact in receive
    for private in ("_call", "_mailbox", "_actor"):
        module = importlib.import_module(f"beamish.actors.{private}")
        assert "Semantics" not in (module.__doc__ or "")
