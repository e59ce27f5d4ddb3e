"""``ActorMachine``: a Hypothesis stateful test whose every example runs on a fresh node.

Importing this module imports ``hypothesis``; ``beamish.testing`` loads it only when
``ActorMachine`` is first used, so the pytest plugin does not need Hypothesis.

>>> import beamish
>>> from hypothesis import settings
>>> from hypothesis.stateful import rule
>>> class Counter(beamish.Actor):
...     def init(self):
...         self.n = 0
...     def handle_call(self, request, caller):
...         self.n += request
...         return self.n
>>> class CounterMachine(ActorMachine):
...     def __init__(self):
...         super().__init__()
...         self.pid = self.run(Counter.start)
...         self.model = 0
...     @rule()
...     def add_one(self):
...         self.model += 1
...         assert self.run(beamish.call, self.pid, 1) == self.model
>>> CounterMachine.TestCase.settings = settings(max_examples=3, deadline=None)
>>> CounterMachine.TestCase().runTest()
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, ClassVar

from hypothesis.stateful import RuleBasedStateMachine

from ..actors import Node
from ._fresh import NodeSession


class ActorMachine(RuleBasedStateMachine):
    """A ``RuleBasedStateMachine`` with a fresh node (virtual time) per example.

    Rules and invariants stay synchronous: they reach the node through :meth:`run`, which
    runs an async function as a process there and returns its result. The node starts
    in ``__init__`` and stops in ``teardown`` (call ``super()`` when overriding either).
    Set ``backend = "trio"`` in a subclass to run the same machine on trio.

    Between two steps the node is idle, so virtual time runs ahead: every timer due by
    then has fired when the next step begins.
    """

    backend: ClassVar[str] = "asyncio"
    node_name: ClassVar[str] = "test@localhost"

    def __init__(self) -> None:
        super().__init__()
        self._session = NodeSession(self.backend, self.node_name)
        self.node: Node = self._session.node

    def run(self, fn: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> Any:
        """Run ``fn(*args)`` as a process of this example's node; return its result.

        A crash is raised here (a failed ``assert`` fails the step). Processes that ``fn``
        starts with ``Actor.start`` or ``spawn`` live on into the next steps.
        """
        return self._session.run(fn, *args)

    def teardown(self) -> None:
        """Stop this example's node."""
        self._session.close()
