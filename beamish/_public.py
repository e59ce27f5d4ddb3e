"""Present re-exported names as members of the package that exports them.

>>> import beamish
>>> beamish.Actor.__module__, beamish.Actor.start_link.__module__
('beamish', 'beamish')
"""

from __future__ import annotations

from typing import Any


def present_as(package: str, namespace: dict[str, Any], *, private_only: bool = False) -> None:
    """Set ``__module__`` to ``package`` on its public names that come from its submodules
    (only its private ``_x`` ones with ``private_only``), and on their methods: ``help()``,
    reprs, tracebacks and the API reference then name ``package.X``, where users import it,
    and the doctests of those objects and their methods run as the package's (trio's
    ``fixup_module_metadata``)."""
    prefix = package + ("._" if private_only else ".")
    for name, value in list(namespace.items()):
        if name.startswith("_") or not getattr(value, "__module__", "").startswith(prefix):
            continue
        _set_module(value, package)
        if isinstance(value, type):
            for member in vars(value).values():
                function = getattr(member, "__func__", None) or getattr(member, "fget", member)
                if getattr(function, "__module__", "").startswith(prefix):
                    _set_module(function, package)


def _set_module(value: Any, package: str) -> None:
    try:
        value.__module__ = package
    except (AttributeError, TypeError):  # a builtin, or a type that refuses it
        pass
