"""The ``region`` and ``tune`` subcommands.

``lrcontrol region RULE --x NAME:LO:HI:N[:log] --y NAME:LO:HI:N[:log]
-o FILE`` writes a stability region as a figure (PNG, SVG, PDF), as
arrays (NPZ) or as JSON, by the file's extension.  ``lrcontrol tune RULE
--over NAME,NAME --curvature-range MU L`` prints the tuning that
minimizes the worst-case rate.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from ._cli_common import (
    add_curvature_arguments,
    add_rule_arguments,
    curvatures_from_args,
    rule_from_args,
    values_from_args,
)
from ._io import atomic_write, check_output

__all__ = ["add_commands"]

FIGURES = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
SUFFIXES = (".png", ".svg", ".pdf", ".npz", ".json")


def add_commands(subparsers) -> None:
    region = _subcommand(
        subparsers, "region", _region,
        help="stability region and rate map over two parameters",
        description="Verdict and spectral-radius maps of RULE over two "
        "axes, with the exact boundary curves; written as PNG, SVG, PDF, "
        "NPZ or JSON by the extension of -o.  Default curvature: 1.0.",
    )
    region.add_argument("--x", metavar="NAME:LO:HI:N[:log]",
                        help="horizontal axis: a parameter or 'curvature' "
                        "(default: the learning rate on [0, 4], 400 "
                        "points)")
    region.add_argument("--y", metavar="NAME:LO:HI:N[:log]",
                        help="vertical axis (default: the rule's next "
                        "parameter on its domain, e.g. momentum on "
                        "[-1, 1], 400 points)")
    _add_delay(region)
    _add_output(region, "output file: .png, .svg, .pdf, .npz or .json")

    tune = _subcommand(
        subparsers, "tune", _tune,
        help="parameters minimizing the worst-case rate",
        description="Minimize the worst-case spectral radius of RULE over "
        "an interval of curvatures (or a spectrum) with respect to the "
        "parameters named by --over.",
    )
    tune.add_argument("--over", metavar="NAME,NAME",
                      help="parameters to tune, comma-separated")
    _add_delay(tune)
    tune.add_argument("--format", choices=("text", "json"), default="text",
                      help="output format (default text)")
    _add_output(tune, "write here instead of the terminal")


def _subcommand(subparsers, name, handler, **text):
    """A subcommand taking a rule and curvatures, run by `handler`."""
    parser = subparsers.add_parser(name, **text)
    add_rule_arguments(parser)
    add_curvature_arguments(parser)
    parser.set_defaults(handler=handler)
    return parser


def _add_delay(parser):
    parser.add_argument("--delay", default="0", metavar="D",
                        help="gradient staleness in steps (default 0)")


def _add_output(parser, about):
    """``-o FILE`` (described by `about`) and ``--force``."""
    parser.add_argument("-o", "--output", metavar="FILE", help=about)
    parser.add_argument("--force", action="store_true",
                        help="replace an existing output file")


def _region(args) -> int:
    from .regions import parse_axis, stability_region

    rule = rule_from_args(args)
    path = _output(args, required=True)
    x = parse_axis(args.x or _default_x(rule), rule, "--x")
    y = parse_axis(args.y or _default_y(rule, x.name), rule, "--y")
    fixed = _fixed(rule, args, (x.name, y.name), "an axis")
    curvature = None
    if _curvature_given(args):
        if "curvature" in (x.name, y.name):
            raise ValueError(
                "--curvature, --curvature-range and --spectrum must not be "
                "given when an axis is the curvature; the axis sets it."
            )
        curvature = curvatures_from_args(args)
    region = stability_region(rule, x, y, fixed, curvature,
                              delay=_delay(args.delay))
    suffix = path.suffix.lower()
    if suffix in FIGURES:
        atomic_write(path, lambda tmp: _save_figure(region, tmp,
                                                    FIGURES[suffix]),
                     args.force)
    elif suffix == ".npz":
        atomic_write(path, lambda tmp: _save_npz(region, tmp), args.force)
    else:
        atomic_write(path, lambda tmp: _save_json(region.to_dict(), tmp),
                     args.force)
    return 0


def _tune(args) -> int:
    from .tuning import optimal_tuning

    rule = rule_from_args(args)
    if not args.over:
        raise ValueError(
            "`--over` must name the parameters to tune, e.g. "
            "--over learning_rate,momentum."
        )
    if not _curvature_given(args):
        raise ValueError(
            "`tune` needs the curvatures: --curvature-range MU L, "
            "--spectrum FILE or --curvature H."
        )
    path = _output(args, required=False)
    over = [s.strip() for s in args.over.split(",") if s.strip()]
    fixed = _fixed(rule, args, over, "tuned")
    curvature = curvatures_from_args(args)
    result = optimal_tuning(rule, over, curvature, fixed,
                            delay=_delay(args.delay))
    text = (json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n"
            if args.format == "json" else _tuning_text(result))
    if path is None:
        sys.stdout.write(text)
    else:
        atomic_write(path, lambda tmp: Path(tmp).write_text(text),
                     args.force)
    return 0


def _default_x(rule):
    if rule.learning_rate is None:
        raise ValueError(
            f"`--x` is needed: rule {rule.name!r} names no learning rate; "
            "e.g. --x NAME:0:1:400 with NAME one of "
            f"{[p.name for p in rule.parameters]}."
        )
    return f"{rule.learning_rate}:0:4:400"


def _default_y(rule, x_name):
    """The first other continuous parameter, over its domain clipped to
    [-1, 1] for momenta and [0, 4] otherwise; the curvature if none."""
    for p in rule.parameters:
        if p.name == x_name or p.domain.flag:
            continue
        bounded = p.domain.high == 1
        low, high = (-1, 1) if bounded else (0, 4)
        return f"{p.name}:{low}:{high}:400"
    if x_name != "curvature":
        return "curvature:0.01:4:400"
    raise ValueError(
        f"`--y` is needed: rule {rule.name!r} has no other parameter than "
        f"{x_name!r}."
    )


def _curvature_given(args):
    return bool(args.curvature or args.curvature_range or args.spectrum)


def _output(args, required):
    """The output path, checked before any work is done."""
    if args.output is None:
        if required:
            raise ValueError(
                "`-o` must give the output file (.png, .svg, .pdf, .npz or "
                ".json)."
            )
        return None
    path = Path(args.output)
    if required and path.suffix.lower() not in SUFFIXES:
        raise ValueError(
            "`-o` must end in .png, .svg, .pdf, .npz or .json, got "
            f"'{path}'."
        )
    return check_output(path, args.force)


def _fixed(rule, args, names, role):
    """Values from --set for the parameters that are not in `names`."""
    for item in args.settings:
        name = item.partition("=")[0].strip()
        if name in names:
            raise ValueError(
                f"`--set` must not give {name!r}, which is {role}."
            )
    values = values_from_args(rule, args)
    return {n: v for n, v in values.items() if n not in names}


#: Largest gradient delay the region and tune commands accept.
MAX_DELAY = 64


def _delay(text):
    try:
        delay = int(str(text))
    except ValueError:
        delay = -1
    if delay < 0:
        raise ValueError(
            f"`--delay` must be a whole number >= 0, got {text!r}."
        )
    if delay > MAX_DELAY:
        # the degree in z is about the delay: a 32-step map takes ~25 s
        raise ValueError(
            f"`--delay` must be at most {MAX_DELAY} here (the polynomial's "
            f"degree grows with it), got {delay}; use the Python API for "
            "longer delays."
        )
    return delay


def _save_figure(region, tmp, fmt):
    from matplotlib.figure import Figure

    from .plotting import plot_rate_map, plot_region

    figure = Figure(figsize=(11, 4.5), layout="constrained")
    left, right = figure.subplots(1, 2)
    plot_region(region, ax=left)
    plot_rate_map(region, ax=right)
    figure.savefig(tmp, format=fmt)


def _save_npz(region, tmp):
    curves = region.boundaries
    points = (np.concatenate([np.column_stack([c.x, c.y, c.curvature,
                                               c.omega]) for c in curves])
              if curves else np.zeros((0, 4)))
    offsets = np.cumsum([0] + [len(c.x) for c in curves])
    arrays = {
        "x": region.x, "y": region.y, "verdict": region.codes,
        "verdict_names": np.array(["stable", "marginal", "unstable"]),
        "stable": region.stable, "spectral_radius": region.spectral_radius,
        "in_domain": region.in_domain,
        "axes": np.array([region.x_axis.spec(), region.y_axis.spec()]),
        "boundary_kinds": np.array([c.kind for c in curves], dtype=str),
        "boundary_offsets": offsets,
        "boundary_points": points,
    }
    with open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)


def _save_json(data, tmp):
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, allow_nan=False)
        f.write("\n")


def _value_text(v):
    text = f"{v:.12g}"
    # 0.9999999999999999 must not print as the excluded end 1
    return repr(v) if float(text) != v and float(text).is_integer() \
        else text


def _tuning_text(result) -> str:
    width = max(len(n) for n in result.parameters)
    curv = result.curvatures
    where = ", ".join(f"{h:g}" for h in result.worst_curvatures)
    head = (f"{result.rule}: optimal tuning over curvatures "
            f"[{curv.min:g}, {curv.max:g}] ({curv.kind})")
    lines = [head]
    lines += [f"  {n:<{width}} = {_value_text(v)}"
              for n, v in result.parameters.items()]
    lines.append(f"  worst-case spectral radius = "
                 f"{_value_text(result.spectral_radius)} (at h = {where})")
    if not result.stable:
        lines.append("  NO STABLE TUNING: the best point found is still "
                     "unstable on some curvature; widen the search or "
                     "change the fixed values.")
    lines.append(f"  check: no better point nearby (gap "
                 f"{result.local_gap:.2g}); {result.agreeing_starts} "
                 "starts agree")
    return "\n".join(lines) + "\n"
