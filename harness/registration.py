"""One registration mechanism: name → object at definition time, collisions raise.

Estimators (``@estimator`` in :mod:`harness.api`) and search spaces (:mod:`harness.spaces`)
register into a :class:`Registry` when their module is imported, as timm's model registry and
lm-evaluation-harness's task registry do. There is no pending list to drain: the registry is the
single source of truth, and a second object under a taken name is an error at once, naming both
places.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

#: Names the registries accept (estimators, components): lower_snake_case. The leaderboard
#: checks results files against it too, since a name becomes page paths and navigation.
NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


class UnknownNameError(KeyError):
    """A name nothing is registered under; the message lists close matches."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


class DuplicateNameError(RuntimeError):
    """Two definitions claim the same name."""


def unknown_message(what: str, name: str, known: list[str]) -> str:
    """``Unknown estimator 'synflw'. Did you mean 'synflow'? Known: ...``"""
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return f"Unknown {what} {name!r}.{hint} Known: {', '.join(known)}"


class Registry(Generic[T]):
    """Objects by name, each with the place that defined it.

    Args:
        what: what is registered, for messages (``"estimator"``).
        unknown_error: the exception class raised for an unknown name.
        duplicate_error: the exception class raised on a collision.
    """

    def __init__(self, what: str, *, unknown_error: type[KeyError] = UnknownNameError,
                 duplicate_error: type[Exception] = DuplicateNameError):
        self.what = what
        self._items: dict[str, T] = {}
        self._origins: dict[str, str] = {}
        self._unknown = unknown_error
        self._duplicate = duplicate_error

    def register(self, name: str, obj: T, origin: str) -> T:
        """Register ``obj`` as ``name``, defined at ``origin`` (``module:qualname``).

        Re-registering from the same origin replaces the entry: that is the same definition
        executed again (a module re-imported), not a collision.

        Raises:
            the registry's duplicate error: if another origin registered ``name``.
        """
        if name in self._items and self._origins[name] != origin:
            raise self._duplicate(
                f"{self.what.capitalize()} {name!r} is registered twice "
                f"({self._origins[name]} and {origin}).")
        self._items[name] = obj
        self._origins[name] = origin
        return obj

    def unregister(self, name: str) -> None:
        """Forget ``name`` (a module that failed to import after registering)."""
        self._items.pop(name, None)
        self._origins.pop(name, None)

    def origin(self, name: str) -> str:
        return self._origins[name]

    def find(self, name: str) -> T | None:
        return self._items.get(name)

    def get(self, name: str) -> T:
        """The object registered as ``name``.

        Raises:
            the registry's unknown error, listing close matches.
        """
        if name not in self._items:
            raise self._unknown(unknown_message(self.what, name, sorted(self._items)))
        return self._items[name]

    def select(self, keep: Callable[[str, T], bool]) -> dict[str, T]:
        """The entries for which ``keep(origin, obj)`` holds, sorted by name."""
        return {n: self._items[n] for n in sorted(self._items)
                if keep(self._origins[n], self._items[n])}

    def names(self) -> list[str]:
        return sorted(self._items)

    def values(self) -> list[T]:
        return [self._items[n] for n in sorted(self._items)]

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def __len__(self) -> int:
        return len(self._items)
