"""Where pyosi keeps its state: one data directory shared by the CLI and the service.

$PYOSI_DATA_DIR                 (default: $XDG_DATA_HOME/pyosi, else ~/.local/share/pyosi)
├── pyosi.db                    SQLite: manifest store (durable credentials), later the service
├── keys/*.json                 watermark keys tried by `pyosi scan` (own and partners')
├── identity/                   C2PA signing identity (`pyosi identity init`); keys 0600
└── trust/*.pem                 extra C2PA trust anchors, besides the identity's own root
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "PYOSI_DATA_DIR"


def data_dir(create: bool = False) -> Path:
    """The data directory; created (mode 0700: it holds secrets) when ``create``."""
    explicit = os.environ.get(DATA_DIR_ENV)
    if explicit:
        path = Path(explicit).expanduser()
    else:
        base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        path = Path(base) / "pyosi"
    if create:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def subdir(name: str, create: bool = False) -> Path:
    path = data_dir(create) / name
    if create:
        path.mkdir(mode=0o700, exist_ok=True)
    return path


def database_path() -> Path:
    return data_dir() / "pyosi.db"
