"""The ``report`` subcommand (filled in with the report module)."""

from ._cli_common import (
    add_curvature_arguments,
    add_rule_arguments,
)

__all__ = ["add_commands"]


def add_commands(subparsers) -> None:
    parser = subparsers.add_parser(
        "report", help="stability report of a rule"
    )
    add_rule_arguments(parser)
    add_curvature_arguments(parser)
    parser.set_defaults(handler=_report)


def _report(args) -> int:
    raise NotImplementedError("the report command is being written.")
