"""JSON helpers shared by the CLI and the reports."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


def finite(value: Any) -> Any:
    """JSON has no NaN or infinity (an unchanged image has infinite PSNR): write null instead."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def write_json(path: Path, doc: Any, *, indent: int = 2) -> Path:
    """Write ``doc`` (non-finite floats as null) to ``path`` atomically, making its folder: a
    reader sees the old file or the whole new one, never half of it."""
    from pyosi.errors import OutputError
    from pyosi.media._write import atomic_write_bytes

    text = json.dumps(finite(doc), indent=indent, allow_nan=False) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, text.encode("utf-8"), replace=True)
    except OSError as e:
        raise OutputError(f"cannot write {path}: {e.strerror or e}") from None
    return path
