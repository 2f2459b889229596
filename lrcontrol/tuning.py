r"""Optimal tuning: the parameters that minimize the worst-case rate.

Over curvatures :math:`h` in an interval :math:`[\mu, L]` (or a given
spectrum) the rate of a rule is its worst-case spectral radius

.. math::

    F(\theta) = \max_{h \in [\mu, L]} \rho(p_{\theta, h}),
    \qquad \theta^* = \arg\min_\theta F(\theta),

where :math:`p_{\theta, h}` is the characteristic polynomial.  Known
optima recovered by :func:`optimal_tuning` (and tested): gradient
descent :math:`\eta = 2/(L + \mu)` with rate :math:`(\kappa - 1)/(\kappa
+ 1)`; Polyak's heavy ball :math:`\eta = 4/(\sqrt L + \sqrt\mu)^2`,
:math:`\beta = ((\sqrt\kappa - 1)/(\sqrt\kappa + 1))^2`, rate
:math:`(\sqrt\kappa - 1)/(\sqrt\kappa + 1)`; Nesterov's momentum with
rate :math:`1 - 2/\sqrt{3\kappa + 1}`.

:math:`F` is not smooth (a max over curvatures, and square-root kinks
where two real roots meet), so the search avoids gradients: a coarse
grid, Nelder-Mead from the best few grid points, restarts with a fresh
small simplex until no progress, then a check that no nearby point
does better.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.optimize
import scipy.special
import sympy

from ._charpoly import (
    check_parameter_name,
    fixed_values,
    sampled_curvatures,
    substitute_fixed,
)
from ._schur import spectral_radii, stack_coefficients
from ._symbols import h as _h
from .catalog import get_rule
from .closedloop import closed_loop
from .curvature import Curvatures, as_curvatures
from .errors import LRControlWarning
from .rules import Rule, exact

__all__ = ["Tuning", "optimal_tuning", "worst_case_radius"]

#: Curvatures sampled on each of a linear and a geometric grid.
INTERVAL_SAMPLES = 129


@dataclass(frozen=True)
class Tuning:
    """The optimum of a tuning problem and how it was verified.

    Attributes
    ----------
    rule : str
        Name of the rule.
    parameters : dict of str to float
        The optimal values of the tuned parameters.
    spectral_radius : float
        The worst-case spectral radius (rate per step) at the optimum.
    worst_curvatures : tuple of float
        Curvatures where the worst case is attained (within 1e-9).
    fixed : dict of str to float
        Values of the other parameters.
    curvatures : Curvatures
        The curvatures covered.
    evaluations : int
        Worst-case radii computed.
    local_gap : float
        Smallest increase of the worst-case radius over a ring of
        perturbations of the optimum (relative steps 1e-7 to 1e-3 along
        every axis and diagonal); >= 0 when no nearby point does better.
    agreeing_starts : int
        Independent starts that reached the optimum to 1e-6 relative.
    """

    rule: str
    parameters: dict
    spectral_radius: float
    worst_curvatures: tuple
    fixed: dict
    curvatures: Curvatures
    evaluations: int = field(repr=False)
    local_gap: float = field(repr=False)
    agreeing_starts: int = field(repr=False)

    @property
    def stable(self) -> bool:
        """Whether the optimum is stable on every curvature (radius < 1);
        False means no stable tuning was found in the searched domain."""
        return self.spectral_radius < 1

    def to_dict(self) -> dict:
        """JSON-ready: ``parameters`` and ``spectral_radius`` first."""
        return {
            "parameters": dict(self.parameters),
            "spectral_radius": self.spectral_radius,
            "stable": self.stable,
            "rule": self.rule,
            "worst_curvatures": list(self.worst_curvatures),
            "fixed": dict(self.fixed),
            "curvature": self.curvatures.to_dict(),
            "evaluations": self.evaluations,
            "local_gap": self.local_gap,
            "agreeing_starts": self.agreeing_starts,
        }


class _WorstCase:
    """F(theta): the worst-case spectral radius over the curvatures."""

    def __init__(self, rule, over, fixed, curvatures, delay):
        poly = closed_loop(rule, None, delay=delay).char_poly
        coeffs = substitute_fixed(rule, poly.all_coeffs(), fixed)
        params = {p.name: p.symbol for p in rule.parameters}
        args = [params[n] for n in over] + [_h]
        self.fn = sympy.lambdify(args, coeffs, "numpy")
        self.curvatures = curvatures
        self.calls = 0
        if curvatures.kind == "interval":
            self.grid = sampled_curvatures(curvatures.min, curvatures.max,
                                           INTERVAL_SAMPLES)
        else:
            self.grid = np.array(curvatures.modes, dtype=float)

    def radii(self, theta, hs):
        return spectral_radii(stack_coefficients(self.fn(*theta, hs), (hs,)))

    def __call__(self, theta):
        """Worst-case radius and the curvature where it is attained."""
        self.calls += 1
        rho = self.radii(theta, self.grid)
        if not np.all(np.isfinite(rho)):
            return math.inf, math.nan
        i = int(np.argmax(rho))
        best, where = float(rho[i]), float(self.grid[i])
        if self.curvatures.kind == "interval" and 0 < i < len(rho) - 1:
            best, where = self._refine(theta, i, best, where)
        return best, where

    def _refine(self, theta, i, best, where):
        # an interior maximum: refine it between its grid neighbours
        res = scipy.optimize.minimize_scalar(
            lambda h: -float(self.radii(theta, np.array([h]))[0]),
            bounds=(self.grid[i - 1], self.grid[i + 1]), method="bounded",
            options={"xatol": 1e-13 * max(1.0, self.grid[i + 1])},
        )
        if -res.fun > best:
            return float(-res.fun), float(res.x)
        return best, where

    def worst_curvatures(self, theta, rho):
        values = self.radii(theta, self.grid)
        near = self.grid[values >= rho - 1e-9 * max(rho, 1.0)]
        return tuple(float(v) for v in near[[0, -1]]) if len(near) > 1 \
            else tuple(float(v) for v in near)


def worst_case_radius(
    rule: Rule | str,
    values: Mapping | None = None,
    curvature=(0.1, 1.0),
    *,
    delay: int = 0,
) -> tuple[float, float]:
    r"""Largest spectral radius over the curvatures, and where it occurs.

    .. math::

        F = \max_{h} \rho(p_h)

    For an interval the radius is evaluated on 257 curvatures (linear
    and geometric grids, ends included) and an interior maximum is then
    refined by a bounded scalar search; a spectrum is covered exactly.

    Examples
    --------
    >>> rho, h = worst_case_radius("gradient-descent",
    ...                            {"learning_rate": 0.5}, (1.0, 3.0))
    >>> round(rho, 12), h
    (0.5, 1.0)
    """
    rule = get_rule(rule)
    values = {n: exact(v, n) for n, v in dict(values or {}).items()}
    full = rule.values(values)
    names = [p.name for p in rule.parameters]
    problem = _WorstCase(rule, names, {}, as_curvatures(curvature), delay)
    return problem([float(full[n]) for n in names])


class _Transform:
    """Unconstrained coordinates s <-> parameter values in (low, high)."""

    def __init__(self, low, high, scale):
        self.low, self.high, self.scale = low, high, scale

    def value(self, s):
        lo, hi = self.low, self.high
        if math.isfinite(lo) and math.isfinite(hi):
            v = lo + (hi - lo) * scipy.special.expit(s)  # no overflow
        elif math.isfinite(lo):
            v = lo + self.scale * math.exp(min(s, 700.0))
        elif math.isfinite(hi):
            v = hi - self.scale * math.exp(min(s, 700.0))
        else:
            v = self.scale * s
        # the map is onto the open interval: keep rounding off its ends,
        # so momentum in [0, 1) never comes back as 1.0
        return float(min(max(v, math.nextafter(lo, math.inf)),
                         math.nextafter(hi, -math.inf)))

    def grid(self, count):
        bounded = math.isfinite(self.low) and math.isfinite(self.high)
        if bounded:
            return np.linspace(-4.0, 4.0, count)
        if math.isfinite(self.low) or math.isfinite(self.high):
            return np.linspace(math.log(1e-2), math.log(10.0), count)
        return np.linspace(-3.0, 3.0, count)


def optimal_tuning(
    rule: Rule | str,
    over: Sequence[str] | str | None = None,
    curvature=(0.1, 1.0),
    fixed: Mapping | None = None,
    *,
    bounds: Mapping | None = None,
    delay: int = 0,
    starts: int = 4,
    grid: int = 9,
) -> Tuning:
    r"""Minimize the worst-case spectral radius over the curvatures.

    .. math::

        \theta^* = \arg\min_\theta \max_{h \in [\mu, L]}
        \rho(p_{\theta, h})

    Parameters
    ----------
    rule : Rule or str
        A rule or the name of a built-in one.
    over : str or sequence of str, optional
        Parameters to tune; default every parameter that is not a flag.
    curvature : tuple (mu, L), array or float
        An interval (the usual case), a spectrum or one curvature.
    fixed : mapping, optional
        Values of the other parameters (defaults otherwise).
    bounds : mapping, optional
        ``{name: (low, high)}`` to search instead of the declared domain.
    delay : int
        Gradient staleness in steps.
    starts : int
        Nelder-Mead runs, from the best points of the coarse grid.
    grid : int
        Coarse grid points per tuned parameter.

    Returns
    -------
    Tuning

    Raises
    ------
    ValueError
        For unknown, repeated or flag parameters, or bad bounds.

    Notes
    -----
    The learning rate is searched on a log scale around ``1/L``, a
    parameter with a bounded domain (momentum in [0, 1)) through a
    logistic map of its open interval.  After Nelder-Mead converges the
    search restarts from the best point with a fresh simplex until the
    rate stops improving, and the result carries the verification: the
    smallest change of the rate over perturbations of every tuned
    parameter (``local_gap``) and how many starts agreed.

    Examples
    --------
    >>> t = optimal_tuning("gradient-descent", "learning_rate", (1.0, 3.0))
    >>> round(t.parameters["learning_rate"], 9), round(t.spectral_radius, 9)
    (0.5, 0.5)
    """
    rule = get_rule(rule)
    over = _tuned(rule, over)
    values = fixed_values(rule, fixed, over, "tuned", check_domain=True)
    curvatures = as_curvatures(curvature)
    transforms = [_transform(rule, n, curvatures, bounds) for n in over]
    problem = _WorstCase(rule, over, values, curvatures, delay)

    def theta(s):
        return [t.value(v) for t, v in zip(transforms, s)]

    def objective(s):
        return problem(theta(s))[0]

    results = [_search(objective, s0) for s0 in
               _starting_points(objective, transforms, grid, starts)]
    best = min(results, key=lambda r: r[1])
    s_best, rho = _verify(objective, *best)
    values_best = theta(s_best)
    agree = sum(
        np.allclose(theta(s), values_best, rtol=1e-6, atol=0)
        for s, _ in results
    )
    if 1 - 1e-9 < rho < 1:
        # kappa ~ 1e18 and beyond: every candidate's rate rounds to 1
        warnings.warn(
            f"the best worst-case rate found is within 1e-9 of 1 "
            f"({rho!r}); in double precision nearby tunings cannot be told "
            "apart, so the optimum is not resolved.",
            LRControlWarning,
            stacklevel=2,
        )
    return Tuning(
        rule=rule.name,
        parameters=dict(zip(over, values_best)),
        spectral_radius=rho,
        worst_curvatures=problem.worst_curvatures(values_best, rho),
        fixed={n: float(v) for n, v in values.items()},
        curvatures=curvatures,
        evaluations=problem.calls,
        local_gap=_local_gap(objective, s_best, rho),
        agreeing_starts=int(agree),
    )


def _tuned(rule, over):
    if over is None:
        over = [p.name for p in rule.parameters if not p.domain.flag]
    elif isinstance(over, str):
        over = [s.strip() for s in over.split(",") if s.strip()]
    over = list(over)
    for name in over:
        check_parameter_name(rule, name, "over")
        if rule.parameter(name).domain.flag:
            raise ValueError(
                f"`over` must name continuous parameters, got the flag "
                f"{name!r}."
            )
    if not over or len(set(over)) != len(over):
        raise ValueError(
            f"`over` must name distinct parameters, got {over!r}."
        )
    return over


def _transform(rule, name, curvatures, bounds):
    domain = rule.parameter(name).domain
    low, high = float(domain.low), float(domain.high)
    if bounds and name in bounds:
        try:
            low, high = (float(v) for v in bounds[name])
        except (TypeError, ValueError):
            raise ValueError(
                f"`bounds` for {name!r} must be a pair (low, high), got "
                f"{bounds[name]!r}."
            ) from None
        if not low < high:
            raise ValueError(
                f"`bounds` for {name!r} must have low < high, got "
                f"({low!r}, {high!r})."
            )
    # learning rates live near 1/L; other parameters near 1
    scale = 1.0 / curvatures.max if name == rule.learning_rate and \
        curvatures.max > 0 else 1.0
    return _Transform(low, high, scale)


def _starting_points(objective, transforms, count, starts):
    axes = [t.grid(count) for t in transforms]
    points = np.array(np.meshgrid(*axes, indexing="ij")).reshape(
        len(axes), -1).T
    values = np.array([objective(p) for p in points])
    order = np.argsort(values, kind="stable")
    return [points[i] for i in order[:max(1, starts)]]


def _search(objective, s0, restarts=8):
    """Nelder-Mead, restarted with a fresh small simplex until stuck."""
    s, value, step = np.asarray(s0, float), objective(s0), 0.5
    for _ in range(restarts):
        simplex = np.vstack([s] + [s + step * e for e in np.eye(len(s))])
        res = scipy.optimize.minimize(
            objective, s, method="Nelder-Mead",
            options={"initial_simplex": simplex, "xatol": 1e-13,
                     "fatol": 1e-16, "maxiter": 4000 * len(s),
                     "maxfev": 8000 * len(s)},
        )
        improved = res.fun < value - 1e-15
        if res.fun <= value:
            s, value = res.x, float(res.fun)
        if not improved and step < 1e-2:
            break
        step = 1e-3 if improved else step * 0.1
    return s, value


def _ring(s, steps=(1e-7, 1e-5, 1e-3)):
    """Perturbations of `s` along every axis and diagonal."""
    dim = len(s)
    directions = list(np.eye(dim)) + list(-np.eye(dim))
    if dim > 1:
        corners = np.array(np.meshgrid(*[[-1, 1]] * dim)).reshape(dim, -1)
        directions += [signs / math.sqrt(dim) for signs in corners.T]
    return [s + d * t for t in steps for d in directions]


def _edges(s, far=40.0):
    """`s` with one coordinate pushed to either end of its domain.

    The maps onto the domains reach an end only in the limit (momentum
    0 at s = -inf), so a local search stops short of an optimum there;
    at s = -+40 the value is within 1e-17 (relative) of the end.
    """
    out = []
    for i in range(len(s)):
        for end in (-far, far):
            p = np.array(s, dtype=float)
            p[i] = end
            out.append(p)
    return out


def _verify(objective, s, value, rounds=3):
    """Move to any better point of the ring and search again from it;
    then search once from the best point at a domain's end, where an
    optimum with momentum 0 (say) sits."""
    for _ in range(rounds):
        ring = _ring(s)
        values = [objective(p) for p in ring]
        i = int(np.argmin(values))
        if values[i] >= value:
            break
        s, value = _search(objective, ring[i])
    edges = _edges(s)
    start = edges[int(np.argmin([objective(p) for p in edges]))]
    s_edge, value_edge = _search(objective, start)
    if value_edge < value:
        s, value = s_edge, value_edge
    return s, value


def _local_gap(objective, s, value):
    return float(min(objective(p) for p in _ring(s)) - value)
