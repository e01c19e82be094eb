"""A package's public names loaded on first use (PEP 562 module ``__getattr__``).

A package that re-exports its parts (``from relman.deploy import deploy``) would load them
all on ``import relman.deploy.progress``; with :func:`lazy_names` it loads a part when one
of its names is first read, and keeps it. The package still imports them under
``TYPE_CHECKING``, so mypy sees every name where it lives.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping


def lazy_names(package: str, homes: Mapping[str, str]) -> Callable[[str], object]:
    """The module ``__getattr__`` of ``package``: a name in ``homes`` (name → the module
    defining it) is imported from there on first use and set on the package (a plain
    attribute from then on); any other name is an :class:`AttributeError`."""

    def __getattr__(name: str) -> object:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
