"""One small registry type shared by encoders, connectors, tasks, metrics and rewards.

Entries register themselves with a decorator where they are defined, so a folder *is*
the registry: nobody keeps a list in sync by hand.
"""
from __future__ import annotations

from typing import Callable, Generic, TypeVar

from .errors import MedMLLMError

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> object mapping filled by the `register` decorator."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = obj
            return obj

        return deco

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
