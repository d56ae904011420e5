"""Shared CLI plumbing: the one place errors become exit codes, consoles, and JSON output."""

from __future__ import annotations

import errno
import json
import os
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from pyosi._json import finite
from pyosi.errors import PyosiError

EXIT_NOT_DETECTED = 1
EXIT_OTHER_PYOSI_ERROR = 6
EXIT_INTERRUPTED = 130
EXIT_INTERNAL = 70
DEBUG_ENV = "PYOSI_DEBUG"


def stdout() -> Console:
    # Built per call, never at import: test runners swap sys.stdout between invocations.
    return Console(highlight=False, soft_wrap=True)


def stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def error(message: str) -> None:
    """One red line on stderr."""
    stderr().print(f"[bold red]error:[/] {escape(' '.join(message.split()))}")


def warn(message: str) -> None:
    stderr().print(f"[yellow]warning:[/] {escape(message)}")


def exit_code_for(exc: PyosiError) -> int:
    """A pyosi error's documented exit code; 0 and 1 mean success and "not detected", not errors."""
    return exc.exit_code if exc.exit_code > EXIT_NOT_DETECTED else EXIT_OTHER_PYOSI_ERROR


def debug_enabled() -> bool:
    return os.environ.get(DEBUG_ENV, "") not in {"", "0"}


@contextmanager
def translate_errors() -> Iterator[None]:
    """Turn exceptions into a one-line message and an exit code (see ``pyosi.cli``)."""
    try:
        yield
    except (typer.Exit, typer.Abort, typer.TyperException):
        raise  # Typer's own exits and usage errors (exit 2) already say what went wrong
    except PyosiError as e:
        if debug_enabled():
            traceback.print_exc()
        error(str(e))
        raise typer.Exit(exit_code_for(e)) from None
    except KeyboardInterrupt:
        error("interrupted")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except OSError as e:
        if e.errno == errno.EPIPE:
            raise  # reader went away (`pyosi detect ... | head`); Typer exits quietly
        _internal(e)
    except Exception as e:
        _internal(e)


def _internal(e: Exception) -> None:
    if debug_enabled():
        traceback.print_exc()
    error(
        f"internal error: {type(e).__name__}: {e} "
        f"(a bug, please report it; set {DEBUG_ENV}=1 for details)"
    )
    raise typer.Exit(EXIT_INTERNAL) from None


class ErrorTranslatingGroup(TyperGroup):
    """Root command group: every sub-command runs inside :func:`translate_errors`."""

    def invoke(self, ctx: Any) -> Any:
        with translate_errors():
            return super().invoke(ctx)


def emit_json(obj: dict[str, Any]) -> None:
    """One JSON object on one line of stdout (JSON Lines); NaN and infinities become null."""
    typer.echo(json.dumps(finite(obj), ensure_ascii=False, allow_nan=False))
