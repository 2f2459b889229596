r"""Array-wide numerics on characteristic polynomials.

The functions take real coefficients of shape ``(n + 1, ...)``, highest
power first, one polynomial per trailing index, and work on all of them
at once:

- :func:`schur_cohn_stable` and :func:`verdict_codes`: whether the roots
  lie inside a circle, by the Schur-Cohn recursion (the Jury conditions
  in closed form up to degree 2); no roots are computed for it;
- :func:`spectral_radii`: the largest root modulus, in closed form up
  to degree 2 and from batched companion eigenvalues beyond;
- :func:`all_roots` and :func:`real_parts_of_roots`: the roots
  themselves, for tracing boundaries and plotting loci.

:func:`stack_coefficients` builds such an array from the values of
lambdified coefficients.  The public functions are re-exported by
:mod:`lrcontrol.regions`, where the verdicts and the tolerance band are
described.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "CHUNK_SIZE",
    "MARGINAL_TOLERANCE",
    "all_roots",
    "real_parts_of_roots",
    "schur_cohn_stable",
    "spectral_radii",
    "stack_coefficients",
    "verdict_codes",
]

#: Half-width of the band around :math:`\rho = 1` reported as marginal.
MARGINAL_TOLERANCE = 1e-9

#: Grid points evaluated at once; bounds the working memory.
CHUNK_SIZE = 1 << 14


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


def all_roots(a):
    """Roots per point of coefficients (n + 1, N), shape (N, n)."""
    if a.shape[0] == 2:
        with np.errstate(all="ignore"):
            return (-a[1] / a[0])[:, None].astype(complex)
    return _companion_roots(a)


def real_parts_of_roots(a):
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


def stack_coefficients(values, args):
    """Coefficient array (n + 1, *shape) of values broadcast with args."""
    shape = np.broadcast_shapes(*(np.shape(v) for v in values),
                                *(np.shape(a) for a in args))
    return np.stack([np.broadcast_to(np.asarray(v, dtype=float), shape)
                     for v in values])
