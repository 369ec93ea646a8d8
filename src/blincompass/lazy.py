"""Packages whose public names are imported on first use (PEP 562).

A package lists where each of its public names lives; ``from package import Name`` then imports only that
module, and a command that needs one light module of a package does not pay for the heavy ones
(``blincompass.io`` without pandas, ``blincompass.report`` without matplotlib in a figure worker).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_names"]


def lazy_names(package: str, homes: Mapping[str, str],
               namespace: dict[str, Any]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package`` (its ``__name__``), whose public name ``n`` lives in
    the submodule ``homes[n]``; ``namespace`` is the package's ``globals()``, where each name is kept once
    imported. Any other name that does not start with ``_`` is tried as a submodule."""

    def __getattr__(name: str) -> Any:  # noqa: N807 - the module attribute hook's own name
        home = homes.get(name)
        if home is None:
            if not name.startswith("_"):  # a submodule (e.g. ``blincompass.report.sections``)
                try:
                    return importlib.import_module(f"{package}.{name}")
                except ModuleNotFoundError as exc:
                    if exc.name != f"{package}.{name}":
                        raise
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{home}"), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:  # noqa: N807
        return sorted({*namespace, *homes})

    return __getattr__, __dir__
