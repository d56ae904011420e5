"""The ``pyosi`` command line: a thin shell over the library.

Exit codes (also in docs/cli.md):
  0   success (for ``detect``: a watermark was found in every input)
  1   ``detect`` ran but found no watermark in at least one input
  2   bad usage or arguments (including a malformed payload)
  3   media error: unreadable, unsupported, corrupt, too large or too small input
  4   key error: missing, unreadable or corrupt key file
  5   output error: cannot write, or would overwrite an existing file / the input
  6   any other pyosi error
  70  internal error (a bug: please report it; set PYOSI_DEBUG=1 for the traceback)
  130 interrupted (Ctrl-C)

Errors become exit codes in one place, ``pyosi.cli._common.translate_errors``, which wraps every
sub-command through the root group; no command prints a traceback unless PYOSI_DEBUG=1.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from pyosi.cli._common import ErrorTranslatingGroup, translate_errors

app = typer.Typer(
    name="pyosi",
    cls=ErrorTranslatingGroup,
    help="Mark, detect and label AI-generated media.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_registered = False


def _show_version(value: bool) -> None:
    if value:
        from pyosi import __version__

        typer.echo(f"pyosi {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Mark, detect and label AI-generated media."""


def _register() -> None:
    # Sub-command modules register themselves on import; kept in one place so the map is visible.
    global _registered  # noqa: PLW0603 - the app is module-level; register each command once
    if _registered:
        return
    from pyosi.cli import admin, bench, demo, detect, identity, keys, mark, scan, serve

    app.add_typer(keys.app, name="key")
    app.add_typer(mark.app, name="mark")
    app.add_typer(identity.app, name="identity")
    app.add_typer(admin.db_app, name="db")
    app.add_typer(admin.users_app, name="users")
    app.add_typer(admin.apikeys_app, name="apikeys")
    app.add_typer(admin.audit_app, name="audit")
    app.add_typer(admin.blobs_app, name="blobs")
    app.add_typer(bench.app, name="bench")
    detect.register(app)
    scan.register(app)
    serve.register(app)
    demo.register(app)
    _registered = True


def get_app() -> typer.Typer:
    """The root app with every sub-command registered (what ``pyosi`` runs; used by tests)."""
    _register()
    return app


def main() -> None:
    try:
        with translate_errors():  # covers start-up, e.g. a missing optional dependency
            get_app()
    except typer.Exit as e:
        sys.exit(e.exit_code)
    app()
