"""One small registry type shared by encoders, connectors, tasks, metrics and rewards.

Entries register themselves with a decorator where they are defined, so a folder *is*
the registry: nobody keeps a list in sync by hand.
"""
from __future__ import annotations

from typing import Callable, Generic, TypeVar

from .errors import MedMLLMError

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> object mapping filled by the `register` decorator; `check(name, obj)`, when given,
    vets each entry as it registers (e.g. that an encoder class provides the encoder contract)."""

    def __init__(self, kind: str, check: Callable[[str, T], None] | None = None):
        self.kind = kind
        self._items: dict[str, T] = {}
        self._check = check

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            if self._check is not None:
                self._check(name, obj)
            self._items[name] = obj
            return obj

        return deco

    def unregister(self, name: str) -> T:
        """Remove an entry (tests register throwaway ones) and return it."""
        if name not in self._items:
            raise KeyError(f"{self.kind} {name!r} is not registered")
        return self._items.pop(name)

    def get(self, name: str) -> T:
        if name not in self._items:
            raise MedMLLMError(f"unknown {self.kind} {name!r}; choose from {', '.join(sorted(self._items))}")
        return self._items[name]

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: str) -> bool:
        return name in self._items


def import_modules(package: str, path, skip: tuple[str, ...] = ()) -> None:
    """Import every module of a package folder (except `_private` ones and `skip`), so that their
    `@REGISTRY.register` decorators run: the folder is the registry."""
    import importlib
    import pkgutil

    for module in pkgutil.iter_modules(path):
        if not module.name.startswith("_") and module.name not in skip:
            importlib.import_module(f"{package}.{module.name}")
