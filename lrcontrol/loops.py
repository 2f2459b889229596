r"""Loop analysis through python-control, with exact gain and delay margins.

Breaking the loop at the gradient gives, for a rule that queries the
gradient once per step, the loop gain (negative feedback)

.. math::

    L(z) = -h\, C_q (zI - A_s)^{-1} A_u ,

e.g. :math:`L(z) = \eta h / (z - 1)` for gradient descent.  Objects
returned to the user are python-control systems with ``dt=True``.

Two known pitfalls of python-control 0.10.2 are avoided:

- ``stability_margins`` reports an infinite gain margin for
  :math:`k/(z-1)` and for heavy ball, because the phase crossover sits
  exactly at the Nyquist frequency.  Here the gain margin is exact: the
  factor by which the curvature (the loop gain) can grow before a root
  leaves the unit disk, from :func:`lrcontrol.analysis.stable_values`.
- ``step_response`` picks a 25-sample horizon for slow poles.  Here the
  horizon comes from the pole moduli.

The phase margin comes from the unit-gain crossovers, the roots on the
unit circle of :math:`z^m (N(z)N(1/z) - D(z)D(1/z))` with
:math:`L = N/D`; it agrees with python-control's where that is right.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import control
import numpy as np
import scipy.linalg
import scipy.optimize
import sympy

from ._symbols import h as _h, z as _z
from .analysis import stable_values, steps_to_reduce
from .catalog import get_rule
from .closedloop import closed_loop
from .rules import exact
from .stability import classify

__all__ = [
    "Margins",
    "loop_gain",
    "margins",
    "delay_margin",
    "noise_gain",
    "noise_gains",
    "step_response",
    "state_space",
]

#: Delays tried one by one when no single loop gain exists.
MAX_SCANNED_DELAY = 256

#: Above this, a delay margin from the crossover is not re-checked.
VERIFIED_DELAY = 400


@dataclass(frozen=True)
class Margins:
    """Stability margins of the loop at one curvature.

    Attributes
    ----------
    gain_margin : float
        Factor by which the plant's gain, the curvature, can grow before
        the loop is no longer stable (for rules without weight decay the
        same factor applies to the learning rate); inf if never; None
        when the loop is not stable now.
    phase_margin_deg : float or None
        Phase margin in degrees at the unit-gain crossover; inf when the
        loop gain never reaches 1; None when there is no single loop or
        the loop is not stable.
    crossover_frequency : float or None
        Frequency (rad/step) of the crossover that sets the phase margin.
    delay_margin_steps : int or None
        Largest gradient staleness, in whole steps, for which the loop
        stays stable; None when the loop is not stable now.
    python_control_gain_margin : float or None
        What ``control.stability_margins`` reports, for comparison.
    delay_margin_note : str
        How the delay margin was found (confirmed, scanned, a lower
        bound, or from the crossover alone).
    """

    gain_margin: float | None
    phase_margin_deg: float | None
    crossover_frequency: float | None
    delay_margin_steps: int | None
    python_control_gain_margin: float | None
    delay_margin_note: str = ""


def _loop_matrices(rule, curvature, values):
    loop = closed_loop(rule, None, values)
    ol = loop.open_loop
    if ol.A_u.shape[1] != 1:
        return None
    h = exact(curvature, "curvature")
    mats = [np.array(m.tolist(), dtype=float) for m in
            (ol.A_s, ol.A_u, -h * ol.C_q, ol.D_q)]
    return mats


def loop_gain(rule, curvature, values=None, **more) -> control.StateSpace:
    """The loop gain L(z) as a python-control system with ``dt=True``.

    Raises
    ------
    NotImplementedError
        For rules that query the gradient more than once per step.

    Examples
    --------
    >>> L = loop_gain("gradient-descent", 2.0, learning_rate=0.25)
    >>> tf = control.ss2tf(L)
    >>> tf.num[0][0].tolist(), tf.den[0][0].tolist(), tf.dt
    ([0.5], [1.0, -1.0], True)
    """
    rule = get_rule(rule)
    values = rule.values(values, **more)
    mats = _loop_matrices(rule, curvature, values)
    if mats is None:
        raise NotImplementedError(
            f"rule {rule.name!r} queries the gradient several times per "
            "step, so there is no single loop gain."
        )
    return control.ss(*mats, dt=True)


def state_space(rule, curvature, values=None, **more) -> control.StateSpace:
    """The closed loop from the optimum ``x_star`` to the error, dt=True."""
    rule = get_rule(rule)
    values = rule.values(values, **more)
    A, B_shift, _, C, D_shift = closed_loop(rule, curvature, values).numeric()
    return control.ss(A, B_shift, C, D_shift, dt=True)


def _transfer_polys(rule, curvature, values):
    r"""Numerator and denominator of the loop gain, highest power first.

    :math:`L(z) = C (zI - A)^{-1} B + D` in exact arithmetic, with common
    factors cancelled (a state that never feeds back, such as an average
    of the iterates, leaves a pole and a zero at the same place that a
    float conversion would not cancel), then rounded to floats.
    """
    ol = closed_loop(rule, None, values).open_loop
    h = exact(curvature, "curvature")
    A, B, C, D = ol.A_s, ol.A_u, -h * ol.C_q, ol.D_q
    M = _z * sympy.eye(A.shape[0]) - A
    den = M.det(method="berkowitz")
    num = sympy.expand((C * M.adjugate(method="berkowitz") * B)[0, 0]
                       + D[0, 0] * den)
    num, den = sympy.fraction(sympy.cancel(num / den))
    num, den = sympy.Poly(num, _z), sympy.Poly(den, _z)
    lead = den.LC()
    num = [float(c / lead) for c in num.all_coeffs()]
    den = [float(c / lead) for c in den.all_coeffs()]
    num = np.trim_zeros(np.array(num, dtype=float), "f")
    return (num if num.size else np.zeros(1)), np.array(den, dtype=float)


def _crossovers(num, den):
    """Frequencies in [0, pi] where |N/D| = 1 on the unit circle."""
    m = max(len(num), len(den)) - 1
    n_full = np.concatenate([np.zeros(m + 1 - len(num)), num])
    d_full = np.concatenate([np.zeros(m + 1 - len(den)), den])
    # z^m (N(z) N(1/z) - D(z) D(1/z)): correlation of the coefficients
    poly = np.convolve(n_full, n_full[::-1]) - np.convolve(d_full,
                                                           d_full[::-1])
    poly = np.trim_zeros(poly, "f")
    if poly.size <= 1:
        return np.array([])
    roots = np.roots(poly)
    on = roots[np.abs(np.abs(roots) - 1) < 1e-6]
    found = np.abs(np.angle(on))
    # a crossover at a tiny frequency (eta h = 1e-12: |z - 1| = 1e-12) is
    # lost in the roots' rounding; a sign change of log|L| on a grid that
    # reaches 1e-15 rad/step finds it
    scanned = _scanned_crossovers(num, den)
    # a root-found frequency near a refined one is the same crossover,
    # located less precisely (2e-5 relative at w = 1e-12): keep the refined
    found = np.array([w for w in found
                      if not np.any(np.abs(scanned - w) <= 1e-3 * w)])
    ws = np.concatenate([found, scanned])
    # keep frequencies where |L| = 1 really holds (not a pole at z = 1)
    with np.errstate(all="ignore"):
        ws = ws[np.abs(_log_gain(num, den, ws)) < 1e-6]
    return _merge(ws)


def _log_gain(num, den, w):
    zz = np.exp(1j * np.asarray(w, dtype=float))
    with np.errstate(all="ignore"):
        return np.log(np.abs(np.polyval(num, zz))) - \
            np.log(np.abs(np.polyval(den, zz)))


def _scanned_crossovers(num, den):
    def log_gain(w):
        return _log_gain(num, den, w)

    w = np.unique(np.concatenate([np.geomspace(1e-15, 1e-2, 400),
                                  np.linspace(1e-2, np.pi, 400)]))
    f = log_gain(w)
    ok = np.isfinite(f[:-1]) & np.isfinite(f[1:])
    change = np.flatnonzero(ok & (np.sign(f[:-1]) * np.sign(f[1:]) < 0))
    return np.array([scipy.optimize.brentq(log_gain, w[i], w[i + 1],
                                           xtol=1e-300, rtol=1e-13)
                     for i in change])


def _merge(ws):
    """Distinct frequencies, equal within 1e-9 relative counted once."""
    out = []
    for w in np.sort(ws):
        if not out or w - out[-1] > 1e-9 * max(w, 1e-300):
            out.append(float(w))
    return np.array(out)


def _phase_at(num, den, w):
    zz = np.exp(1j * w)
    return float(np.angle(np.polyval(num, zz) / np.polyval(den, zz)))


def margins(rule, curvature, values=None, **more) -> Margins:
    """Gain, phase and delay margins of `rule` at one curvature.

    Examples
    --------
    >>> m = margins("gradient-descent", 1.0, learning_rate=0.5)
    >>> round(m.gain_margin, 12), round(m.phase_margin_deg, 6)
    (4.0, 75.522488)
    """
    rule = get_rule(rule)
    values = rule.values(values, **more)
    h = _one_curvature(curvature)
    verdict = classify(closed_loop(rule, curvature, values).char_poly)
    gain = _gain_margin(rule, h, values) if verdict.verdict == "stable" \
        else None
    pm = wc = pc_gm = None
    mats = _loop_matrices(rule, curvature, values)
    if mats is not None:
        system = control.ss(*mats, dt=True)
        num, den = _transfer_polys(rule, curvature, values)
        pm, wc = _phase_margin(num, den)
        pc_gm = _python_control_gain_margin(system)
    delay, note = _delay_margin(rule, curvature, values)
    if verdict.verdict != "stable":
        pm = wc = None  # a margin of an unstable loop means nothing
    elif pm is not None and math.isfinite(pm) and abs(pm) < 1e-6:
        pm = 0.0
    return Margins(gain, pm, wc, delay, pc_gm, note)


def _gain_margin(rule, h, values):
    segments = stable_values(rule, "h", None, values)
    for s in segments:
        if s.verdict == "stable" and s.low < h < s.high:
            return s.high / h if h > 0 else math.inf
    return None


def _phase_margin(num, den):
    ws = _crossovers(num, den)
    if ws.size == 0:
        return math.inf, None
    pms = [(math.degrees(_phase_at(num, den, w)) % 360 - 180, w)
           for w in ws]
    pm, w = min(pms, key=lambda item: abs(item[0]))
    return float(pm), float(w)


def _python_control_gain_margin(system):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        gm = control.stability_margins(system)[0]
    return float(gm)


def delay_margin(rule, curvature, values=None, **more):
    r"""Largest gradient staleness (whole steps) the loop tolerates.

    The gradient used at step ``k`` answers the query made at step
    ``k - d``.  For a single loop gain :math:`L`, a delay of :math:`d`
    steps turns it into :math:`z^{-d} L`; at each unit-gain crossover
    :math:`\omega_c` with phase margin :math:`\phi_c` the loop first
    fails at :math:`d = \phi_c / \omega_c`.  The integer answer is then
    confirmed on the delayed closed loop (state augmented by a delay
    line; eigenvalues, with the exact test within 1e-10 of the circle):
    stable at the margin, not stable one step beyond.  Rules with several
    queries per step are checked delay by delay up to
    :data:`MAX_SCANNED_DELAY`.

    Returns
    -------
    int, inf or None
        None if the loop is not stable without delay; inf if no delay
        destabilizes it (the loop gain stays below 1).  See
        :func:`margins` for a note on how the value was obtained.

    Examples
    --------
    >>> delay_margin("gradient-descent", 1.0, learning_rate=0.5)
    2
    """
    return _delay_margin(get_rule(rule), curvature, values, **more)[0]


def _delay_margin(rule, curvature, values=None, **more):
    """(margin, note): how the margin was found, for reports."""
    values = rule.values(values, **more)
    loop = closed_loop(rule, curvature, values)
    if classify(loop.char_poly).verdict != "stable":
        return None, "not stable without delay"
    stable = _delayed_stability(rule, curvature, values, loop.open_loop)
    mats = _loop_matrices(rule, curvature, values)
    if mats is not None:
        guess = _delay_from_crossovers(rule, curvature, values)
        if guess is None:
            return math.inf, "the loop gain never reaches 1"
        if guess > VERIFIED_DELAY:
            return guess, (f"from the crossover frequency; above "
                           f"{VERIFIED_DELAY} steps it is not re-checked")
        if stable(guess) and not stable(guess + 1):
            return guess, "crossover, confirmed on the delayed loop"
    d = 0
    while d < MAX_SCANNED_DELAY and stable(d + 1):
        d += 1
    if d == MAX_SCANNED_DELAY:
        return d, f"at least {d}: the scan stops there"
    return d, "scanned delay by delay"


def _delayed_stability(rule, curvature, values, open_loop):
    """A function d -> whether the loop with d steps of staleness is stable.

    The augmented state is (s, R_1, ..., R_d): R_1 takes the oracle's
    answer h (C_q s + D_q g), each register passes it on, and the
    gradient used is g = R_d.
    """
    h = float(exact(curvature, "curvature"))
    As, Au, Cq, Dq = (np.array(m.tolist(), dtype=float) for m in
                      (open_loop.A_s, open_loop.A_u, open_loop.C_q,
                       open_loop.D_q))
    n, m = As.shape[0], Au.shape[1]

    def matrix(d):
        if d == 0:
            gain = np.linalg.solve(np.eye(m) - h * Dq, h * Cq)
            return As + Au @ gain
        size = n + d * m
        A = np.zeros((size, size))
        last = slice(n + (d - 1) * m, size)
        A[:n, :n] = As
        A[:n, last] = Au
        A[n:n + m, :n] = h * Cq
        A[n:n + m, last] += h * Dq
        for j in range(1, d):
            rows = slice(n + j * m, n + (j + 1) * m)
            A[rows, n + (j - 1) * m:n + j * m] = np.eye(m)
        return A

    def stable(d):
        rho = float(np.abs(np.linalg.eigvals(matrix(d))).max())
        if abs(rho - 1) > 1e-10:
            return rho < 1
        exact_loop = closed_loop(rule, curvature, values, delay=d)
        return classify(exact_loop.char_poly).verdict == "stable"

    return stable


def _delay_from_crossovers(rule, curvature, values):
    num, den = _transfer_polys(rule, curvature, values)
    ws = _crossovers(num, den)
    ws = ws[ws > 0]
    if ws.size == 0:
        return None
    limits = []
    for w in ws:
        phi = math.radians(math.degrees(_phase_at(num, den, w)) % 360 - 180)
        limits.append((phi % (2 * math.pi)) / w)
    d_star = min(limits)
    whole = math.ceil(d_star) - 1
    return max(whole, 0)


def noise_gain(rule, curvature, values=None, **more) -> float:
    r"""Stationary :math:`E[(x - x^*)^2]` per unit gradient-noise variance.

    From the discrete Lyapunov equation
    :math:`\Sigma = A \Sigma A^\top + B_n B_n^\top`, the gain is
    :math:`C \Sigma C^\top`; inf when the loop is not stable.

    Examples
    --------
    >>> noise_gain("gradient-descent", 1.0, learning_rate=0.5)  # eta/(h(2-eta h))
    0.3333333333333333
    """
    _one_curvature(curvature)
    return float(noise_gains(rule, [curvature], values, **more)[0])


def _one_curvature(curvature) -> float:
    """The loop functions take one mode; say so for an interval or array."""
    if isinstance(curvature, (tuple, list, np.ndarray)):
        raise TypeError(
            "`curvature` must be one number here (one mode), got "
            f"{type(curvature).__name__}; lrcontrol.report and "
            "lrcontrol.stability_over cover intervals and spectra."
        )
    return float(curvature)


def noise_gains(rule, curvatures, values=None, **more) -> np.ndarray:
    """:func:`noise_gain` for many curvatures, derived once.

    The closed loop is derived with a symbolic curvature and evaluated
    per mode; a mode whose float spectral radius is within 1e-9 of 1 is
    decided by the exact test.  A stable mode with radius above
    ``1 - 1e-6`` (or one that the float solver finds ill-conditioned)
    is solved in exact arithmetic, where the float Lyapunov solution
    loses the digits that make the answer.
    """
    rule = get_rule(rule)
    values = rule.values(values, **more)
    loop = closed_loop(rule, None, values)
    mats = [sympy.lambdify(_h, m, "numpy")
            for m in (loop.A, loop.B_noise, loop.C)]
    out = []
    for h in curvatures:
        A, Bn, C = (np.array(f(float(h)), dtype=float) for f in mats)
        with np.errstate(all="ignore"):
            eigvals = np.linalg.eigvals(A) if np.all(np.isfinite(A)) \
                else np.array([np.nan])
        rho = float(np.abs(eigvals).max())
        if not abs(rho - 1) > 1e-9:  # near the circle, or not finite
            exact_loop = closed_loop(rule, h, values)
            stable = classify(exact_loop.char_poly).verdict == "stable"
        else:
            stable = rho < 1
        if not stable:
            out.append(math.inf)
        elif not rho < 1 - 1e-6:
            out.append(_exact_noise_gain(rule, h, values))
        else:
            out.append(_float_noise_gain(A, Bn, C, rule, h, values))
    return np.array(out)


def _float_noise_gain(A, Bn, C, rule, h, values):
    with np.errstate(all="ignore"):
        Q = Bn @ Bn.T
    if not (np.all(np.isfinite(A)) and np.all(np.isfinite(Q))):
        return _exact_noise_gain(rule, h, values)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", scipy.linalg.LinAlgWarning)
            sigma = control.dlyap(A, Q, method="scipy")
    except (np.linalg.LinAlgError, scipy.linalg.LinAlgWarning,
            control.ControlArgument, ValueError):
        return _exact_noise_gain(rule, h, values)
    gain = float(np.trace(C @ sigma @ C.T))
    return gain if math.isfinite(gain) else _exact_noise_gain(rule, h,
                                                               values)


def _exact_noise_gain(rule, h, values):
    r"""Exact :math:`C \Sigma C^\top` for
    :math:`\Sigma = A \Sigma A^\top + B_n B_n^\top`.

    Solved as :math:`(I - A \otimes A) \operatorname{vec} \Sigma =
    \operatorname{vec}(B_n B_n^\top)` in rational arithmetic.
    """
    loop = closed_loop(rule, exact(h, "curvature"), values)
    A, Bn, C = loop.A, loop.B_noise, loop.C
    n = A.shape[0]
    kron = sympy.Matrix(n * n, n * n,
                        lambda i, j: A[i // n, j // n] * A[i % n, j % n])
    rhs = (Bn * Bn.T).reshape(n * n, 1)
    vec = (sympy.eye(n * n) - kron).LUsolve(rhs)
    sigma = vec.reshape(n, n)
    return float((C * sigma * C.T).trace())


def step_response(rule, curvature, values=None, num_steps=None, **more):
    """Error ``x - x_star`` after a unit shift of the optimum at step 0.

    The horizon, unless given, is the number of steps for the slowest
    pole to shrink a million-fold (at least 20, at most 20000).

    Returns
    -------
    control.TimeResponseData
        ``.time`` (steps) and ``.outputs`` (the error).
    """
    rule = get_rule(rule)
    values = rule.values(values, **more)
    system = state_space(rule, curvature, values)
    if num_steps is None:
        rho = classify(closed_loop(rule, curvature, values).char_poly)
        steps = steps_to_reduce(rho.spectral_radius)
        num_steps = int(min(max(20, steps * 1.2 if math.isfinite(steps)
                                else 200), 20000))
    with np.errstate(over="ignore", invalid="ignore"):
        return control.step_response(system, T=np.arange(num_steps + 1))
