r"""A region's characteristic polynomial, evaluated over the grid.

:class:`RegionProblem` holds :math:`p(z)` of a rule with the other
parameters fixed, as a function of the two axes (parameters or the
curvature :math:`h`) and of the curvatures covered, and evaluates the
verdict and the spectral radius at any points.  :func:`evaluate_grid`
does so over a whole grid, a block of rows at a time, with numpy or as
Dask tasks.  The factors of the resultant of :math:`p` and its
reciprocal, where a root meets the unit circle, are computed here as
well: the critical curvatures of an interval and the boundary curves
(:mod:`lrcontrol._boundaries`) come from them.
"""

from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np
import sympy

from ._charpoly import sampled_curvatures, substitute_fixed
from ._schur import (
    real_parts_of_roots,
    spectral_radii,
    stack_coefficients,
    verdict_codes,
)
from ._symbols import h as _h
from ._symbols import z as _z
from .closedloop import closed_loop
from .errors import LRControlWarning

__all__ = ["CURVATURE", "RegionProblem", "evaluate_grid"]

#: Axis name that sweeps the curvature ``h`` instead of a parameter.
CURVATURE = "curvature"


class RegionProblem:
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
        coeffs = substitute_fixed(rule, _char_coeffs(rule, delay), fixed)
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
        return stack_coefficients(self.functions[0](*args), args)

    def curvature_points(self, X, Y):
        """Curvatures to test: one value, a spectrum or an interval."""
        if self.curvatures is None:
            return [None]
        if self.curvatures.kind != "interval":
            return list(self.curvatures.modes)
        mu, top = self.curvatures.min, self.curvatures.max
        points = list(sampled_curvatures(mu, top, self.samples))
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
            a = stack_coefficients(fn(X, Y), (X, Y))
            for r in real_parts_of_roots(a):
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


def _evaluate_rows(problem, x, y, rows, tolerance, radius):
    X, Y = x[None, :], y[rows, None]
    return problem.evaluate(X, Y, tolerance, radius)


def evaluate_grid(problem, x, y, tolerance, radius, chunk_size, backend):
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
