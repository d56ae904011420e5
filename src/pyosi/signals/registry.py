"""The registry of detectors: the built-ins plus any plug-in that registers one.

A plug-in either calls :func:`register` on import or declares an entry point in the
``pyosi.signals`` group pointing at its :class:`~pyosi.signals.base.SignalType` subclass::

    [project.entry-points."pyosi.signals"]
    my-detector = "my_package.detector:MyDetector"
"""

from __future__ import annotations

from importlib.metadata import entry_points

from pyosi.signals.base import SignalType

ENTRY_POINT_GROUP = "pyosi.signals"

_registry: dict[str, type[SignalType]] = {}
_loaded_plugins = False


def register(cls: type[SignalType]) -> type[SignalType]:
    """Add a detector class (usable as a decorator). Names are unique."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise TypeError(f"{cls.__name__} has no name")
    existing = _registry.get(name)
    if existing is not None and existing is not cls:
        raise ValueError(f"a detector named {name!r} is already registered ({existing.__name__})")
    _registry[name] = cls
    return cls


def signal_types() -> list[type[SignalType]]:
    """Every registered detector class, built-ins first, in registration order."""
    _load_builtins()
    _load_plugins()
    return list(_registry.values())


def get(name: str) -> type[SignalType]:
    for cls in signal_types():
        if cls.name == name:
            return cls
    known = ", ".join(c.name for c in signal_types())
    raise KeyError(f"no detector named {name!r}; known: {known}")


def _load_builtins() -> None:
    # Imported for their @register side effect, in the order results are reported.
    from pyosi.signals import (  # noqa: F401
        c2pa,
        pyosi_watermark,
        sd_watermark,
        traces,
        xmp,
    )


def _load_plugins() -> None:
    global _loaded_plugins  # noqa: PLW0603 - load entry points once per process
    if _loaded_plugins:
        return
    _loaded_plugins = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        cls = ep.load()
        if isinstance(cls, type) and issubclass(cls, SignalType):
            register(cls)
