"""Process identifiers and unique references.

>>> pid = Pid("app@host", 7, 1)
>>> pid
<app@host.7.1>
>>> pid == Pid("app@host", 7, 1), pid < Pid("app@host", 8, 1)
(True, True)
>>> Ref("app@host", 42)
#Ref<app@host.42>

Both are named tuples: hashable, ordered, cheap to build, and trivially carried by msgpack.
A ``Pid`` has three fields and a ``Ref`` two, so the two never compare equal.
"""

from __future__ import annotations

from typing import NamedTuple


class Pid(NamedTuple):
    """The address of a process: ``(node, serial, creation)``.

    ``creation`` tells apart two incarnations of a node with the same name, so a pid of a
    node that restarted never reaches a new process by accident.
    """

    node: str
    serial: int
    creation: int

    def __repr__(self) -> str:
        return f"<{self.node}.{self.serial}.{self.creation}>"

    def __str__(self) -> str:
        return self.__repr__()


class Ref(NamedTuple):
    """A reference unique across the cluster's lifetime (monitors, calls, timers)."""

    node: str
    id: int

    def __repr__(self) -> str:
        return f"#Ref<{self.node}.{self.id}>"

    def __str__(self) -> str:
        return self.__repr__()
