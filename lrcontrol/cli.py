"""The ``lrcontrol`` command.

Subcommands: ``list`` (the catalog), ``report`` (a stability report),
``region`` (a stability region to PNG, SVG, PDF, NPZ or JSON) and
``tune`` (the tuning that minimizes the worst-case rate).
Other modules add subcommands through :data:`COMMAND_MODULES`: each such
module has ``add_commands(subparsers)``; a subcommand stores its handler
with ``parser.set_defaults(handler=...)`` and the handler takes the
parsed arguments and returns the exit status.

Bad input ends with one line ``lrcontrol: error: ...`` on standard error
and exit status 2, never with a traceback or a half-written file.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from ._version import __version__
from ._io import OutputExistsError

__all__ = ["main", "build_parser", "UsageError"]

#: Modules that add subcommands (each has ``add_commands(subparsers)``).
COMMAND_MODULES = ["lrcontrol._cli_report"]

#: Optional modules: added when present.
OPTIONAL_COMMAND_MODULES = ["lrcontrol._cli_regions"]


class UsageError(ValueError):
    """Bad input on the command line; reported in one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors in the same one-line form as ours."""

    def error(self, message):
        self.exit(2, f"lrcontrol: error: {message} (see `{self.prog} "
                     "--help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="lrcontrol",
        description="Optimizers and learning-rate rules as closed loops: "
        "exact stability, margins and simulation cross-checks.",
    )
    parser.add_argument(
        "--version", action="version", version=f"lrcontrol {__version__}"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    listing = subparsers.add_parser("list", help="list the built-in rules")
    listing.set_defaults(handler=_list)
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_commands(subparsers)
    for name in OPTIONAL_COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name != name:
                raise
            continue
        module.add_commands(subparsers)
    return parser


def _list(args) -> int:
    from .catalog import get_rule, list_rules

    rules = [get_rule(n) for n in list_rules()]
    width = max(len(r.name) for r in rules)
    for r in rules:
        names = ", ".join(p.name for p in r.parameters)
        print(f"{r.name:<{width}}  ({names})  {r.description}")
    return 0


def _show_warning(message, category, filename, lineno, file=None,
                  line=None):
    """Warnings as one line on stderr, without the source line."""
    print(f"lrcontrol: warning: {message}", file=sys.stderr)


def main(argv=None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return 2
    from numpy.linalg import LinAlgError

    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return args.handler(args)
    except LinAlgError as err:
        # a ValueError by inheritance, but never the user's input: say so
        print(f"lrcontrol: internal numerical failure ({err}); please "
              "report it with the command line that caused it.",
              file=sys.stderr)
        return 1
    except (UsageError, ValueError, TypeError, OutputExistsError,
            FileNotFoundError, IsADirectoryError, PermissionError,
            NotImplementedError) as err:
        print(f"lrcontrol: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lrcontrol: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
