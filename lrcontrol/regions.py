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
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import numpy as np
import sympy

from ._symbols import h as _h
from ._symbols import z as _z
from .catalog import get_rule
from .closedloop import closed_loop
from .curvature import Curvatures, as_curvatures
from .errors import LRControlWarning
from .rules import Rule, exact

__all__ = [
    "CURVATURE",
    "MARGINAL_TOLERANCE",
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

#: Half-width of the band around :math:`\rho = 1` reported as marginal.
MARGINAL_TOLERANCE = 1e-9

#: Verdict names, indexed by the integer codes of :func:`verdict_codes`.
VERDICTS = ("stable", "marginal", "unstable")

#: Axis name that sweeps the curvature ``h`` instead of a parameter.
CURVATURE = "curvature"

#: Grid points evaluated at once; bounds the working memory.
CHUNK_SIZE = 1 << 14

#: A boundary point is kept if no root is farther out than this.
_BOUNDARY_TOLERANCE = 1e-7


# -- the numeric engine ----------------------------------------------------


def _as_coeffs(coeffs) -> np.ndarray:
    c = np.asarray(coeffs, dtype=float)
    if c.ndim < 1 or c.shape[0] < 1:
        raise ValueError(
            "`coeffs` must hold at least one coefficient along axis 0, got "
            f"shape {c.shape}."
        )
    return c


def schur_cohn_stable(coeffs, radius: float = 1.0) -> np.ndarray:
    r"""Whether all roots lie strictly inside the circle of `radius`.

    The Schur-Cohn recursion, evaluated on every point at once: with
    :math:`a` the coefficients of :math:`p(r z)`, highest first and
    normalized to :math:`a_0 = 1`, the reflection coefficient of degree
    :math:`m` is :math:`k_m = a_m` and

    .. math::

        a_i \leftarrow \frac{a_i - k_m a_{m-i}}{1 - k_m^2},
        \qquad i = 0, \dots, m - 1.

    The polynomial is Schur stable iff :math:`|k_m| < 1` for every
    :math:`m`.

    Parameters
    ----------
    coeffs : array_like, shape (n + 1, ...)
        Real coefficients, highest power first, one polynomial per
        trailing index.
    radius : float
        Radius of the circle.

    Returns
    -------
    numpy.ndarray of bool, shape coeffs.shape[1:]

    See Also
    --------
    verdict_codes : the verdict with a tolerance band, robust near it.

    Examples
    --------
    >>> schur_cohn_stable([[1, 1, 1], [-0.5, -1, -2]]).tolist()
    [True, False, False]
    """
    return _schur_cohn(_as_coeffs(coeffs), radius)[0]


def _schur_cohn(a, radius):
    """Schur-Cohn test and where rounding could have flipped it.

    Each step divides by :math:`1 - k_m^2`, which amplifies rounding
    errors; a decision :math:`|k_m| < 1` is flagged uncertain when its
    margin is within a generous multiple of the accumulated error.
    """
    n = a.shape[0] - 1
    if n in (1, 2):
        return _jury_low_degree(a, radius)
    with np.errstate(all="ignore"):
        scale = float(radius) ** -np.arange(n + 1, dtype=float)
        a = a * scale.reshape((-1,) + (1,) * (a.ndim - 1))
        ok = np.all(np.isfinite(a), axis=0) & (a[0] != 0)
        a = a / np.where(ok, a[0], 1.0)
        uncertain = np.zeros(ok.shape, dtype=bool)
        error = np.full(ok.shape, 1e3 * (n + 1) * np.finfo(float).eps)
        for m in range(n, 0, -1):
            k = a[m]
            margin = 1 - np.abs(k)
            uncertain |= ok & (np.abs(margin) <= error)
            ok &= margin > 0
            # 1 - k^2 as (1 - |k|)(1 + |k|): no cancellation near |k| = 1
            lead = np.where(ok, margin * (2 - margin), 1.0)
            a = (a[:m] - k * a[m:0:-1]) / lead
            a[0] = 1.0
            error = error / lead
    return ok, uncertain & np.all(np.isfinite(a), axis=0)


def _jury_low_degree(a, radius):
    """Closed-form test for degree 1 and 2, see :func:`_jury_margin`."""
    low, size = _jury_margin(a, radius)
    with np.errstate(all="ignore"):
        uncertain = np.abs(low) <= 16 * np.finfo(float).eps * size
    return low > 0, uncertain


def _jury_margin(a, radius):
    r"""Smallest Jury margin of degree 1 or 2, and the coefficients' size.

    With :math:`c_i = |a_0| a_i / (a_0 r^i)`: all roots lie inside the
    circle of radius :math:`r` iff :math:`|a_0| - |c_1| > 0` (degree 1),
    or :math:`|a_0| + c_2 - |c_1| > 0` and :math:`|a_0| - |c_2| > 0`
    (degree 2: :math:`p(\pm r)` and the constant term).  No division
    by a small number, so the margin is accurate to rounding.
    """
    with np.errstate(all="ignore"):
        p0, c1 = np.abs(a[0]), np.abs(a[1]) / radius
        if a.shape[0] == 2:
            return p0 - c1, p0 + c1
        c2 = a[2] * np.sign(a[0]) / (radius * radius)
        low = np.minimum(p0 - c1 + c2, p0 - np.abs(c2))
        return low, p0 + c1 + np.abs(c2)


def _low_degree_codes(a, tolerance):
    """Verdict codes for degree 1 and 2 in closed form."""
    codes = np.full(a.shape[1:], 2, dtype=np.int8)
    uncertain = np.zeros(a.shape[1:], dtype=bool)
    for radius, code in ((1 + tolerance, 1), (1 - tolerance, 0)):
        low, size = _jury_margin(a, radius)
        with np.errstate(invalid="ignore"):
            codes[low > 0] = code
            uncertain |= np.abs(low) <= 16 * np.finfo(float).eps * size
    return codes, uncertain


def verdict_codes(coeffs, tolerance: float = MARGINAL_TOLERANCE):
    r"""Verdict codes 0 (stable), 1 (marginal), 2 (unstable) per point.

    Stable means :math:`\rho < 1 - \tau`, unstable :math:`\rho > 1 +
    \tau`, marginal the band between, with :math:`\tau` = `tolerance`;
    each test is a Schur-Cohn recursion on :math:`p((1 \mp \tau) z)`.
    Where rounding in the recursion could have decided a test either
    way (roots clustered near the circle), the roots are computed and
    the verdict read from the spectral radius instead.

    Examples
    --------
    >>> verdict_codes([[1, 1, 1], [-0.5, -1, -2]]).tolist()
    [0, 1, 2]
    """
    a = _as_coeffs(coeffs)
    if not 0 <= tolerance < 1:
        raise ValueError(
            f"`tolerance` must lie in [0, 1), got {tolerance!r}."
        )
    if a.shape[0] in (2, 3):
        codes, uncertain = _low_degree_codes(a, tolerance)
    else:
        inner, uncertain = _schur_cohn(a, 1.0 - tolerance)
        codes = np.full(a.shape[1:], 2, dtype=np.int8)
        codes[inner] = 0
        rest = ~inner
        if np.any(rest):
            outer, unsure = _schur_cohn(a[:, rest], 1.0 + tolerance)
            codes[rest] = np.where(outer, 1, 2)
            uncertain[rest] |= unsure
    if np.any(uncertain):
        rho = spectral_radii(a[:, uncertain])
        codes[uncertain] = np.where(
            rho < 1 - tolerance, 0, np.where(rho <= 1 + tolerance, 1, 2))
    return codes


def spectral_radii(coeffs) -> np.ndarray:
    r"""Largest root modulus per point.

    Degree 1 and 2 in closed form (the larger root of
    :math:`a z^2 + b z + c` has modulus :math:`(|b| + \sqrt{b^2 -
    4ac})/(2|a|)` when real and :math:`\sqrt{c/a}` when complex); higher
    degrees from batched eigenvalues of companion matrices, as
    :func:`numpy.roots` computes them.  A vanishing leading coefficient
    gives ``inf``, a coefficient that is not finite ``nan``.

    Examples
    --------
    >>> spectral_radii([[1, 1], [-0.5, 0.0], [0.25, 1.0]]).tolist()
    [0.5, 1.0]
    """
    a = _as_coeffs(coeffs)
    n = a.shape[0] - 1
    shape = a.shape[1:]
    if n == 0:
        return np.zeros(shape)
    with np.errstate(all="ignore"):
        if n == 1:
            rho = np.abs(a[1] / a[0])
        elif n == 2:
            rho = _quadratic_radius(a[0], a[1], a[2])
        else:
            rho = _companion_radius(a.reshape(n + 1, -1)).reshape(shape)
        rho = np.where(a[0] == 0, np.inf, rho)
        bad = ~np.all(np.isfinite(a), axis=0)
    return np.where(bad, np.nan, rho)


def _quadratic_radius(a, b, c):
    disc = b * b - 4 * a * c
    real = (np.abs(b) + np.sqrt(np.maximum(disc, 0))) / (2 * np.abs(a))
    return np.where(disc >= 0, real, np.sqrt(np.abs(c / a)))


def _companion(a):
    """Companion matrices, shape (N, n, n), of coefficients (n + 1, N)."""
    n, count = a.shape[0] - 1, a.shape[1]
    lead = np.where(a[0] == 0, 1.0, a[0])
    mats = np.zeros((count, n, n))
    mats[:, 0, :] = -(a[1:] / lead).T
    idx = np.arange(n - 1)
    mats[:, idx + 1, idx] = 1.0
    return mats


def _companion_roots(a, block=CHUNK_SIZE // 4):
    """All roots per column of `a` (n + 1, N), shape (N, n)."""
    roots = np.empty((a.shape[1], a.shape[0] - 1), dtype=complex)
    ok = np.all(np.isfinite(a), axis=0)
    for start in range(0, a.shape[1], block):
        sl = slice(start, start + block)
        sub = np.where(ok[sl], a[:, sl], 0.0)
        roots[sl] = np.linalg.eigvals(_companion(sub))
    roots[~ok] = np.nan
    return roots


def _companion_radius(a):
    return np.abs(_companion_roots(a)).max(axis=1)


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


# -- the polynomial of a region, evaluated numerically ------------------


class _Problem:
    """The characteristic polynomial over two axes and the curvatures.

    Picklable (the lambdified functions are rebuilt on demand), so that
    a Dask worker can evaluate blocks of the grid.
    """

    def __init__(self, rule, names, fixed, curvatures, delay, samples,
                 axes=()):
        params = {p.name: p.symbol for p in rule.parameters}
        self.symbols = tuple(
            _h if n == CURVATURE else params[n] for n in names
        )
        subs = {params[n]: v for n, v in fixed.items()}
        coeffs = [sympy.expand(c.xreplace(subs))
                  for c in _char_coeffs(rule, delay)]
        # roots at z = 0 never reach the unit circle: deflate them
        while len(coeffs) > 1 and coeffs[-1] == 0:
            coeffs.pop()
        self.coeffs = tuple(coeffs)
        self.args = self.symbols + (() if _h in self.symbols else (_h,))
        free = set().union(*(sympy.sympify(c).free_symbols for c in coeffs))
        extra = sorted(str(s) for s in free - set(self.args))
        if extra:
            raise ValueError(
                f"`fixed` must give values for {extra}; they have no "
                "default."
            )
        self.curvatures = curvatures
        self.samples = samples
        # sign(t) of an axis that does not change sign is a constant for
        # the symbolic boundary (the map itself uses numpy's sign)
        self.signs = {sympy.sign(s): (1 if a.low >= 0 else -1)
                      for s, a in zip(self.symbols, axes)
                      if a.low >= 0 or a.high <= 0}
        self.critical = self._critical_factors() if (
            curvatures is not None and curvatures.kind == "interval") else ()

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_functions", None)
        return state

    @property
    def poly(self) -> sympy.Poly:
        return sympy.Poly.from_list(list(self.coeffs), _z)

    @property
    def functions(self):
        if "_functions" not in self.__dict__:
            self._functions = (
                _lambdify(self.args, self.coeffs),
                [_lambdify(self.symbols, f) for f in self.critical],
            )
        return self._functions

    def coefficients(self, X, Y, H=None) -> np.ndarray:
        """Coefficient array (n + 1, *shape) at broadcastable X, Y, H."""
        args = (X, Y) if _h in self.symbols else (X, Y, H)
        return _stack(self.functions[0](*args), args)

    def curvature_points(self, X, Y):
        """Curvatures to test: one value, a spectrum or an interval."""
        if self.curvatures is None:
            return [None]
        if self.curvatures.kind != "interval":
            return list(self.curvatures.modes)
        mu, top = self.curvatures.min, self.curvatures.max
        fixed = [np.linspace(mu, top, self.samples)]
        fixed.append(np.geomspace(max(mu, top * 1e-6), top, self.samples))
        points = list(np.unique(np.concatenate(fixed)))
        return points + self._critical_points(X, Y, mu, top)

    @property
    def resultant_factors(self) -> tuple:
        r"""Irreducible factors of :math:`\operatorname{res}_z(p, p^*)`."""
        coeffs = tuple(sympy.expand(c.subs(self.signs)) if self.signs
                       else c for c in self.coeffs)
        return _resultant_factors(coeffs, self.args)

    def _critical_factors(self):
        """Factors of the resultant that depend on h, as Polys in h."""
        polys = [sympy.Poly(f, _h) for f in self.resultant_factors
                 if f.has(_h)]
        return tuple(tuple(p.all_coeffs()) for p in polys)

    def _critical_points(self, X, Y, mu, top):
        """Per point: critical curvatures in [mu, L] and midpoints."""
        found = []
        for fn in self.functions[1]:
            a = _stack(fn(X, Y), (X, Y))
            for r in _real_parts_of_roots(a):
                found.append(np.where((r >= mu) & (r <= top), r, np.nan))
        if not found:
            return []
        cuts = np.sort(np.stack(found), axis=0)
        edges = np.concatenate([np.full((1,) + cuts.shape[1:], mu), cuts])
        ends = np.concatenate([cuts, np.full((1,) + cuts.shape[1:], top)])
        ends = np.where(np.isnan(ends), top, ends)
        mids = 0.5 * (np.where(np.isnan(edges), mu, edges) + ends)
        points = np.concatenate([cuts, mids])
        return list(np.where(np.isnan(points), mu, points))

    def evaluate(self, X, Y, tolerance, radius=True):
        """Worst verdict code and largest radius over the curvatures.

        All curvatures are evaluated at once along a leading axis.
        """
        points = self.curvature_points(X, Y)
        if points == [None]:
            c = self.coefficients(X, Y)
        else:
            shape = np.broadcast_shapes(np.shape(X), np.shape(Y))
            H = np.stack([np.broadcast_to(np.asarray(p, float), shape)
                          for p in points])
            c = self.coefficients(X[None], Y[None], H)
        codes = verdict_codes(c, tolerance)
        rho = spectral_radii(c) if radius else None
        if points != [None]:
            codes = codes.max(axis=0)
            rho = None if rho is None else rho.max(axis=0)
        return codes, rho

    @property
    def curvature_count(self) -> int:
        """Curvatures evaluated per grid point."""
        if self.curvatures is None:
            return 1
        if self.curvatures.kind != "interval":
            return len(self.curvatures.modes)
        critical = sum(len(f) - 1 for f in self.critical)
        return 2 * self.samples + 2 * critical + 1


@lru_cache(maxsize=64)
def _resultant_factors(coeffs, args):
    """Irreducible factors of the resultant of p and its reciprocal.

    A root meets the unit circle only where the resultant vanishes;
    roots shared for every value (a reciprocal factor of p itself) are
    divided out first.
    """
    q = sympy.Poly(list(coeffs), _z)
    rev = sympy.Poly(list(coeffs)[::-1], _z)
    try:
        common = sympy.gcd(q, rev)
        if common.degree() > 0:
            q = sympy.quo(q, common)
            rev = sympy.Poly(q.all_coeffs()[::-1], _z)
        res = sympy.resultant(q.as_expr(), rev.as_expr(), _z)
        factors = [f for f, _ in sympy.factor_list(res)[1]]
        for f in factors:
            sympy.Poly(f, *args)
    except (sympy.PolynomialError, sympy.CoercionFailed) as err:
        warnings.warn(
            "the points where a root meets the unit circle could not be "
            f"found symbolically ({err}); boundary curves are skipped and "
            "an interval of curvatures is sampled only.",
            LRControlWarning,
            stacklevel=5,
        )
        return ()
    return tuple(f for f in factors if f.free_symbols)


@lru_cache(maxsize=64)
def _char_coeffs(rule, delay):
    """Coefficients of the symbolic characteristic polynomial (cached)."""
    return tuple(closed_loop(rule, None, delay=delay).char_poly.all_coeffs())


@lru_cache(maxsize=256)
def _lambdify(args, exprs):
    return sympy.lambdify(args, list(exprs), "numpy")


def _stack(values, args):
    shape = np.broadcast_shapes(*(np.shape(v) for v in values),
                                *(np.shape(a) for a in args))
    return np.stack([np.broadcast_to(np.asarray(v, dtype=float), shape)
                     for v in values])


def _real_parts_of_roots(a):
    """Real parts of all roots per point of coefficients (d + 1, ...).

    Where the leading coefficient is smaller than the constant one the
    reversed polynomial is solved and its roots inverted, so a vanishing
    leading coefficient sends a root to infinity instead of losing it.
    """
    d, shape = a.shape[0] - 1, a.shape[1:]
    flat = a.reshape(d + 1, -1)
    with np.errstate(all="ignore"):
        flip = np.abs(flat[0]) < np.abs(flat[-1])
        b = np.where(flip, flat[::-1], flat)
        if d == 1:
            roots = (-b[1] / b[0])[:, None].astype(complex)
        else:
            roots = _companion_roots(b)
        roots = np.where(flip[:, None], 1 / roots, roots)
    return [np.real(roots[:, j]).reshape(shape) for j in range(d)]


# -- evaluation over the grid, in chunks -----------------------------------


def _evaluate_rows(problem, x, y, rows, tolerance, radius):
    X, Y = x[None, :], y[rows, None]
    return problem.evaluate(X, Y, tolerance, radius)


def _evaluate_grid(problem, x, y, tolerance, radius, chunk_size, backend):
    """Verdict codes and radii on the grid, a block of rows at a time."""
    step = max(1, int(chunk_size) // (len(x) * problem.curvature_count))
    blocks = [slice(i, min(i + step, len(y))) for i in range(0, len(y), step)]
    if backend == "dask":
        results = _dask_blocks(problem, x, y, blocks, tolerance, radius)
    elif backend == "numpy":
        results = (_evaluate_rows(problem, x, y, b, tolerance, radius)
                   for b in blocks)
    else:
        raise ValueError(
            f"`backend` must be 'numpy' or 'dask', got {backend!r}."
        )
    codes = np.empty((len(y), len(x)), dtype=np.int8)
    rho = np.empty((len(y), len(x))) if radius else None
    for b, (k, r) in zip(blocks, results):
        codes[b] = k
        if radius:
            rho[b] = r
    return codes, rho


def _dask_blocks(problem, x, y, blocks, tolerance, radius):
    try:
        import dask
    except ImportError:
        raise ImportError(
            "`backend='dask'` needs dask; install it with "
            "`pip install dask` (an optional extra)."
        ) from None
    task = dask.delayed(_evaluate_rows, pure=True)
    shared = dask.delayed(problem, pure=True)
    return dask.compute(
        *[task(shared, x, y, b, tolerance, radius) for b in blocks]
    )


# -- results -----------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class BoundaryCurve:
    r"""A piece of the stability boundary, where a root is on the circle.

    Attributes
    ----------
    kind : str
        ``"z=1"`` (:math:`p(1) = 0`), ``"z=-1"`` (:math:`p(-1) = 0`) or
        ``"complex"`` (a pair :math:`e^{\pm i\omega}`).
    x, y : numpy.ndarray
        Points of the curve, in order.
    curvature : numpy.ndarray
        Per point, the curvature at which the root is on the circle.
    omega : numpy.ndarray
        Per point, the angle :math:`\omega \in [0, \pi]` of that root.
    """

    kind: str
    x: np.ndarray
    y: np.ndarray
    curvature: np.ndarray
    omega: np.ndarray

    def to_dict(self) -> dict:
        return {"kind": self.kind, "x": _json_list(self.x),
                "y": _json_list(self.y),
                "curvature": _json_list(self.curvature),
                "omega": _json_list(self.omega)}


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
    _problem: _Problem = field(repr=False, default=None)

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
                                [_json_list(r) for r in
                                 self.spectral_radius]),
            "in_domain": self.in_domain.tolist(),
            "boundaries": [b.to_dict() for b in self.boundaries],
        }


def _axis_dict(axis, values):
    return {"name": axis.name, "low": axis.low, "high": axis.high,
            "points": axis.points, "log": axis.log,
            "values": _json_list(values)}


def _json_list(array):
    """Floats for JSON: nan and inf become None."""
    return [float(v) if math.isfinite(v) else None
            for v in np.asarray(array, dtype=float).ravel()]


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
    boundaries: bool = True,
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
    boundaries : bool
        Whether to compute the exact boundary curves.
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
    values = _fixed_values(rule, names, fixed)
    curvatures = _region_curvatures(curvature, names)
    samples = _positive_int(interval_samples, "interval_samples")
    problem = _Problem(rule, names, values, curvatures, delay, samples,
                       (x_axis, y_axis))

    xs, ys = x_axis.values, y_axis.values
    codes, rho = _evaluate_grid(problem, xs, ys, tolerance, radius,
                                _positive_int(chunk_size, "chunk_size"),
                                backend)
    curves = _boundary_curves(problem, x_axis, y_axis) if boundaries else ()
    return StabilityRegion(
        rule=rule, x_axis=x_axis, y_axis=y_axis, x=xs, y=ys, codes=codes,
        spectral_radius=rho, boundaries=tuple(curves),
        in_domain=_in_domain(rule, x_axis, y_axis, xs, ys, values),
        fixed={n: float(v) for n, v in values.items()},
        curvatures=curvatures, tolerance=float(tolerance),
        char_poly=problem.poly, _problem=problem,
    )


def _fixed_values(rule, names, fixed):
    fixed = dict(fixed or {})
    known = [p.name for p in rule.parameters]
    for name in fixed:
        if name not in known:
            raise ValueError(
                f"`fixed` must name parameters of rule {rule.name!r} "
                f"({', '.join(known)}), got {name!r}."
            )
        if name in names:
            raise ValueError(
                f"`fixed` must not give {name!r}, which is an axis."
            )
    out = {}
    for p in rule.parameters:
        if p.name in names:
            continue
        value = fixed.get(p.name, p.default)
        if value is None:
            raise ValueError(
                f"`fixed` must give a value for {p.name!r}; it has no "
                "default."
            )
        out[p.name] = exact(value, p.name)
    return out


def _region_curvatures(curvature, names):
    if CURVATURE in names:
        if curvature is not None:
            raise ValueError(
                "`curvature` must be None when an axis is the curvature, "
                f"got {curvature!r}."
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


# -- exact boundary curves (D-decomposition) ---------------------------------

#: Contouring grid per side on which the zero sets are first located.
_TRACE_POINTS = 321

#: Largest degree in h of a resultant factor whose envelope is traced.
_MAX_ENVELOPE_DEGREE = 6


def _boundary_curves(problem, x_axis, y_axis):
    r"""Where a root is on the unit circle and none is outside.

    Every zero set of a factor of :math:`\operatorname{res}_z(p, p^*)`
    at the curvatures of interest is located by contouring the factor
    (a polynomial in the axes) and each point is then projected onto it
    by Newton's method.  A point is kept if the polynomial has a root on
    the unit circle there (this drops reciprocal pairs :math:`w, 1/w`
    off the circle) and no root outside at any curvature covered.  The
    ends of each piece are then located by bisection along the line.
    """
    curves = []
    for g, hval, envelope in _families(problem):
        tracer = _Tracer(problem, g, x_axis, y_axis, hval, envelope)
        for c in tracer.curves():
            # a factor free of h gives the same piece at every curvature
            if not any(_same_curve(c, d) for d in curves):
                curves.append(c)
    return curves


def _same_curve(c, d):
    return (c.kind == d.kind and len(c.x) == len(d.x)
            and np.allclose(c.x, d.x, rtol=1e-9, atol=1e-12)
            and np.allclose(c.y, d.y, rtol=1e-9, atol=1e-12))


def _families(problem):
    """(factor in the axes, curvature or None, envelope factor or None)."""
    factors = problem.resultant_factors
    curv = problem.curvatures
    if curv is None:
        return [(f, None, None) for f in factors]
    out = []
    for hval in dict.fromkeys(curv.modes):
        sub = {_h: exact(hval, "curvature")}
        for f in factors:
            g = sympy.expand(f.xreplace(sub))
            if g.free_symbols:
                out.append((g, float(hval), None))
    if curv.kind == "interval":
        out += _envelopes(factors)
    return out


def _envelopes(factors):
    r"""Curves where a factor has a double root in h (its envelope)."""
    out, skipped = [], False
    for f in factors:
        degree = sympy.degree(f, _h)
        if degree < 2:
            continue
        if degree > _MAX_ENVELOPE_DEGREE:
            skipped = True
            continue
        disc = sympy.discriminant(f, _h)
        for g, _ in sympy.factor_list(disc)[1]:
            if g.free_symbols:
                out.append((g, None, f))
    if skipped:
        warnings.warn(
            f"a resultant factor has degree > {_MAX_ENVELOPE_DEGREE} in the "
            "curvature; boundary pieces from curvatures inside the interval "
            "are not traced (the verdict map is still exact).",
            LRControlWarning,
            stacklevel=4,
        )
    return out


def _to_unit(axis, values):
    if axis.log:
        return np.log(values / axis.low) / math.log(axis.high / axis.low)
    return (values - axis.low) / (axis.high - axis.low)


def _from_unit(axis, u):
    if axis.log:
        return axis.low * np.exp(u * math.log(axis.high / axis.low))
    return axis.low + u * (axis.high - axis.low)


class _Tracer:
    """The zero set of one factor, cut into boundary pieces."""

    _NAMES = ("z=1", "z=-1", "complex")

    def __init__(self, problem, g, x_axis, y_axis, hval, envelope,
                 points=_TRACE_POINTS):
        args = problem.symbols
        self.fn = sympy.lambdify(args, g, "numpy")
        self.grad = [sympy.lambdify(args, sympy.diff(g, s), "numpy")
                     for s in args]
        self.problem, self.axes = problem, (x_axis, y_axis)
        self.hval, self.envelope, self.points = hval, envelope, points

    def lines(self):
        """Polylines of g = 0 in unit coordinates, from a contour."""
        import contourpy

        u = np.linspace(-0.02, 1.02, self.points)
        X, Y = _from_unit(self.axes[0], u), _from_unit(self.axes[1], u)
        with np.errstate(all="ignore"):
            G = np.broadcast_to(
                np.asarray(self.fn(X[None, :], Y[:, None]), dtype=float),
                (len(u), len(u)))
        if not np.all(np.isfinite(G)) or not np.any(G != 0):
            return []
        gen = contourpy.contour_generator(u, u, G, line_type="Separate")
        return gen.lines(0.0)

    def state(self, u, v):
        """Projected points, their root's kind and whether they are kept."""
        reach = 4.0 / self.points
        u, v, ok = _newton(self.fn, self.grad, *self.axes, u, v, reach)
        edge = 1e-12
        ok &= (u >= -edge) & (u <= 1 + edge) & (v >= -edge) & (v <= 1 + edge)
        X, Y = _from_unit(self.axes[0], u), _from_unit(self.axes[1], v)
        H = _vertex_curvature(self.problem, X, Y, self.hval, self.envelope)
        ok &= np.isfinite(H)
        H = np.where(ok, H, 0.0)
        root = _root_nearest_circle(self.problem.coefficients(X, Y, H))
        ok &= np.abs(np.abs(root) - 1) < 1e-6
        if np.any(ok):
            worst = self.problem.evaluate(X[ok], Y[ok], _BOUNDARY_TOLERANCE,
                                          False)[0]
            ok[ok] = worst <= 1
        kind = np.where(np.abs(root.imag) > 1e-7, 2,
                        np.where(root.real > 0, 0, 1))
        return X, Y, H, np.abs(np.angle(root)), kind, ok

    def curves(self):
        out = []
        for line in self.lines():
            u, v = line[:, 0], line[:, 1]
            X, Y, H, w, kind, ok = self.state(u, v)
            runs = [(k, r) for k in range(3)
                    for r in _runs(ok & (kind == k))]
            ends = self._ends(u, v, [(r.start, r.start - 1, k)
                                     for k, r in runs]
                              + [(r.stop - 1, r.stop, k) for k, r in runs])
            for i, (k, r) in enumerate(runs):
                parts = [ends[i], (X[r], Y[r], H[r], w[r]),
                         ends[len(runs) + i]]
                parts = [p for p in parts if p is not None]
                cols = [np.concatenate([np.atleast_1d(p[j]) for p in parts])
                        for j in range(4)]
                out.append(BoundaryCurve(self._NAMES[k], *cols))
        return out

    def _ends(self, u, v, pairs, steps=40):
        """Ends of pieces, by bisection between kept and dropped vertices.

        `pairs` holds (kept index, neighbour index, kind); the result
        holds one (X, Y, H, omega) per pair, or None where the piece ends
        at the line's own end or cannot be extended.
        """
        found = [None] * len(pairs)
        use = [i for i, (_, j, _) in enumerate(pairs) if 0 <= j < len(u)]
        if not use:
            return found
        a = np.array([pairs[i][0] for i in use])
        b = np.array([pairs[i][1] for i in use])
        kinds = np.array([pairs[i][2] for i in use])
        lo, hi = np.zeros(len(use)), np.ones(len(use))

        def at(t):
            return self.state(u[a] + t * (u[b] - u[a]),
                              v[a] + t * (v[b] - v[a]))

        for _ in range(steps):
            t = 0.5 * (lo + hi)
            *_, k, ok = at(t)
            good = ok & (k == kinds)
            lo, hi = np.where(good, t, lo), np.where(good, hi, t)
        X, Y, H, w, k, ok = at(lo)
        for n, i in enumerate(use):
            if lo[n] > 0 and ok[n] and k[n] == kinds[n]:
                found[i] = (X[n], Y[n], H[n], w[n])
        return found


def _newton(fn, grad, x_axis, y_axis, u, v, reach, steps=8):
    """Project points onto g = 0 along the gradient, in unit coordinates."""
    u0, v0 = u.copy(), v.copy()
    step = np.full(u.shape, np.inf)
    with np.errstate(all="ignore"):
        for _ in range(steps):
            X, Y = _from_unit(x_axis, u), _from_unit(y_axis, v)
            dx = _unit_derivative(x_axis, X)
            dy = _unit_derivative(y_axis, Y)
            gu = np.asarray(grad[0](X, Y), float) * dx
            gv = np.asarray(grad[1](X, Y), float) * dy
            t = np.asarray(fn(X, Y), float) / (gu * gu + gv * gv)
            u, v = u - t * gu, v - t * gv
            step = np.hypot(t * gu, t * gv)
    ok = (step < 1e-10) & (np.hypot(u - u0, v - v0) < reach)
    return u, v, ok & np.isfinite(u) & np.isfinite(v)


def _unit_derivative(axis, values):
    if axis.log:
        return values * math.log(axis.high / axis.low)
    return np.full(np.shape(values), axis.high - axis.low)


def _runs(mask):
    """Slices of consecutive True entries, at least 2 long."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(int),
                                                   [0]])))
    return [slice(a, b) for a, b in zip(edges[::2], edges[1::2]) if b - a > 1]


def _vertex_curvature(problem, X, Y, hval, envelope):
    """Curvature at which each point of a curve has its root on the circle."""
    if _h in problem.symbols:
        return X if problem.symbols[0] == _h else Y
    if envelope is None:
        return np.full(X.shape, hval)
    # the double root in h of the envelope's factor, inside [mu, L]
    mu, top = problem.curvatures.min, problem.curvatures.max
    args = problem.symbols + (_h,)
    slope = sympy.lambdify(args, sympy.diff(envelope, _h), "numpy")
    coeffs = sympy.Poly(envelope, _h).all_coeffs()
    coeffs = _stack(sympy.lambdify(problem.symbols, coeffs, "numpy")(X, Y),
                    (X, Y))
    best, H = np.full(X.shape, np.inf), np.full(X.shape, np.nan)
    with np.errstate(all="ignore"):
        for r in _real_parts_of_roots(coeffs):
            d = np.abs(np.broadcast_to(slope(X, Y, r), X.shape))
            use = (r >= mu) & (r <= top) & (d < best)
            best, H = np.where(use, d, best), np.where(use, r, H)
    return H


def _root_nearest_circle(a):
    """Per point, the root closest to the unit circle."""
    roots = _all_roots(a.reshape(a.shape[0], -1))
    gap = np.abs(np.abs(roots) - 1)
    j = np.argmin(np.where(np.isfinite(gap), gap, np.inf), axis=1)
    return roots[np.arange(roots.shape[0]), j]


def _all_roots(a):
    """Roots per point of coefficients (n + 1, N), shape (N, n)."""
    if a.shape[0] == 2:
        with np.errstate(all="ignore"):
            return (-a[1] / a[0])[:, None].astype(complex)
    return _companion_roots(a)


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
