r"""Stability regions and rate maps over two parameters, with exact edges.

For a rule closed with the quadratic model, the characteristic polynomial
:math:`p(z) = \det(zI - A)` has coefficients that are polynomials in the
rule's parameters and the curvature :math:`h`.  Over a grid of two of
them (any two parameters, or one parameter and the curvature) this module
computes

- the verdict per point, from the Schur-Cohn recursion evaluated
  array-wide (no roots are computed for it);
- the spectral radius per point, in closed form up to degree 2 and from
  batched companion eigenvalues beyond;
- the exact boundary curves (D-decomposition): a root crosses the unit
  circle at :math:`z = 1` where :math:`p(1) = 0`, at :math:`z = -1` where
  :math:`p(-1) = 0`, or as a complex pair :math:`e^{\pm i\omega}` where
  :math:`p(e^{i\omega}) = 0`.

Verdicts and the tolerance band
-------------------------------
A point is *stable* when every root lies inside the circle of radius
:math:`1 - \tau`, *unstable* when a root lies outside the circle of
radius :math:`1 + \tau`, and *marginal* otherwise (:math:`|\rho - 1| \le
\tau`), with :math:`\tau` = :data:`MARGINAL_TOLERANCE` = 1e-9 unless
given.  Both tests are Schur-Cohn recursions on the scaled polynomials
:math:`p((1 \mp \tau) z)`, so the band is exactly the band on the
spectral radius, without computing it.  A point whose leading
coefficient vanishes, or whose coefficients are not finite, is unstable.

Parameter domains
-----------------
Values are evaluated as plain numbers everywhere, also outside the
domain a rule declares (negative momentum, say): the polynomial is
defined there and such regions are often asked about.  The result's
``in_domain`` mask tells which grid points the rule admits; the plots
hatch the rest.  Values given in `fixed` are treated the same way.

Layout
------
The public names are all importable from here.  The array-wide engine
(:func:`schur_cohn_stable`, :func:`verdict_codes`,
:func:`spectral_radii`) lives in :mod:`lrcontrol._schur`, the polynomial
of a region evaluated over its grid in :mod:`lrcontrol._region_grid`,
and the tracing of the exact boundary curves in
:mod:`lrcontrol._boundaries`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import sympy

from ._boundaries import BoundaryCurve, boundary_curves, json_list
from ._charpoly import fixed_values
from ._region_grid import CURVATURE, RegionProblem, evaluate_grid
from ._schur import (
    CHUNK_SIZE,
    MARGINAL_TOLERANCE,
    schur_cohn_stable,
    spectral_radii,
    verdict_codes,
)
from .catalog import get_rule
from .curvature import Curvatures, as_curvatures
from .errors import LRControlWarning
from .rules import Rule

__all__ = [
    "CURVATURE",
    "MARGINAL_TOLERANCE",
    "MAX_BOUNDARY_DEGREE",
    "MAX_GRID_POINTS",
    "VERDICTS",
    "Axis",
    "BoundaryCurve",
    "SimulationOverlay",
    "StabilityRegion",
    "parse_axis",
    "schur_cohn_stable",
    "spectral_radii",
    "stability_region",
    "verdict_codes",
]

#: Verdict names, indexed by the integer codes of :func:`verdict_codes`.
VERDICTS = ("stable", "marginal", "unstable")

#: Most grid points one map may have: its outputs take about 10 bytes a
#: point (2e8 points: 2 GiB), besides the chunks being evaluated.
MAX_GRID_POINTS = 2 * 10**8

#: Highest degree in z for which boundary curves are traced by default;
#: beyond it tracing takes minutes (degree 34, heavy ball with a 32-step
#: delay: about 4 minutes on two cores) while the maps take seconds.
MAX_BOUNDARY_DEGREE = 18


# -- axes ----------------------------------------------------------------


@dataclass(frozen=True)
class Axis:
    """One axis of a region: a parameter (or the curvature) on a grid.

    Attributes
    ----------
    name : str
        A parameter of the rule, or ``"curvature"``.
    low, high : float
        Ends of the grid, ``low < high``.
    points : int
        Number of grid points, at least 2.
    log : bool
        Geometric spacing (then ``low > 0``).
    """

    name: str
    low: float
    high: float
    points: int
    log: bool = False

    @property
    def values(self) -> np.ndarray:
        """The grid, ends included."""
        if self.log:
            return np.geomspace(self.low, self.high, self.points)
        return np.linspace(self.low, self.high, self.points)

    def spec(self) -> str:
        """The axis as ``NAME:LO:HI:N[:log]``."""
        text = f"{self.name}:{self.low!r}:{self.high!r}:{self.points}"
        return text + (":log" if self.log else "")


def parse_axis(spec, rule: Rule | str | None = None, label: str = "x"):
    """Read an axis from a tuple, a string or an :class:`Axis`.

    Parameters
    ----------
    spec : tuple, str or Axis
        ``(name, low, high, points)`` with an optional fifth item
        ``"log"``, or the same as ``"NAME:LO:HI:N[:log]"``.
    rule : Rule or str, optional
        When given, `name` must be one of its parameters or
        ``"curvature"``.
    label : str
        How the axis is called in messages (``"x"``, ``"--y"``, ...).

    Raises
    ------
    ValueError
        For an unknown name, ``LO >= HI``, fewer than 2 points or a log
        axis with ``LO <= 0``.

    Examples
    --------
    >>> parse_axis("momentum:0:1:5").values
    array([0.  , 0.25, 0.5 , 0.75, 1.  ])
    >>> parse_axis(("learning_rate", 1e-3, 1, 4, "log")).values.round(6)
    array([0.001, 0.01 , 0.1  , 1.   ])
    """
    if isinstance(spec, Axis):
        items = [spec.name, spec.low, spec.high, spec.points] + (
            ["log"] if spec.log else [])
    elif isinstance(spec, str):
        items = [s.strip() for s in spec.split(":")]
    elif isinstance(spec, (tuple, list)):
        items = list(spec)
    else:
        raise TypeError(
            f"`{label}` must be a tuple (name, low, high, points) or a "
            f"string NAME:LO:HI:N, got {type(spec).__name__}."
        )
    if len(items) not in (4, 5):
        raise ValueError(
            f"`{label}` must be NAME:LO:HI:N with an optional :log, got "
            f"{spec!r}."
        )
    name, low, high, points = items[:4]
    log = _axis_scale(items[4], label) if len(items) == 5 else False
    low, high = _axis_number(low, label), _axis_number(high, label)
    points = _axis_points(points, label)
    if not low < high:
        raise ValueError(f"`{label}` must have LO < HI, got {low!r} >= "
                         f"{high!r}.")
    if log and low <= 0:
        raise ValueError(
            f"`{label}` on a log scale must have LO > 0, got {low!r}."
        )
    if rule is not None:
        _check_axis_name(get_rule(rule), name, label)
    return Axis(str(name), low, high, points, log)


def _axis_scale(item, label):
    if isinstance(item, str) and item.strip().lower() in ("log", "lin"):
        return item.strip().lower() == "log"
    if isinstance(item, bool):
        return item
    raise ValueError(f"`{label}` scale must be 'log', got {item!r}.")


def _axis_number(text, label):
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValueError(
            f"`{label}` ends must be numbers, got {text!r}."
        ) from None
    if not math.isfinite(value):
        raise ValueError(f"`{label}` ends must be finite, got {text!r}.")
    return value


def _axis_points(text, label):
    try:
        points = int(str(text).strip()) if not isinstance(text, int) \
            else text
    except ValueError:
        raise ValueError(
            f"`{label}` must have a whole number of points, got {text!r}."
        ) from None
    if isinstance(points, bool) or points < 2:
        raise ValueError(
            f"`{label}` must have at least 2 points, got {text!r}."
        )
    return points


def _check_axis_name(rule, name, label):
    names = [p.name for p in rule.parameters]
    if name != CURVATURE and name not in names:
        raise ValueError(
            f"`{label}` must name a parameter of rule {rule.name!r} "
            f"({', '.join(names)}) or 'curvature', got {name!r}."
        )


def _domain_mask(rule, name, values):
    """Which values the rule's domain for `name` admits."""
    if name == CURVATURE:
        return values >= 0
    d = rule.parameter(name).domain
    if d.flag:
        return np.isin(values, (0.0, 1.0))
    low, high = float(d.low), float(d.high)
    inside = values >= low if d.low_closed else values > low
    return inside & (values <= high if d.high_closed else values < high)


# -- results -----------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SimulationOverlay:
    """Rates measured by iterating the rule at a subset of grid points.

    Attributes
    ----------
    x, y : numpy.ndarray
        Coordinates of the simulated points (1-D, one per point).
    rate : numpy.ndarray
        Measured contraction factor per step.
    predicted : numpy.ndarray
        Verdict codes of the map at the same points.
    converged : numpy.ndarray of bool
        ``rate < 1``.
    """

    x: np.ndarray
    y: np.ndarray
    rate: np.ndarray
    predicted: np.ndarray
    converged: np.ndarray


@dataclass(frozen=True, eq=False)
class StabilityRegion:
    """Verdicts and spectral radii of a rule over a grid of two axes.

    Attributes
    ----------
    rule : Rule
        The rule.
    x_axis, y_axis : Axis
        The axes.
    x, y : numpy.ndarray
        The 1-D grids.
    codes : numpy.ndarray of int8, shape (len(y), len(x))
        0 stable, 1 marginal, 2 unstable (see :data:`VERDICTS`).
    spectral_radius : numpy.ndarray or None
        Largest root modulus per point (worst over the curvatures); None
        when not asked for.
    boundaries : tuple of BoundaryCurve
        The exact stability boundary.
    in_domain : numpy.ndarray of bool
        Points whose values all lie in the rule's declared domains.
    fixed : dict
        Values of the other parameters (floats).
    curvatures : Curvatures or None
        The curvatures covered, None when an axis is the curvature.
    tolerance : float
        Half-width of the marginal band on the spectral radius.
    char_poly : sympy.Poly
        The polynomial in ``z`` mapped (fixed values substituted, roots
        at 0 removed), in the axis symbols and ``h``.
    """

    rule: Rule
    x_axis: Axis
    y_axis: Axis
    x: np.ndarray = field(repr=False)
    y: np.ndarray = field(repr=False)
    codes: np.ndarray = field(repr=False)
    spectral_radius: np.ndarray | None = field(repr=False)
    boundaries: tuple = field(repr=False)
    in_domain: np.ndarray = field(repr=False)
    fixed: dict
    curvatures: Curvatures | None
    tolerance: float
    char_poly: sympy.Poly = field(repr=False)
    _problem: RegionProblem = field(repr=False, default=None)

    @property
    def stable(self) -> np.ndarray:
        """Boolean map: every root inside the circle of radius 1 - tol."""
        return self.codes == 0

    @cached_property
    def verdict(self) -> np.ndarray:
        """Map of ``"stable"``, ``"marginal"`` or ``"unstable"``."""
        return np.array(VERDICTS)[self.codes]

    def verdict_at(self, x, y) -> np.ndarray:
        """Verdict codes at arbitrary points (same rules as the map)."""
        X, Y = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float))
        return self._problem.evaluate(X, Y, self.tolerance, False)[0]

    def simulate(self, points=(8, 8), num_steps: int = 600,
                 rng=0) -> SimulationOverlay:
        """Iterate the rule itself at a subgrid of in-domain points.

        Uses :func:`lrcontrol.simulation.empirical_rate`; an interval of
        curvatures is simulated as 17 equally spaced modes.
        """
        return _simulate(self, points, num_steps, rng)

    def plot(self, ax=None, **kwargs):
        """Draw the region; see :func:`lrcontrol.plotting.plot_region`."""
        from .plotting import plot_region

        return plot_region(self, ax=ax, **kwargs)

    def plot_rate(self, ax=None, **kwargs):
        """Draw the rate map; see :func:`lrcontrol.plotting.plot_rate_map`."""
        from .plotting import plot_rate_map

        return plot_rate_map(self, ax=ax, **kwargs)

    def to_dict(self) -> dict:
        """Axes, verdict and radius maps, boundaries: JSON-ready."""
        return {
            "rule": self.rule.name,
            "x": _axis_dict(self.x_axis, self.x),
            "y": _axis_dict(self.y_axis, self.y),
            "fixed": dict(self.fixed),
            "curvature": (None if self.curvatures is None
                          else self.curvatures.to_dict()),
            "tolerance": self.tolerance,
            "verdict": self.verdict.tolist(),
            "spectral_radius": (None if self.spectral_radius is None else
                                [json_list(r) for r in
                                 self.spectral_radius]),
            "in_domain": self.in_domain.tolist(),
            "boundaries": [b.to_dict() for b in self.boundaries],
        }


def _axis_dict(axis, values):
    return {"name": axis.name, "low": axis.low, "high": axis.high,
            "points": axis.points, "log": axis.log,
            "values": json_list(values)}


# -- the public entry point -------------------------------------------------


def stability_region(
    rule: Rule | str,
    x=("learning_rate", 0.0, 4.0, 400),
    y=("momentum", -1.0, 1.0, 400),
    fixed: Mapping | None = None,
    curvature=None,
    *,
    delay: int = 0,
    tolerance: float = MARGINAL_TOLERANCE,
    radius: bool = True,
    boundaries: bool | None = None,
    interval_samples: int = 33,
    chunk_size: int = CHUNK_SIZE,
    backend: str = "numpy",
) -> StabilityRegion:
    r"""Verdict and spectral-radius maps of `rule` over two axes.

    .. math::

        p(z) = \det(zI - A(x, y, h)), \qquad
        \rho(x, y) = \max_h \max \{|z| : p(z) = 0\}

    Parameters
    ----------
    rule : Rule or str
        A rule or the name of a built-in one.
    x, y : tuple, str or Axis
        ``(name, low, high, points)`` with an optional fifth item
        ``"log"``; `name` is a parameter of the rule or ``"curvature"``.
    fixed : mapping, optional
        Values of the other parameters; defaults fill the rest.
    curvature : float, tuple (mu, L) or array, optional
        One curvature, every curvature of an interval, or a spectrum.
        None means the single curvature 1.0 (where only ``eta * h``
        matters this is the map in units of ``eta * h``); it must be None
        when an axis is the curvature.
    delay : int
        Gradient staleness in steps, see :func:`lrcontrol.closed_loop`.
    tolerance : float
        Half-width of the marginal band on the spectral radius.
    radius : bool
        Whether to compute the spectral-radius map.
    boundaries : bool or None
        Whether to compute the exact boundary curves.  None (the
        default) traces them up to degree :data:`MAX_BOUNDARY_DEGREE` in
        ``z`` and skips them beyond, with a warning.
    interval_samples : int
        For an interval: curvatures sampled on each of a linear and a
        geometric grid, besides the critical ones.
    chunk_size : int
        Grid points evaluated at once (whole rows); bounds memory.
    backend : {"numpy", "dask"}
        ``"dask"`` evaluates the chunks as Dask tasks, on whatever
        scheduler is active (a ``distributed.Client`` for a cluster).

    Returns
    -------
    StabilityRegion

    Raises
    ------
    ValueError
        For a bad axis, an unknown or repeated name, or a curvature
        given together with a curvature axis.

    Notes
    -----
    Over an interval the verdict is the worst over the whole interval,
    exactly: a root meets the unit circle only at curvatures where
    :math:`\operatorname{res}_z(p, z^n p(1/z))` vanishes.  These are
    found per point from the resultant's factors in ``h``, and the
    verdict is tested at each of them and at a point between each two
    (where it is constant), besides the sampled curvatures.  The
    spectral radius over an interval is the largest over the same
    curvatures: exact where the maximum is at an end or a critical
    curvature, otherwise accurate to the sampling.  A spectrum is
    covered mode by mode.  Values outside a parameter's declared domain
    are evaluated as plain numbers and flagged by ``in_domain``.

    Examples
    --------
    >>> r = stability_region("heavy-ball", x=("learning_rate", 0, 4, 5),
    ...                      y=("momentum", 0, 0.5, 3), boundaries=False)
    >>> r.verdict[1].tolist()
    ['marginal', 'stable', 'stable', 'unstable', 'unstable']
    """
    rule = get_rule(rule)
    x_axis, y_axis = parse_axis(x, rule, "x"), parse_axis(y, rule, "y")
    names = (x_axis.name, y_axis.name)
    if names[0] == names[1]:
        raise ValueError(
            f"`x` and `y` must be different axes, got {names[0]!r} twice."
        )
    size = len(x_axis.values) * len(y_axis.values)
    if size > MAX_GRID_POINTS:
        raise ValueError(
            f"`x` and `y` must span at most {MAX_GRID_POINTS:.0e} grid "
            f"points together, got {len(x_axis.values)} x "
            f"{len(y_axis.values)} = {size:.3g}."
        )
    values = fixed_values(rule, fixed, names, "an axis")
    curvatures = _region_curvatures(curvature, names)
    samples = _positive_int(interval_samples, "interval_samples")
    problem = RegionProblem(rule, names, values, curvatures, delay,
                            samples, (x_axis, y_axis))

    xs, ys = x_axis.values, y_axis.values
    codes, rho = evaluate_grid(problem, xs, ys, tolerance, radius,
                               _positive_int(chunk_size, "chunk_size"),
                               backend)
    if boundaries is None:
        boundaries = _trace_by_default(problem.poly)
    curves = boundary_curves(problem, x_axis, y_axis) if boundaries else ()
    return StabilityRegion(
        rule=rule, x_axis=x_axis, y_axis=y_axis, x=xs, y=ys, codes=codes,
        spectral_radius=rho, boundaries=tuple(curves),
        in_domain=_in_domain(rule, x_axis, y_axis, xs, ys, values),
        fixed={n: float(v) for n, v in values.items()},
        curvatures=curvatures, tolerance=float(tolerance),
        char_poly=problem.poly, _problem=problem,
    )


def _trace_by_default(char_poly):
    degree = char_poly.degree()
    if degree <= MAX_BOUNDARY_DEGREE:
        return True
    warnings.warn(
        f"boundary curves skipped: the characteristic polynomial has "
        f"degree {degree} > {MAX_BOUNDARY_DEGREE}, where tracing them "
        "takes minutes; pass boundaries=True (Python API) to trace them "
        "anyway.",
        LRControlWarning,
        stacklevel=3,
    )
    return False


def _describe(curvature):
    if isinstance(curvature, Curvatures):
        return f"{curvature.kind} [{curvature.min:g}, {curvature.max:g}]"
    return repr(curvature)


def _region_curvatures(curvature, names):
    if CURVATURE in names:
        if curvature is not None:
            raise ValueError(
                "`curvature` must be None when an axis is the curvature, "
                f"got {_describe(curvature)}."
            )
        return None
    if curvature is None:
        return as_curvatures(1.0, "default curvature 1.0")
    return as_curvatures(curvature)


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
            or value < 1:
        raise ValueError(f"`{name}` must be a whole number >= 1, got "
                         f"{value!r}.")
    return int(value)


def _in_domain(rule, x_axis, y_axis, xs, ys, values):
    ok = all(rule.parameter(n).domain.contains(v) for n, v in values.items())
    mask = (_domain_mask(rule, y_axis.name, ys)[:, None]
            & _domain_mask(rule, x_axis.name, xs)[None, :])
    return mask & ok


# -- the simulation overlay --------------------------------------------------


def _simulate(region, points, num_steps, rng):
    """Measured rates at a subgrid of the region's in-domain points."""
    from .simulation import empirical_rate

    nx, ny = (points, points) if np.ndim(points) == 0 else points
    ix = np.unique(np.linspace(0, len(region.x) - 1, int(nx)).round())
    iy = np.unique(np.linspace(0, len(region.y) - 1, int(ny)).round())
    cols, rows = np.meshgrid(ix.astype(int), iy.astype(int))
    cols, rows = cols.ravel(), rows.ravel()
    keep = region.in_domain[rows, cols]
    cols, rows = cols[keep], rows[keep]
    X, Y = region.x[cols], region.y[rows]
    rate = np.empty(len(X))
    for curvature, sel, values in _simulation_batches(region, X, Y):
        rate[sel] = empirical_rate(region.rule, curvature, values,
                                   num_steps=num_steps, rng=rng)
    return SimulationOverlay(X, Y, rate, region.codes[rows, cols], rate < 1)


def _simulation_batches(region, X, Y):
    """(curvature, selection, values) per call of ``empirical_rate``."""
    names = (region.x_axis.name, region.y_axis.name)
    fixed = dict(region.fixed)
    if CURVATURE not in names:
        curv = region.curvatures
        spectrum = (np.linspace(curv.min, curv.max, 17)
                    if curv.kind == "interval" else np.array(curv.modes))
        curvature = spectrum[0] if len(spectrum) == 1 else spectrum
        yield curvature, slice(None), {**fixed, names[0]: X, names[1]: Y}
        return
    other, H = (names[1], X) if names[0] == CURVATURE else (names[0], Y)
    P = Y if names[0] == CURVATURE else X
    for hval in np.unique(H):
        sel = np.flatnonzero(H == hval)
        yield float(hval), sel, {**fixed, other: P[sel]}
