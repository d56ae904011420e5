"""Watermark keys in the data directory: the installation's own key and partners' keys.

``pyosi scan`` and the service try every key in ``keys/``; ``pyosi mark`` uses ``keys/default.json``
(created on first use) unless given another key.
"""

from __future__ import annotations

from pathlib import Path

from pyosi.errors import InvalidKeyError
from pyosi.paths import subdir
from pyosi.watermark import WatermarkKey

DEFAULT_KEY = "default.json"


def keys_dir(create: bool = False) -> Path:
    return subdir("keys", create=create)


def key_files() -> list[Path]:
    d = keys_dir()
    return sorted(p for p in d.glob("*.json") if p.is_file()) if d.is_dir() else []


def registered_keys() -> list[WatermarkKey]:
    """Every key in ``keys/``; a corrupt key file is an error, never silently skipped."""
    keys: dict[str, WatermarkKey] = {}
    for path in key_files():
        key = WatermarkKey.load(path)
        keys.setdefault(key.id, key)
    return list(keys.values())


def default_key(create: bool = True) -> tuple[WatermarkKey, bool]:
    """The installation's own marking key and whether it was just created."""
    path = keys_dir(create=create) / DEFAULT_KEY
    if path.exists():
        return WatermarkKey.load(path), False
    if not create:
        raise InvalidKeyError(f"no default key at {path}; run `pyosi key new --register`")
    key = WatermarkKey.generate()
    key.save(path)
    return key, True


def register_key(key: WatermarkKey, name: str | None = None, *, overwrite: bool = False) -> Path:
    """Add a key (e.g. a partner's) to the keys ``pyosi scan`` tries."""
    return key.save(keys_dir(create=True) / f"{name or key.id}.json", overwrite=overwrite)
