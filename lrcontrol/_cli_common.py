"""Arguments shared by the subcommands: the rule, values, curvatures."""

from __future__ import annotations

import argparse

from .catalog import get_rule
from .curvature import Curvatures, as_curvatures
from .rulefile import rule_file_loader
from .spectra import load_spectrum

__all__ = [
    "add_rule_arguments",
    "add_curvature_arguments",
    "rule_from_args",
    "values_from_args",
    "curvatures_from_args",
    "RULE_LOADERS",
]

#: Hooks that turn extra rule options into a Rule; each takes the parsed
#: arguments and returns a Rule or None (e.g. ``--rule-file``).
RULE_LOADERS = [rule_file_loader]


def add_rule_arguments(parser: argparse.ArgumentParser) -> None:
    """RULE (a catalog name) and repeated ``--set NAME=VALUE``."""
    parser.add_argument(
        "rule", nargs="?", help="a rule from `lrcontrol list`"
    )
    parser.add_argument(
        "--rule-file", metavar="FILE",
        help="a rule written in a TOML file (see examples/)",
    )
    parser.add_argument(
        "--set", dest="settings", action="append", default=[],
        metavar="NAME=VALUE", help="set a parameter (repeatable)",
    )


def add_curvature_arguments(parser: argparse.ArgumentParser) -> None:
    """One of ``--curvature``, ``--curvature-range``, ``--spectrum``."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--curvature", metavar="H",
                       help="one curvature (an eigenvalue of the Hessian)")
    group.add_argument("--curvature-range", nargs=2, metavar=("MU", "L"),
                       help="every curvature in [MU, L]")
    group.add_argument("--spectrum", metavar="FILE",
                       help="eigenvalues from a .npy, .csv or .txt file")


def rule_from_args(args):
    """The rule named on the command line (or loaded by a hook)."""
    for loader in RULE_LOADERS:
        rule = loader(args)
        if rule is not None:
            if args.rule is not None:
                raise ValueError(
                    "give either RULE or a rule file, not both; got "
                    f"RULE {args.rule!r} as well."
                )
            return rule
    if args.rule is None:
        raise ValueError(
            "RULE is required: one of the names `lrcontrol list` shows."
        )
    return get_rule(args.rule)


def values_from_args(rule, args) -> dict:
    """Exact parameter values: defaults overridden by ``--set``."""
    given = {}
    for item in args.settings:
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            raise ValueError(
                f"`--set` must look like NAME=VALUE, got {item!r}."
            )
        if name in given:
            raise ValueError(f"`--set` gives {name!r} twice.")
        given[name] = value
    return rule.values(given)


def curvatures_from_args(args) -> Curvatures:
    """The curvatures asked for; the bundled spectrum by default."""
    if getattr(args, "curvature", None) is not None:
        return as_curvatures(
            _float(args.curvature, "--curvature"), "--curvature"
        )
    if getattr(args, "curvature_range", None):
        mu, top = (_float(v, "--curvature-range") for v in
                   args.curvature_range)
        return as_curvatures((mu, top), "--curvature-range")
    if getattr(args, "spectrum", None):
        values = load_spectrum(args.spectrum)
        return as_curvatures(values, f"file {args.spectrum}")
    return as_curvatures(None)


def _float(text, option):
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"`{option}` must be a number, got {text!r}.") \
            from None
