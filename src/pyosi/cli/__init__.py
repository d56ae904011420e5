"""The ``pyosi`` command line: a thin shell over the library.

Exit codes (also in docs/cli.md):
  0  success (for ``detect``: a watermark was found in every input)
  1  ``detect`` ran but found no watermark in at least one input
  2  bad usage or arguments (including a malformed payload)
  3  media error: unreadable, unsupported, corrupt, too large or too small input
  4  key error: missing, unreadable or corrupt key file
  5  output error: cannot write, or would overwrite an existing file / the input
  6  any other pyosi error
  70 internal error (a bug: please report it; set PYOSI_DEBUG=1 for the traceback)
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="pyosi",
    help="Mark, detect and label AI-generated media.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    # Sub-command modules register themselves on import; kept in one place so the map is visible.
    from pyosi.cli import bench, demo, detect, keys, mark

    app.add_typer(keys.app, name="key")
    app.add_typer(mark.app, name="mark")
    app.add_typer(bench.app, name="bench")
    detect.register(app)
    demo.register(app)


def main() -> None:
    _register()
    app()
