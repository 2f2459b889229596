r"""Stability of a rule over curvatures, and the largest stable values.

Over a *spectrum* the loop is stable when every mode is.  Over an
*interval* :math:`[\mu, L]` it is stable when every curvature in it is:
the verdict is exact, because a root can meet the unit circle only at a
real root of :math:`R(h) = \operatorname{res}_z(p, z^n p(1/z))` (see
:mod:`lrcontrol.stability`); the worst spectral radius over an interval
is found numerically (dense grid, then bounded refinement).

The largest stable value of a parameter (learning rate, curvature, ...)
is the upper end of the exact stable set of that parameter, the other
values fixed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.optimize
import sympy

from ._symbols import h as _h, z as _z
from .catalog import get_rule
from .closedloop import closed_loop
from .curvature import Curvatures, as_curvatures
from .rules import exact
from .stability import (
    Segment,
    classify,
    critical_values,
    stable_set,
    worst,
)

__all__ = [
    "ModeStability",
    "Stability",
    "stability_over",
    "stable_values",
    "max_stable",
    "max_stable_learning_rate",
    "max_stable_curvature",
]


#: Spectra with more distinct eigenvalues than this are intersected in
#: floating point (see :func:`stable_values`).
EXACT_MODE_LIMIT = 32

#: Distance from 1 of the spectral radius within which the floating-point
#: path calls a segment marginal.
FLOAT_TOLERANCE = 1e-9


@dataclass(frozen=True)
class ModeStability:
    """Verdict and rate of one mode."""

    curvature: float
    verdict: str
    spectral_radius: float


@dataclass(frozen=True)
class Stability:
    """Stability of a rule over curvatures.

    Attributes
    ----------
    verdict : str
        The worst verdict over the curvatures.
    spectral_radius : float
        The largest spectral radius over the curvatures (the rate per
        step of the slowest mode).
    worst_curvature : float
        Where that radius is attained.
    modes : tuple of ModeStability
        Per mode (spectrum or value); for an interval, its two ends and
        any curvature inside where a root meets the unit circle.
    """

    verdict: str
    spectral_radius: float
    worst_curvature: float
    modes: tuple

    @property
    def steps_to_reduce(self) -> float:
        """Steps to shrink the error a million-fold, at the worst rate."""
        return steps_to_reduce(self.spectral_radius)


def steps_to_reduce(rho: float, factor: float = 1e6) -> float:
    """Steps for ``rho**k`` to fall below ``1/factor`` (inf if rho >= 1)."""
    if rho >= 1:
        return math.inf
    if rho <= 0:
        return 1.0
    return float(math.ceil(math.log(factor) / -math.log(rho)))


def _mode_poly(rule, values):
    """char poly with every parameter substituted, curvature left as h."""
    return closed_loop(rule, None, values).char_poly


def stability_over(rule, curvature=None, values=None, **more) -> Stability:
    """Worst verdict and rate of `rule` over the given curvatures.

    Parameters
    ----------
    rule : Rule or str
    curvature : number, tuple (mu, L), array, Curvatures or None
        None: the bundled diabetes spectrum.
    values : mapping, optional
        Parameter values; defaults fill the rest.

    Examples
    --------
    >>> stability_over("gradient-descent", 5.0, learning_rate=0.5).verdict
    'unstable'
    >>> stability_over("gradient-descent", (1, 5), learning_rate=0.5).verdict
    'unstable'
    >>> round(stability_over("gradient-descent", (1, 3),
    ...                 learning_rate=0.5).spectral_radius, 12)
    0.5
    """
    rule = get_rule(rule)
    values = rule.values(values, **more)
    curv = as_curvatures(curvature)
    poly = _mode_poly(rule, values)
    if curv.kind == "interval":
        return _over_interval(poly, curv.min, curv.max)
    if len(curv.modes) > EXACT_MODE_LIMIT:
        modes = _many_modes(poly, curv.modes)
    else:
        modes = [_mode(poly, value) for value in curv.modes]
    # a repeated root on the circle (unstable, radius 1) outranks a
    # marginal mode of the same radius
    top = max(modes, key=lambda m: (m.spectral_radius,
                                    m.verdict == "unstable"))
    return Stability(
        worst([m.verdict for m in modes]),
        top.spectral_radius,
        top.curvature,
        tuple(modes),
    )


def _mode(poly, value):
    v = classify(_at(poly, _h, exact(value, "curvature")))
    return ModeStability(value, v.verdict, v.spectral_radius)


def _many_modes(poly, modes):
    """Per-mode verdicts from float radii; exact where within 1e-6 of 1."""
    fns = [sympy.lambdify(_h, c, "numpy") for c in poly.all_coeffs()]
    h = np.asarray(modes, dtype=float)
    rho = _radii([np.broadcast_to(np.asarray(f(h), float), h.shape)
                  for f in fns])
    out = []
    for value, r in zip(modes, rho):
        if abs(r - 1) <= 1e-6 or not np.isfinite(r):
            out.append(_mode(poly, value))
        else:
            out.append(ModeStability(value, "stable" if r < 1 else
                                     "unstable", float(r)))
    return out


def _radii(stack):
    """Spectral radii of many polynomials (coefficient arrays, highest
    power first), through batched companion matrices."""
    lead, n = stack[0], len(stack) - 1
    if n == 0:
        return np.zeros(lead.shape)
    comp = np.zeros(lead.shape + (n, n))
    for i in range(n):
        comp[..., 0, i] = -stack[i + 1] / lead
    for i in range(1, n):
        comp[..., i, i - 1] = 1.0
    with np.errstate(all="ignore"):
        return np.abs(np.linalg.eigvals(comp)).max(axis=-1)


def _at(poly, symbol, value):
    """`poly` with `symbol` replaced by `value`, still a Poly in z."""
    return sympy.Poly(poly.as_expr().subs(symbol, value), _z)


def _over_interval(poly, mu, top, radius=True):
    lo, hi = exact(mu, "curvature"), exact(top, "curvature")
    inside = [c for c in critical_values(poly, _h) if lo < c < hi]
    points = [lo] + inside + [hi]
    modes = [
        ModeStability(float(c), *_verdict_rho(_at(poly, _h, c)))
        for c in points
    ]
    # between critical values the verdict is constant: test one point each
    verdicts = [m.verdict for m in modes]
    for a, b in zip(points[:-1], points[1:]):
        mid = (sympy.nsimplify(a, rational=True)
               + sympy.nsimplify(b, rational=True)) / 2
        verdicts.append(classify(_at(poly, _h, mid)).verdict)
    if not radius:
        return Stability(worst(verdicts), math.nan, math.nan, tuple(modes))
    rho, where = _worst_radius(poly, float(lo), float(hi))
    for m in modes:
        if m.spectral_radius > rho:
            rho, where = m.spectral_radius, m.curvature
    return Stability(worst(verdicts), rho, where, tuple(modes))


def _verdict_rho(poly):
    v = classify(poly)
    return v.verdict, v.spectral_radius


def _worst_radius(poly, lo, hi, num=801):
    """Largest spectral radius over [lo, hi]: grid, then refinement."""
    coeff_fns = [sympy.lambdify(_h, c, "numpy") for c in poly.all_coeffs()]

    def rho(x):
        coeffs = [float(f(x)) for f in coeff_fns]
        return float(np.abs(np.roots(coeffs)).max()) if len(coeffs) > 1 \
            else 0.0

    grid = np.unique(np.concatenate([
        np.linspace(lo, hi, num),
        np.geomspace(max(lo, hi * 1e-12), hi, num) if hi > 0 else [hi],
    ]))
    values = np.array([rho(x) for x in grid])
    i = int(values.argmax())
    best, where = float(values[i]), float(grid[i])
    a, b = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    if b > a:
        res = scipy.optimize.minimize_scalar(
            lambda x: -rho(x), bounds=(a, b), method="bounded",
            options={"xatol": 1e-14 * max(1.0, abs(b))},
        )
        if -res.fun > best:
            best, where = float(-res.fun), float(res.x)
    return best, where


def stable_values(
    rule, parameter: str, curvature=None, values=None, **more
) -> list[Segment]:
    """Exact segments of `parameter` with their verdict, over curvatures.

    The other parameters are fixed at `values` (or defaults).  Over a
    spectrum the segments of all modes are intersected, exactly up to
    :data:`EXACT_MODE_LIMIT` distinct eigenvalues and in floating point
    beyond (candidates from numpy roots of the resultant, verdicts from
    the worst radius with tolerance :data:`FLOAT_TOLERANCE`); over an
    interval
    the candidates are where a crossing enters at an end of the interval
    or where two crossings merge inside it.  ``parameter="h"`` (or
    ``"curvature"``) gives the stable curvatures; `curvature` is then
    ignored.

    Examples
    --------
    >>> [(s.low, s.high, s.verdict) for s in stable_values(
    ...     "gradient-descent", "learning_rate", 4.0)]
    [(0.0, 0.5, 'stable'), (0.5, inf, 'unstable')]
    """
    rule = get_rule(rule)
    fixed = dict(values or {}, **more)
    if parameter in ("h", "curvature"):
        poly = _mode_poly(rule, rule.values(fixed))
        return stable_set(poly, _h, 0, sympy.oo)
    param = rule.parameter(parameter)
    fixed.pop(parameter, None)
    given = rule.values({**fixed, parameter: _inside(param)})
    given.pop(parameter)
    poly = closed_loop(rule, None, given).char_poly
    t = param.symbol
    low, high = param.domain.low, param.domain.high
    curv = as_curvatures(curvature)
    if curv.kind == "interval":
        return _interval_segments(poly, t, low, high, curv)
    if len(curv.modes) > EXACT_MODE_LIMIT:
        fast = _many_modes_segments(poly, t, low, high, curv.modes)
        if fast is not None:
            return fast
    per_mode = [
        stable_set(_at(poly, _h, exact(m, "curvature")), t, low, high)
        for m in curv.modes
    ]
    return _intersect(per_mode, low, high)


def _many_modes_segments(poly, t, low, high, modes):
    """Segments over a large spectrum, in floating point.

    Per mode, the candidates are the real roots of the resultant R(t, h)
    (numpy), and each mode's segments are judged by its own float radius
    at their midpoints (unstable unless below 1 - FLOAT_TOLERANCE).  The
    stable set of the spectrum is the intersection of the modes' stable
    sets.  None when R vanishes identically.
    """
    rec = sympy.Poly(poly.all_coeffs()[::-1], _z).as_expr()
    res = sympy.expand(sympy.numer(sympy.together(
        sympy.resultant(poly.as_expr(), rec, _z))))
    if res == 0 or not res.has(t):
        return None
    fns = [sympy.lambdify(_h, c, "numpy")
           for c in sympy.Poly(res, t).all_coeffs()]
    h = np.asarray(modes, dtype=float)
    table = np.array([np.broadcast_to(np.asarray(f(h), float), h.shape)
                      for f in fns]).T
    lo, hi = float(low), float(high)
    edges = [[lo] + _cluster(sorted(_real_in(row, lo, hi))) + [hi]
             for row in table]

    # every mode's midpoints at once: (t, h) pairs
    mids = np.array([_probe(a, b) for e in edges
                     for a, b in zip(e[:-1], e[1:])])
    owner = np.repeat(np.arange(len(h)), [len(e) - 1 for e in edges])
    z_fns = [sympy.lambdify((t, _h), c, "numpy")
             for c in poly.all_coeffs()]
    rho = _radii([np.broadcast_to(np.asarray(f(mids, h[owner]), float),
                                  mids.shape) for f in z_fns])
    stable = rho < 1 - FLOAT_TOLERANCE

    intervals, i = [(lo, hi)], 0
    for e in edges:
        own = [(a, b) for (a, b), ok in zip(zip(e[:-1], e[1:]),
                                           stable[i:i + len(e) - 1]) if ok]
        i += len(e) - 1
        intervals = _intersect_intervals(intervals, own)
    return _complement(intervals, lo, hi)


def _real_in(coeffs, lo, hi):
    coeffs = np.trim_zeros(coeffs, "f")
    if coeffs.size < 2:
        return []
    roots = np.roots(coeffs)
    real = roots[np.abs(roots.imag) <= 1e-9 * np.maximum(
        1.0, np.abs(roots.real))].real
    return [float(r) for r in real if lo < r < hi]


def _intersect_intervals(a, b):
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        low, high = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if low < high:
            out.append((low, high))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def _complement(stable, lo, hi):
    """Segments: the stable intervals, and unstable ones between."""
    out, at = [], lo
    for a, b in stable:
        if a > at:
            out.append(Segment(at, a, "unstable"))
        out.append(Segment(a, b, "stable"))
        at = b
    if at < hi:
        out.append(Segment(at, hi, "unstable"))
    return _merge(out)


def _cluster(values, rel=1e-12):
    out = []
    for v in values:
        if not out or abs(v - out[-1]) > rel * max(1.0, abs(v)):
            out.append(v)
    return out


def _inside(param):
    """Any admissible value, so that the other values can be checked."""
    d = param.domain
    if d.flag:
        return 0
    if d.low == -sympy.oo:
        return 0 if d.high > 0 else d.high - 1
    if d.high == sympy.oo:
        return d.low + 1
    return (d.low + d.high) / 2


def _intersect(per_mode, low, high):
    cuts = sorted({float(low), float(high)} | {
        e for segs in per_mode for s in segs for e in (s.low, s.high)
    })
    out = []
    for a, b in zip(cuts[:-1], cuts[1:]):
        mid = _probe(a, b)
        verdicts = [_verdict_at(segs, mid) for segs in per_mode]
        out.append(Segment(a, b, worst(verdicts)))
    return _merge(out)


def _probe(a, b):
    if math.isinf(b):
        return a + 1 + abs(a)
    if math.isinf(a):
        return b - 1 - abs(b)
    return (a + b) / 2


def _verdict_at(segments, x):
    for s in segments:
        if s.low < x < s.high:
            return s.verdict
    return "unstable"


def _merge(segments):
    out = []
    for s in segments:
        if out and out[-1].verdict == s.verdict and out[-1].high == s.low:
            out[-1] = Segment(out[-1].low, s.high, s.verdict)
        else:
            out.append(s)
    return out


def _interval_segments(poly, t, low, high, curv):
    mu, top = exact(curv.min, "curvature"), exact(curv.max, "curvature")
    cands = set(critical_values(_at(poly, _h, mu), t))
    cands |= set(critical_values(_at(poly, _h, top), t))
    cands |= set(_merge_points(poly, t))
    cuts = sorted(c for c in cands if low < c < high)
    edges = [low] + cuts + [high]
    out = []
    for a, b in zip(edges[:-1], edges[1:]):
        point = _rational_between(a, b)
        v = _over_interval(_at(poly, t, point), mu, top, False).verdict
        out.append(Segment(float(a), float(b), v))
    return _merge(out)


def _merge_points(poly, t):
    """Values of `t` where two crossing curvatures merge (discriminant)."""
    p = sympy.Poly(poly.as_expr(), _z)
    rec = sympy.Poly(p.all_coeffs()[::-1], _z)
    res = sympy.resultant(p.as_expr(), rec.as_expr(), _z)
    res = sympy.numer(sympy.together(res))
    if not res.has(_h) or not res.has(t):
        return []
    factors = sympy.factor_list(sympy.Poly(res, _h, t))[1]
    out = []
    for f, _ in factors:
        f = f.as_expr()
        if not f.has(_h) or not f.has(t):
            continue
        disc = sympy.discriminant(f, _h) if sympy.degree(f, _h) > 1 else 0
        lead = sympy.Poly(f, _h).LC()
        for expr in (disc, lead):
            expr = sympy.expand(expr)
            if expr != 0 and expr.has(t):
                out += [r for r in sympy.Poly(expr, t).real_roots()]
    return out


def _rational_between(a, b):
    if a == -sympy.oo and b == sympy.oo:
        return sympy.Integer(0)
    if b == sympy.oo:
        base = sympy.nsimplify(a, rational=True)
        return base + 1 + abs(base)
    if a == -sympy.oo:
        base = sympy.nsimplify(b, rational=True)
        return base - 1 - abs(base)
    mid = (sympy.nsimplify(a, rational=True)
           + sympy.nsimplify(b, rational=True)) / 2
    return mid


def max_stable(rule, parameter, curvature=None, values=None, **more):
    """Upper end of the stable values of `parameter` (inf if unbounded).

    None when no value is stable.
    """
    segments = stable_values(rule, parameter, curvature, values, **more)
    ends = [s.high for s in segments if s.verdict == "stable"]
    return max(ends) if ends else None


def max_stable_learning_rate(rule, curvature=None, values=None, **more):
    r"""The largest stable learning rate, the other parameters fixed.

    Examples
    --------
    >>> max_stable_learning_rate("heavy-ball", 3.0, momentum=0.5)
    1.0
    """
    rule = get_rule(rule)
    if rule.learning_rate is None:
        raise ValueError(
            f"rule {rule.name!r} names no learning-rate parameter."
        )
    return max_stable(rule, rule.learning_rate, curvature, values, **more)


def max_stable_curvature(rule, values=None, **more):
    """The largest stable curvature at the given parameter values.

    Examples
    --------
    >>> max_stable_curvature("gradient-descent", learning_rate=0.1)
    20.0
    """
    return max_stable(rule, "h", None, values, **more)
