r"""Exact boundary curves of a region (D-decomposition).

A root of :math:`p(z)` crosses the unit circle at :math:`z = 1` where
:math:`p(1) = 0`, at :math:`z = -1` where :math:`p(-1) = 0`, or as a
complex pair :math:`e^{\pm i\omega}` where :math:`p(e^{i\omega}) = 0`;
all three lie on the zero sets of the factors of
:math:`\operatorname{res}_z(p, z^n p(1/z))`.  :func:`boundary_curves`
traces those zero sets over the window of a region and keeps the pieces
where a root is on the circle and none is outside: these are the
:class:`BoundaryCurve` of a :class:`lrcontrol.regions.StabilityRegion`.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import sympy

from ._schur import all_roots, real_parts_of_roots, stack_coefficients
from ._symbols import h as _h
from .errors import LRControlWarning
from .rules import exact

__all__ = ["BoundaryCurve", "boundary_curves", "json_list"]

#: A boundary point is kept if no root is farther out than this.
_BOUNDARY_TOLERANCE = 1e-7

#: Contouring grid per side on which the zero sets are first located.
_TRACE_POINTS = 321

#: Largest degree in h of a resultant factor whose envelope is traced.
_MAX_ENVELOPE_DEGREE = 6


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
        return {"kind": self.kind, "x": json_list(self.x),
                "y": json_list(self.y),
                "curvature": json_list(self.curvature),
                "omega": json_list(self.omega)}


def json_list(array):
    """Floats for JSON: nan and inf become None."""
    return [float(v) if math.isfinite(v) else None
            for v in np.asarray(array, dtype=float).ravel()]


def boundary_curves(problem, x_axis, y_axis):
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
    fn = sympy.lambdify(problem.symbols, coeffs, "numpy")
    coeffs = stack_coefficients(fn(X, Y), (X, Y))
    best, H = np.full(X.shape, np.inf), np.full(X.shape, np.nan)
    with np.errstate(all="ignore"):
        for r in real_parts_of_roots(coeffs):
            d = np.abs(np.broadcast_to(slope(X, Y, r), X.shape))
            use = (r >= mu) & (r <= top) & (d < best)
            best, H = np.where(use, d, best), np.where(use, r, H)
    return H


def _root_nearest_circle(a):
    """Per point, the root closest to the unit circle."""
    roots = all_roots(a.reshape(a.shape[0], -1))
    gap = np.abs(np.abs(roots) - 1)
    j = np.argmin(np.where(np.isfinite(gap), gap, np.inf), axis=1)
    return roots[np.arange(roots.shape[0]), j]
