"""The ``report`` subcommand."""

from __future__ import annotations

import html
import json
import sys
from pathlib import Path

from ._cli_common import (
    add_curvature_arguments,
    add_rule_arguments,
    curvatures_from_args,
    rule_from_args,
    values_from_args,
)
from ._io import atomic_write, check_output

__all__ = ["add_commands"]

FORMATS = ("text", "markdown", "html", "latex", "json")
_SUFFIX = {".txt": "text", ".md": "markdown", ".html": "html",
           ".htm": "html", ".tex": "latex", ".json": "json"}


def add_commands(subparsers) -> None:
    parser = subparsers.add_parser(
        "report",
        help="stability report of a rule",
        description="Stability report of RULE at the given values, over a "
        "curvature, an interval or a spectrum (default: the bundled "
        "spectrum of least squares on the diabetes data).",
    )
    add_rule_arguments(parser)
    add_curvature_arguments(parser)
    parser.add_argument("--format", choices=FORMATS, default=None,
                        help="output format (default: from -o's suffix, "
                        "else text)")
    parser.add_argument("-o", "--output", metavar="PATH",
                        help="write here instead of the terminal; Markdown "
                        "and LaTeX put their figures beside it")
    parser.add_argument("--force", action="store_true",
                        help="replace existing output files")
    parser.add_argument("--no-crosscheck", action="store_true",
                        help="skip the simulation cross-check")
    parser.set_defaults(handler=_report)


def _report(args) -> int:
    from .reports import report

    rule = rule_from_args(args)
    values = values_from_args(rule, args)
    curvatures = curvatures_from_args(args)
    fmt = _format(args)
    _check_output(args, fmt)
    result = report(rule, curvatures, values,
                    crosscheck=not args.no_crosscheck)
    if not args.output:
        sys.stdout.write(_render(result, fmt, None))
        return 0
    _write(result, fmt, Path(args.output).resolve(), args.force)
    return 0


def _format(args):
    if args.format or not args.output:
        return args.format or "text"
    suffix = Path(args.output).suffix.lower()
    if suffix not in _SUFFIX:
        raise ValueError(
            f"`-o` must end in one of {sorted(_SUFFIX)} or come with "
            f"--format, got {args.output!r}."
        )
    return _SUFFIX[suffix]


def _targets(path, fmt):
    """Every file the report writes: the report, then its figures."""
    if fmt not in ("markdown", "latex"):
        return [path]
    return [path] + [path.with_name(f"{path.stem}_{name}.png")
                     for name in ("step", "region")]


def _check_output(args, fmt):
    """Refuse existing outputs before any work is done."""
    if args.output is None:
        return
    for target in _targets(Path(args.output), fmt):
        check_output(target, args.force)


def _render(result, fmt, stem):
    if fmt == "json":
        return json.dumps(result.to_dict(), indent=2) + "\n"
    if fmt == "markdown":
        return result.to_markdown(stem)
    if fmt == "latex":
        return result.to_latex(stem)
    if fmt == "html":
        # a file is a whole page; the fragment alone is for Jupyter
        title = html.escape(f"lrcontrol: {result.rule.name}")
        return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
                "<meta charset=\"utf-8\">\n"
                f"<title>{title}</title>\n</head>\n<body>\n"
                f"{result.to_html()}\n</body>\n</html>\n")
    return result.to_text()


def _write(result, fmt, path, force):
    # render everything first, then write figures and the report
    stem = path.stem if fmt in ("markdown", "latex") else None
    text = _render(result, fmt, stem)
    if stem:
        for name, fig in result.figures().items():
            target = path.with_name(f"{stem}_{name}.png")
            atomic_write(target, lambda tmp, f=fig: f.savefig(
                tmp, format="png", dpi=110, bbox_inches="tight"), force)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, "utf-8"),
                 force)
