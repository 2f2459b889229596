r"""Stability reports: one object, rendered as text, Markdown, HTML, LaTeX
or JSON, and displayed by Jupyter.

A report holds the update equations, the characteristic polynomial, the
Jury conditions, the verdict at the given values over the curvatures,
the rate per step and the steps to cut the error a million-fold, the
largest stable learning rate and curvature, the margins and noise gain
(at the top curvature for margins; summed over the modes for the noise
gain of a spectrum), a step-response figure, a stability-region figure,
and the cross-check against a simulation of the rule itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import sympy

from ._version import __version__
from ._symbols import h as _h
from .analysis import (
    max_stable_curvature,
    max_stable_learning_rate,
    stability_over,
)
from .catalog import get_rule
from .closedloop import closed_loop
from .curvature import as_curvatures
from .loops import margins, noise_gains, step_response
from .rules import Rule
from .stability import jury_conditions

__all__ = ["Report", "report"]


@dataclass(frozen=True)
class Report:
    """A complete stability report; see :func:`report`.

    Attributes
    ----------
    rule : Rule
    values : dict
        Parameter values (exact numbers).
    curvatures : Curvatures
    char_poly : sympy.Poly
        In ``z``, symbolic in ``h`` and the shown parameters.
    substituted : dict
        Parameters substituted into `char_poly` and the conditions.
    conditions : list or None
        Jury conditions (None when too large to show).
    stability : Stability
        Verdict and worst rate over the curvatures.
    max_learning_rate, max_curvature : float or None
    margins : Margins
        At the top curvature.
    noise : float
        E||x - x*||^2 per unit gradient-noise variance: summed over the
        modes of a spectrum, the worst single mode of an interval.
    crosscheck : CrossCheck or None
    step : dict
        Step responses, ``{curvature: (steps, error)}``.
    """

    rule: Rule
    values: dict
    curvatures: object
    char_poly: sympy.Poly
    substituted: dict
    conditions: list | None
    stability: object
    max_learning_rate: float | None
    max_curvature: float | None
    margins: object
    noise: float
    crosscheck: object
    step: dict = field(repr=False)

    # -- data -----------------------------------------------------------

    def to_dict(self) -> dict:
        """JSON-ready content; infinity as the string ``"inf"``."""
        s = self.stability
        m = self.margins
        cc = self.crosscheck
        return _jsonable({
            "lrcontrol_version": __version__,
            "rule": self.rule.name,
            "parameters": {k: float(v) for k, v in self.values.items()},
            "curvature": {
                "kind": self.curvatures.kind,
                "min": self.curvatures.min,
                "max": self.curvatures.max,
                "source": self.curvatures.source,
                "modes": len(self.curvatures.modes),
            },
            "update": [f"{a} = {b}" for a, b in self.rule.equations()],
            "characteristic_polynomial": sympy.sstr(self.char_poly.as_expr()),
            "substituted": {k: float(v) for k, v in self.substituted.items()},
            "stability_conditions": None if self.conditions is None else
            [sympy.sstr(c) for c in self.conditions],
            "verdict": s.verdict,
            "spectral_radius": s.spectral_radius,
            "worst_curvature": s.worst_curvature,
            "steps_to_reduce_error_1e6": _whole(s.steps_to_reduce),
            "max_stable_learning_rate": self.max_learning_rate,
            "max_stable_curvature": self.max_curvature,
            "gain_margin": m.gain_margin,
            "phase_margin_deg": m.phase_margin_deg,
            "delay_margin_steps": m.delay_margin_steps,
            "delay_margin_note": m.delay_margin_note,
            "python_control_gain_margin": m.python_control_gain_margin,
            "noise_gain": self.noise,
            "modes": [
                {"curvature": md.curvature, "verdict": md.verdict,
                 "spectral_radius": md.spectral_radius} for md in s.modes
            ],
            "crosscheck": None if cc is None else {
                "points": cc.points,
                "near_boundary": cc.near_boundary,
                "agree": cc.agree if cc.points else None,
                "disagreements": cc.disagreements,
                "max_rate_error": cc.max_rate_error,
            },
            "conventions": self.rule.conventions,
        })

    # -- renderings -----------------------------------------------------

    def to_text(self) -> str:
        from ._render import render_text

        return render_text(self)

    def to_markdown(self, figure_stem: str | None = None) -> str:
        from ._render import render_markdown

        return render_markdown(self, figure_stem)

    def to_html(self) -> str:
        from ._render import render_html

        return render_html(self)

    def to_latex(self, figure_stem: str | None = None) -> str:
        from ._render import render_latex

        return render_latex(self, figure_stem)

    def figures(self) -> dict:
        """``{"step": Figure, "region": Figure}`` (matplotlib)."""
        from ._render import report_figures

        return report_figures(self)

    def _repr_html_(self):
        return self.to_html()

    def __str__(self):
        return self.to_text()


def _whole(value):
    return int(value) if math.isfinite(value) else value


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating, sympy.Basic)):
        number = float(value)
        if math.isinf(number):
            return "inf" if number > 0 else "-inf"
        if math.isnan(number):
            return None
        return number
    return value


def _shown_parameters(rule):
    """Parameters kept symbolic in the displayed polynomial."""
    names = [rule.learning_rate] if rule.learning_rate else []
    for p in rule.parameters:
        if len(names) >= 2:
            break
        if p.name not in names and not p.domain.flag:
            names.append(p.name)
    return names


def report(
    rule,
    curvature=None,
    values=None,
    crosscheck: bool = True,
    **more,
) -> Report:
    """Build the stability report of `rule` at the given values.

    Parameters
    ----------
    rule : Rule or str
    curvature : number, tuple (mu, L), array or None
        One curvature, an interval or a spectrum; None is the bundled
        spectrum of least squares on the diabetes data.
    values : mapping, optional
        Parameter values; defaults fill the rest.  Keywords are merged.
    crosscheck : bool
        Compare with a simulation of the rule itself on a grid.

    Examples
    --------
    >>> r = report("gradient-descent", 1.0, learning_rate=0.5,
    ...            crosscheck=False)
    >>> r.stability.verdict, r.max_learning_rate
    ('stable', 2.0)
    """
    rule = get_rule(rule)
    values = rule.values(values, **more)
    curv = as_curvatures(curvature)
    shown = _shown_parameters(rule)
    substituted = {k: v for k, v in values.items() if k not in shown}
    char_poly = closed_loop(rule, None, substituted).char_poly
    conditions = jury_conditions(char_poly)
    stab = stability_over(rule, curv, values)
    top = curv.max
    max_lr = _maybe(max_stable_learning_rate, rule, curv, values) \
        if rule.learning_rate else None
    return Report(
        rule=rule,
        values=values,
        curvatures=curv,
        char_poly=char_poly,
        substituted=substituted,
        conditions=conditions,
        stability=stab,
        max_learning_rate=max_lr,
        max_curvature=max_stable_curvature(rule, values),
        margins=margins(rule, top, values),
        noise=_noise(rule, curv, values),
        crosscheck=_crosscheck(rule, curv, values, max_lr)
        if crosscheck else None,
        step=_steps(rule, curv, values),
    )


def _maybe(fn, rule, curv, values):
    fixed = {k: v for k, v in values.items() if k != rule.learning_rate}
    return fn(rule, curv, fixed)


def _noise(rule, curv, values):
    if curv.kind == "interval":
        # worst single mode, on a grid; a mode at h = 0 never forgets noise
        if curv.min == 0:
            return math.inf
        grid = np.geomspace(curv.min, curv.max, 65)
        return float(noise_gains(rule, grid, values).max())
    gains = noise_gains(rule, [h for h in curv.values if h > 0], values)
    if any(h == 0 for h in curv.values):
        return math.inf
    return float(gains.sum())


def _steps(rule, curv, values):
    out = {}
    for h in sorted({curv.max, min(v for v in curv.values if v > 0)
                     if any(v > 0 for v in curv.values) else curv.max}):
        response = step_response(rule, h, values)
        out[h] = (np.asarray(response.time), np.asarray(response.outputs))
    return out


#: Largest number of modes the report's cross-check simulates; larger
#: spectra are thinned to this many, the extremes included.
CROSSCHECK_MODES = 256


def _crosscheck(rule, curv, values, max_lr):
    """Simulate the rule on the problem's nonzero modes over a grid that
    contains the given values; None when every curvature is zero (a mode
    with h = 0 never moves, so there is nothing to compare)."""
    from .simulation import crosscheck

    problem = _as_problem(curv)
    if problem.size == 0:
        return None
    if problem.size > CROSSCHECK_MODES:
        pick = np.unique(np.linspace(0, problem.size - 1,
                                     CROSSCHECK_MODES).round().astype(int))
        problem = np.sort(problem)[pick]
    grid = _crosscheck_grid(rule, values, max_lr)
    fixed = {k: v for k, v in values.items() if k not in grid}
    return crosscheck(rule, problem, grid, fixed)


def _as_problem(curv):
    """The modes to simulate: the ends of an interval, or the spectrum,
    without zero curvatures."""
    modes = (curv.min, curv.max) if curv.kind == "interval" else curv.values
    return np.array([v for v in modes if v > 0])


def _crosscheck_grid(rule, values, limit):
    """The learning rate up to 1.5x its stable limit, by a second axis."""
    names = _shown_parameters(rule)
    grid = {}
    lr = rule.learning_rate
    if lr is not None:
        top = 1.5 * limit if limit and math.isfinite(limit) else \
            3 * float(values[lr])
        grid[lr] = np.union1d(np.linspace(top / 12, top, 12),
                              [float(values[lr])])
    for name in names:
        if name == lr:
            continue
        d = rule.parameter(name).domain
        low = float(d.low) if d.low.is_finite else -1.0
        high = float(d.high) if d.high.is_finite else 2.0
        high = min(high, 0.99) if d.high == 1 else high
        grid[name] = np.union1d(np.linspace(low, high, 6),
                                [float(values[name])])
    # a value just inside a domain's edge (momentum 1 - 1e-17) rounds onto
    # it in floating point; the simulation runs in floats, so drop it
    return {name: np.array([v for v in axis
                            if rule.parameter(name).domain.contains(v)])
            for name, axis in grid.items()}
