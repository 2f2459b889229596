r"""Exact stability of a characteristic polynomial.

A discrete-time loop is *stable* when every root of its characteristic
polynomial lies strictly inside the unit circle (Schur stability),
*marginal* when the largest roots lie on the circle, and *unstable* when
a root lies outside.

Three tools answer the question:

- :func:`jury_conditions`: symbolic Jury conditions, polynomial
  inequalities in the coefficients, readable up to degree 3.
- :func:`classify`: the verdict at numbers.  With exact (rational)
  coefficients the verdict is exact: a root on the unit circle is a
  common root of :math:`p(z)` and its reciprocal :math:`z^n p(1/z)`,
  found by an exact gcd, then located to 30 digits.  Floats given by a
  user are read as the decimals they print as (``0.1`` is 1/10).
- :func:`stable_set`: the exact set of values of one parameter for which
  the loop is stable.  A root can meet the unit circle only where the
  resultant :math:`R(t) = \operatorname{res}_z(p, z^n p(1/z))` vanishes,
  and where it vanishes the loop is not stable (the roots :math:`w` and
  :math:`1/w` are both present).  The real roots of :math:`R` split the
  line into intervals of constant verdict; one exact test per interval
  decides each.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Sequence

import mpmath
import numpy as np
import sympy

from ._symbols import k as _k, z as _z
from .errors import LRControlWarning
from .rules import exact

__all__ = [
    "Verdict",
    "Segment",
    "classify",
    "jury_conditions",
    "critical_values",
    "stable_set",
    "spectral_radius",
    "UNIT_CIRCLE_DIGITS",
]

#: Digits to which a root found to lie on the unit circle is located.
UNIT_CIRCLE_DIGITS = 30

#: Largest Jury condition (in SymPy operations) still shown symbolically.
_MAX_CONDITION_OPS = 400

_SEVERITY = {"stable": 0, "marginal": 1, "unstable": 2}


@dataclass(frozen=True)
class Verdict:
    """Stability of one polynomial at numbers.

    Attributes
    ----------
    verdict : str
        ``"stable"``, ``"marginal"`` or ``"unstable"``.
    spectral_radius : float
        Largest root modulus (exactly 1.0 when a root is on the circle
        and none is outside).
    poles : numpy.ndarray
        The roots, complex.
    on_circle : int
        Number of roots on the unit circle, with multiplicity.
    repeated_on_circle : bool
        Whether a root on the circle is repeated; the verdict is then
        *unstable* (the error grows polynomially) although no root is
        outside and the spectral radius is 1.
    """

    verdict: str
    spectral_radius: float
    poles: np.ndarray
    on_circle: int = 0
    repeated_on_circle: bool = False

    def __bool__(self):
        return self.verdict == "stable"


@dataclass(frozen=True)
class Segment:
    """An open interval of a parameter with one verdict."""

    low: float
    high: float
    verdict: str


def worst(verdicts: Sequence[str]) -> str:
    """The most severe of several verdicts."""
    return max(verdicts, key=_SEVERITY.__getitem__)


def _as_poly(char_poly) -> sympy.Poly:
    # a ClosedLoop carries its polynomial; accept it where a Poly goes
    char_poly = getattr(char_poly, "char_poly", char_poly)
    if isinstance(char_poly, sympy.Poly):
        return char_poly
    if isinstance(char_poly, (list, tuple, np.ndarray)):
        coeffs = [c if isinstance(c, sympy.Basic) and c.free_symbols
                  else exact(c, "char_poly") for c in char_poly]
        return sympy.Poly.from_list(coeffs, _z)
    try:
        return sympy.Poly(char_poly, _z)
    except (sympy.SympifyError, sympy.PolynomialError) as err:
        raise TypeError(
            "`char_poly` must be a sympy.Poly or expression in z, a "
            "coefficient list or a ClosedLoop, got "
            f"{type(char_poly).__name__}."
        ) from err


def _exact_coeffs(poly):
    coeffs = []
    for c in poly.all_coeffs():
        c = sympy.sympify(c)
        if _k in c.free_symbols:
            raise NotImplementedError(
                "the closed loop depends on the step index k (a schedule "
                "or another time-varying rule); a frozen-k polynomial says "
                "nothing about stability, and the analysis of time-varying "
                "loops (products of A(k) over a cycle) is not implemented "
                "yet; lrcontrol.simulate runs the rule itself."
            )
        if c.free_symbols:
            raise ValueError(
                "the polynomial must be numeric here; it still depends on "
                f"{sorted(str(s) for s in c.free_symbols)}."
            )
        if c.is_Float:
            c = exact(float(c))
        elif not c.is_Rational and c.is_algebraic is not True:
            c = sympy.Rational(str(sympy.N(c, 50)))
        coeffs.append(c)
    while len(coeffs) > 1 and coeffs[0] == 0:
        coeffs.pop(0)
    return coeffs


def classify(char_poly) -> Verdict:
    r"""Stable, marginal or unstable: the verdict for numeric coefficients.

    Parameters
    ----------
    char_poly : sympy.Poly, expression in ``z`` or sequence
        The polynomial (coefficients highest power first when a
        sequence).

    Returns
    -------
    Verdict

    Raises
    ------
    ValueError
        For the zero polynomial or a polynomial with free symbols.

    Notes
    -----
    Exact for rational and algebraic coefficients.  *Stable* is decided
    by the Jury table in exact arithmetic.  Otherwise the roots on the
    unit circle are those of :math:`\gcd(p, z^n p(1/z))`; each irreducible
    factor of the gcd whose roots all have modulus 1 (checked at
    :data:`UNIT_CIRCLE_DIGITS` digits) is divided out with its
    multiplicity, and the loop is *marginal* if what remains is stable by
    the exact Jury test and every root on the circle is simple,
    *unstable* otherwise.  A repeated root on the circle is unstable with
    spectral radius 1: the recurrence with characteristic polynomial
    :math:`(z - 1)^2` has the solution :math:`x_k = k`.  (A state matrix
    whose repeated eigenvalue on the circle is semisimple, e.g. two
    decoupled constant states, stays bounded; the polynomial alone cannot
    tell the two apart, and the growing case is reported.)  Poles and the
    spectral radius are for display; they never decide the verdict.

    Examples
    --------
    >>> classify([1, -1]).verdict          # z - 1: gradient descent, h = 0
    'marginal'
    >>> classify([1, sympy.Rational(1, 2)]).verdict
    'stable'
    """
    coeffs = _exact_coeffs(_as_poly(char_poly))
    if len(coeffs) == 1:
        if coeffs[0] == 0:
            raise ValueError(
                "`char_poly` must not be the zero polynomial, got 0."
            )
        return Verdict("stable", 0.0, np.zeros(0, dtype=complex))
    if coeffs[0] < 0:
        coeffs = [-c for c in coeffs]
    poles, rho = _poles(coeffs)
    if _jury_holds(coeffs):
        if rho >= 1 - 1e-9:
            rho = min(_precise_radius(coeffs), 1 - 1e-16)
        elif _clustered(poles):
            # numpy finds a root of multiplicity m only to eps^(1/m)
            rho = _precise_radius(coeffs)
        return Verdict("stable", rho, poles)
    poly = _poly_of(coeffs)
    rest, on_circle, repeated = _divide_unit_circle(poly)
    if on_circle and (rest.degree() == 0 or
                      _jury_holds(_exact_coeffs(rest))):
        # a root of multiplicity m on the circle: the error grows like
        # k^(m - 1), so only simple roots there are marginal
        verdict = "unstable" if repeated else "marginal"
        return Verdict(verdict, 1.0, poles, on_circle, repeated)
    if rho <= 1 + 1e-9:
        # a root outside: never report a radius of exactly 1, which
        # belongs to roots on the circle
        rho = max(_precise_radius(coeffs), math.nextafter(1.0, 2.0))
    return Verdict("unstable", rho, poles, on_circle, repeated)


def _clustered(poles) -> bool:
    """Whether two roots nearly coincide (a repeated root, maybe)."""
    if poles.size < 2:
        return False
    gaps = np.abs(poles[:, None] - poles[None, :])
    np.fill_diagonal(gaps, np.inf)
    return bool(gaps.min() < 1e-6 * max(1.0, np.abs(poles).max()))


def _poly_of(coeffs):
    rational = all(c.is_Rational for c in coeffs)
    return sympy.Poly(coeffs, _z) if rational else \
        sympy.Poly(coeffs, _z, extension=True)


def _jury_holds(coeffs) -> bool:
    """All Jury conditions, in exact arithmetic (leading coefficient > 0)."""
    a = list(reversed(coeffs))
    n = len(a) - 1
    if n == 0:
        return True
    if a[n] < 0:
        a = [-c for c in a]
    p1 = sum(a)
    pm1 = sum(c * (-1) ** i for i, c in enumerate(a)) * (-1) ** n
    for condition in [p1 > 0, pm1 > 0] + _jury_rows(a, n):
        if not bool(condition):
            return False
    return True


def _poles(coeffs):
    """Roots for display, in floats where they fit, else at 30 digits."""
    floats = np.array([float(c) for c in coeffs])
    if np.all(np.isfinite(floats)) and np.abs(floats).max() < 1e150:
        with np.errstate(all="ignore"):
            poles = np.roots(floats)
        if np.all(np.isfinite(poles)):
            return poles, float(np.abs(poles).max()) if poles.size else 0.0
    with mpmath.workdps(UNIT_CIRCLE_DIGITS):
        try:
            roots = mpmath.polyroots([_mp(c) for c in coeffs],
                                     maxsteps=2000, extraprec=1000)
        except mpmath.libmp.NoConvergence:
            raise ValueError(
                "the roots of this polynomial could not be located (its "
                "coefficients span too many orders of magnitude), got "
                f"coefficients from {min(abs(float(c)) for c in coeffs):.3g} "
                f"to {max(abs(float(c)) for c in coeffs):.3g}."
            ) from None
    poles = np.array([complex(r) for r in roots])
    return poles, float(max(abs(r) for r in roots))


def _mp(value):
    value = sympy.sympify(value)
    if value.is_Rational:
        return mpmath.mpf(value.p) / value.q
    return mpmath.mpf(str(sympy.N(value, UNIT_CIRCLE_DIGITS + 20)))


def _all_roots_on_circle(factor):
    with mpmath.workdps(UNIT_CIRCLE_DIGITS + 20):
        roots = mpmath.polyroots([_mp(c) for c in factor.all_coeffs()],
                                 maxsteps=400, extraprec=200)
        eps = mpmath.mpf(10) ** (-UNIT_CIRCLE_DIGITS)
        return all(abs(abs(r) - 1) < eps for r in roots)


def _divide_unit_circle(poly):
    """Remove the factors with all roots on the circle, with multiplicity.

    Returns the rest, the number of roots removed and whether one was
    repeated.
    """
    rec = _poly_of(poly.all_coeffs()[::-1])
    gcd = sympy.gcd(poly, rec)
    rest, count, repeated = poly, 0, False
    if gcd.degree() <= 0:
        return rest, count, repeated
    for factor, _ in sympy.factor_list(gcd)[1]:
        factor = sympy.Poly(factor, _z, domain=gcd.domain)
        if factor.degree() == 0 or not _all_roots_on_circle(factor):
            continue
        m = 0
        while True:
            q, r = sympy.div(rest, factor)
            if not r.is_zero:
                break
            rest, m = q, m + 1
        count += factor.degree() * m
        repeated = repeated or m > 1
    return rest, count, repeated


def _precise_radius(coeffs):
    poly = _poly_of(coeffs).monic()
    rho = 0.0
    with mpmath.workdps(UNIT_CIRCLE_DIGITS + 20):
        for factor, _ in poly.sqf_list()[1]:
            c = [_mp(v) for v in factor.all_coeffs()]
            if len(c) > 1:
                roots = mpmath.polyroots(c, maxsteps=400, extraprec=200)
                rho = max(rho, float(max(abs(r) for r in roots)))
    return rho


def spectral_radius(char_poly) -> float:
    """Largest root modulus of a numeric polynomial (the rate per step).

    Examples
    --------
    >>> spectral_radius([1, -sympy.Rational(9, 10)])
    0.9
    """
    return classify(char_poly).spectral_radius


def jury_conditions(
    char_poly, simplify: bool = True, max_ops: int = _MAX_CONDITION_OPS
) -> list | None:
    r"""Symbolic Jury conditions: the polynomial is Schur stable iff all hold.

    For :math:`p(z) = a_n z^n + \dots + a_0` with :math:`a_n > 0`, the
    conditions are :math:`p(1) > 0`, :math:`(-1)^n p(-1) > 0`,
    :math:`|a_0| < a_n`, then one inequality per further row of the Jury
    table.  For degree 2 with :math:`a_2 = 1` they read
    :math:`p(1) > 0,\ p(-1) > 0,\ a_0 < 1`.

    Parameters
    ----------
    char_poly : sympy.Poly or expression in ``z``
    simplify : bool
        Factor, drop positive factors and write each condition as an
        inequality between terms of one sign.
    max_ops : int
        Largest condition, in SymPy operations, still returned.

    Returns
    -------
    list of sympy.Rel or None
        Strict inequalities (always-true ones dropped), or None when
        a condition grows beyond `max_ops`; a
        :class:`LRControlWarning` then says the numeric test is used.

    Raises
    ------
    ValueError
        If the leading coefficient is not known to be positive.

    Examples
    --------
    >>> eta, h = sympy.symbols("eta h", positive=True)
    >>> jury_conditions(sympy.Poly(_z - 1 + eta * h, _z))
    [eta*h < 2]
    """
    poly = _as_poly(char_poly)
    a = [sympy.sympify(c) for c in reversed(poly.all_coeffs())]
    n = len(a) - 1
    if n == 0:
        return []
    if not (a[n] > 0) is sympy.true and a[n].is_positive is not True:
        raise ValueError(
            "`char_poly` must have a positive leading coefficient, got "
            f"{a[n]}."
        )
    p1 = sum(a)
    pm1 = sum(c * (-1) ** i for i, c in enumerate(a)) * (-1) ** n
    conditions = [p1 > 0, pm1 > 0] + _jury_rows(a, n)
    conditions = [_tidy(c, simplify) for c in conditions]
    if any(c is sympy.false for c in conditions):
        return [sympy.false]
    unique = []
    for c in conditions:
        if c is not sympy.true and c not in unique:
            unique.append(c)
    if any(sympy.count_ops(c) > max_ops for c in unique):
        warnings.warn(
            f"Jury conditions of this degree-{n} polynomial are too large "
            "to be readable; the numeric test is used instead.",
            LRControlWarning,
            stacklevel=2,
        )
        return None
    return unique


def _jury_rows(a, n):
    """|a_0| < a_n, then |first| > |last| on every reduced row."""
    if n == 1:
        return []
    if n == 2:
        # with p(1) > 0 and p(-1) > 0, a_0 > -a_2 follows
        return [a[2] - a[0] > 0]
    rows = [a[n] - a[0] > 0, a[n] + a[0] > 0]
    row = list(a)
    for i in range(n - 2):
        m = len(row) - 1
        new = [row[0] * row[j] - row[m] * row[m - j] for j in range(m)]
        # |new[0]| > |new[-1]|.  The first reduced row starts with
        # a0^2 - an^2 < 0; later rows start with b0^2 - b_last^2 > 0 by
        # the condition before, so the sign of new[0] is known.
        lead = -new[0] if i == 0 else new[0]
        rows += [lead - new[-1] > 0, lead + new[-1] > 0]
        row = new
    return rows


def _tidy(condition, simplify):
    """``expr > 0`` as a readable inequality, positive factors removed."""
    if condition in (sympy.true, sympy.false):
        return condition
    expr = sympy.expand(condition.lhs - condition.rhs)
    if not simplify:
        return expr > 0
    factored = sympy.factor(expr)
    if factored.is_Mul:
        kept = [f for f in factored.args if f.is_positive is not True]
        factored = sympy.Mul(*kept)
        if factored.is_Mul or factored.is_Pow:
            return factored > 0
        expr = sympy.expand(factored)
    if not expr.is_Add:
        return expr > 0
    positive = [t for t in expr.args if not t.could_extract_minus_sign()]
    negative = [-t for t in expr.args if t.could_extract_minus_sign()]
    return sympy.Add(*negative) < sympy.Add(*positive)


def critical_values(char_poly, symbol: sympy.Symbol) -> list:
    r"""Values of `symbol` at which a root may meet the unit circle.

    The real roots of :math:`\operatorname{res}_z(p, z^n p(1/z))`, the
    resultant of the polynomial and its reciprocal, after the common
    factor that holds for every value has been removed.  `char_poly` may
    depend on `symbol` only.

    Returns
    -------
    list of sympy numbers, ascending (exact where SymPy finds them).

    Examples
    --------
    >>> eta = sympy.Symbol("eta", positive=True)
    >>> critical_values(sympy.Poly(_z - 1 + 3 * eta, _z), eta)
    [0, 2/3]
    """
    poly = _as_poly(char_poly)
    extra = poly.free_symbols - {_z, symbol}
    if extra:
        raise ValueError(
            "`char_poly` must depend on one parameter besides z; it also "
            f"depends on {sorted(str(s) for s in extra)}."
        )
    coeffs = [sympy.together(c) for c in poly.all_coeffs()]
    denominators = [sympy.denom(c) for c in coeffs]
    scale = sympy.lcm(denominators) if len(denominators) > 1 else \
        denominators[0]
    p = sympy.Poly([sympy.cancel(c * scale) for c in coeffs], _z)
    reciprocal = sympy.Poly(p.all_coeffs()[::-1], _z)
    common = sympy.gcd(p, reciprocal)
    if common.degree() > 0:
        p = sympy.Poly(sympy.quo(p, common), _z)
        reciprocal = sympy.Poly(p.all_coeffs()[::-1], _z)
    values = set()
    if p.degree() > 0:
        resultant = sympy.resultant(p.as_expr(), reciprocal.as_expr(), _z)
        values |= set(_real_roots(resultant, symbol))
    for d in denominators + [p.LC()]:
        values |= set(_real_roots(d, symbol))
    return sorted(values, key=float)


def _real_roots(expr, symbol):
    expr = sympy.expand(sympy.numer(sympy.together(expr)))
    if expr == 0 or symbol not in expr.free_symbols:
        return []
    poly = sympy.Poly(expr, symbol).sqf_part()
    try:
        if poly.degree() <= 6:
            return [r if r.is_Rational else sympy.Float(r.evalf(30), 30)
                    for r in poly.real_roots()]
        eps = sympy.Rational(1, 10**25)
        return [(lo + hi) / 2 for (lo, hi), _ in poly.intervals(eps=eps)]
    except (NotImplementedError, sympy.polys.polyerrors.PolynomialError):
        # coefficients such as exp(-1/2): no exact real-root isolation over
        # that domain; locate the roots at 30 digits instead
        return _real_roots_numeric(poly)


def _real_roots_numeric(poly):
    digits = UNIT_CIRCLE_DIGITS
    with mpmath.workdps(digits + 20):
        coeffs = [_mp(c) for c in poly.all_coeffs()]
        roots = mpmath.polyroots(coeffs, maxsteps=400, extraprec=400)
        eps = mpmath.mpf(10) ** (-digits)
        real = [r.real if isinstance(r, mpmath.mpc) else r for r in roots
                if not isinstance(r, mpmath.mpc)
                or abs(r.imag) <= eps * max(1, abs(r))]
    return [sympy.Float(str(r), digits) for r in real]


def stable_set(
    char_poly,
    symbol: sympy.Symbol,
    low=-sympy.oo,
    high=sympy.oo,
) -> list[Segment]:
    """Exact verdicts of `symbol` over (low, high), as segments.

    Between consecutive critical values the verdict is constant; it is
    decided once per segment at an exact rational point.  At the
    critical values themselves the loop is marginal or unstable.

    Returns
    -------
    list of Segment
        Open intervals covering (low, high) but the critical values.

    Examples
    --------
    >>> eta = sympy.Symbol("eta", positive=True)
    >>> [(s.low, s.high, s.verdict)
    ...  for s in stable_set(_z - 1 + 4 * eta, eta, 0)]
    [(0.0, 0.5, 'stable'), (0.5, inf, 'unstable')]
    """
    poly = _as_poly(char_poly)
    low, high = sympy.sympify(low), sympy.sympify(high)
    cuts = [c for c in critical_values(poly, symbol) if low < c < high]
    edges = [low] + cuts + [high]
    segments = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        point = _rational_inside(lo, hi)
        verdict = classify(poly.subs(symbol, point)).verdict
        segments.append(Segment(float(lo), float(hi), verdict))
    return segments


def _rational_inside(lo, hi):
    if lo == -sympy.oo and hi == sympy.oo:
        return sympy.Integer(0)
    if lo == -sympy.oo:
        return sympy.Rational(str(float(hi))) - 1 - abs(
            sympy.Rational(str(float(hi))))
    if hi == sympy.oo:
        base = sympy.Rational(str(float(lo)))
        return base + 1 + abs(base)
    mid = (sympy.nsimplify(lo, rational=True)
           + sympy.nsimplify(hi, rational=True)) / 2
    if not lo < mid < hi:
        mid = sympy.Rational(str(float((lo + hi) / 2)))
    return mid


def supremum(segments: Sequence[Segment], verdict: str = "stable"):
    """Upper end of the highest segment with `verdict`, or None."""
    ends = [s.high for s in segments if s.verdict == verdict]
    return max(ends) if ends else None


def interval_containing(segments: Sequence[Segment], value: float):
    """The stable segment that contains `value`, or None."""
    for s in segments:
        if s.low < value < s.high and s.verdict == "stable":
            return s
    return None


def isfinite(value) -> bool:
    return value is not None and math.isfinite(value)
