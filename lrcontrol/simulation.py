r"""Simulation: iterate a rule itself on a quadratic and measure its rate.

The rule's recorded program (its gradient queries and assignments, in
code order) is executed numerically, step by step, on

.. math::

    f(x) = \tfrac12 (x - x^*)^\top H (x - x^*), \qquad
    g = H (q - x^*) + \sigma n, \quad n \sim \mathcal{N}(0, I),

with a fresh noise draw at every query.  Nothing here uses the matrices
derived by :func:`lrcontrol.closed_loop`: the simulation is the
independent side of every cross-check.

- :func:`simulate`: trajectories of all states, for one or many
  parameter points at once.
- :func:`empirical_rate`: the asymptotic contraction factor per step,
  measured by iterating the rule.
- :func:`crosscheck`: the spectral radius predicted from the symbolic
  characteristic polynomial against the measured rate, over a grid.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import numpy as np
import sympy

from ._symbols import h as _h
from ._symbols import k as _k
from .catalog import get_rule
from .closedloop import closed_loop
from .rules import Query, Rule

__all__ = [
    "CrossCheck",
    "Trajectory",
    "crosscheck",
    "empirical_rate",
    "simulate",
]


@dataclass(frozen=True)
class Trajectory:
    """States of a rule iterated on a quadratic.

    Attributes
    ----------
    states : dict of str to numpy.ndarray
        Each state's values, shape ``(num_steps + 1, n)`` for one
        parameter point or ``(num_steps + 1, P, n)`` for a batch of
        ``P`` points; row 0 is the initial state.  A scalar curvature
        is a problem with ``n = 1``.
    error : numpy.ndarray
        ``x - x_star`` of the iterate, same shape as its states.
    iterate : str
        Name of the iterate state.
    x_star : numpy.ndarray
        The optimum, shape ``(n,)``.
    diverged_at : numpy.ndarray
        Per parameter point (shape ``()`` or ``(P,)``), the first step
        at which a state stopped being finite, or -1.  From that step
        on, all states of that point are NaN.
    """

    states: dict
    error: np.ndarray
    iterate: str
    x_star: np.ndarray
    diverged_at: np.ndarray

    @property
    def x(self) -> np.ndarray:
        """The iterate's trajectory."""
        return self.states[self.iterate]

    @property
    def num_steps(self) -> int:
        return self.error.shape[0] - 1


@dataclass(frozen=True)
class CrossCheck:
    """Predicted spectral radius against the measured rate, over a grid.

    Attributes
    ----------
    points : int
        Grid points compared (all but the near-boundary ones).
    near_boundary : int
        Points with ``|rho_pred - 1| < band``, excluded from agreement.
    agree : bool
        Whether every compared point has the same verdict (converge
        when the rate is below 1, diverge otherwise) both ways; True
        when nothing was compared.
    disagreements : int
        Compared points whose verdicts differ.
    max_rate_error : float
        Largest ``|empirical - predicted|`` over compared points with a
        predicted radius <= 2 (NaN when there are none).
    table : list of dict
        One row per grid point: the parameter values, ``predicted``,
        ``empirical``, ``predicted_verdict``, ``empirical_verdict`` and
        ``near_boundary``.
    rule : str
        Name of the rule.
    band : float
        Half-width of the excluded band around 1.
    modes : int
        Dimension of the simulated problem (eigenvalues of H).
    """

    points: int
    near_boundary: int
    agree: bool
    disagreements: int
    max_rate_error: float
    table: list = field(repr=False)
    rule: str = ""
    band: float = 1e-3
    modes: int = 1

    def to_dict(self) -> dict:
        """All fields as plain Python values (NaN and inf kept)."""
        return asdict(self)


# -- the program, compiled once ---------------------------------------------


@dataclass(frozen=True)
class _Program:
    """The rule's program as numpy functions, in code order."""

    ops: tuple  # (is_query, function, argument names, output name)
    states: tuple  # state names, declaration order
    finals: tuple  # (state, name of its value at the end of a step)
    iterate: str
    linear: bool  # every step linear and homogeneous in states, gradients


def _compile(rule: Rule) -> _Program:
    if len(rule.players) != 1:
        raise NotImplementedError(
            f"simulation covers single-player rules; rule {rule.name!r} has "
            f"{len(rule.players)} players (a game), which is not "
            "implemented yet."
        )
    allowed = {s.name for s in rule.states} | {q.name for q in rule.parameters}
    allowed.add(_k.name)
    moving = {s.name for s in rule.states}
    ops, linear = [], True
    for op in rule.program:
        query = isinstance(op, Query)
        expr = op.points[0] if query else op.value
        out = op.gradients[0].name if query else op.target.name
        ops.append((query, *_lambdify(rule, expr, allowed), out))
        linear = linear and _is_linear(expr, moving)
        allowed.add(out)
        moving.add(out)
    return _Program(
        tuple(ops),
        tuple(s.name for s in rule.states),
        tuple((s.name, rule.final[s.name].name) for s in rule.states),
        rule.players[0].name,
        linear,
    )


def _lambdify(rule, expr, allowed):
    args = sorted(expr.free_symbols, key=str)
    unknown = [str(a) for a in args if str(a) not in allowed]
    if unknown:
        raise ValueError(
            f"the update of rule {rule.name!r} must use only states, "
            f"parameters, earlier gradients and k, got {unknown[0]!r}."
        )
    return sympy.lambdify(args, expr, modules="numpy"), tuple(map(str, args))


def _is_linear(expr, moving):
    """Whether `expr` is a sum of terms of degree exactly 1 in `moving`."""
    gens = [s for s in expr.free_symbols if s.name in moving]
    if not gens:
        return expr == 0
    try:
        poly = sympy.Poly(expr, *gens)
    except sympy.PolynomialError:
        return False
    return all(sum(m) == 1 for m in poly.monoms())


def _run_step(program, env, k, answer, shape):
    """Execute one step in code order; `answer(q)` is the oracle."""
    env[_k.name] = k
    for query, fn, names, out in program.ops:
        value = np.broadcast_to(
            np.asarray(fn(*[env[n] for n in names]), dtype=float), shape
        )
        env[out] = answer(value) if query else value
    # the new values become the states of the next step
    for state, final in program.finals:
        env[state] = env[final]


# -- inputs -------------------------------------------------------------------


def _as_rng(rng):
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(0 if rng is None else int(rng))
    if isinstance(rng, np.random.Generator):
        return rng
    raise TypeError(
        "`rng` must be None, an int seed or a numpy Generator, got "
        f"{type(rng).__name__}."
    )


def _curvature(curvature) -> np.ndarray:
    """Curvature as a 1-D array of modes or a square 2-D Hessian."""
    try:
        H = np.array(curvature, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(
            "`curvature` must be a number, a 1-D array of eigenvalues or a "
            f"square matrix, got {type(curvature).__name__}."
        ) from None
    H = H.reshape(1) if H.ndim == 0 else H
    square = H.ndim == 2 and H.shape[0] == H.shape[1]
    if H.ndim > 2 or H.size == 0 or (H.ndim == 2 and not square):
        raise ValueError(
            "`curvature` must be a number, a non-empty 1-D array or a "
            f"square matrix, got shape {np.shape(curvature)}."
        )
    if not np.all(np.isfinite(H)):
        raise ValueError("`curvature` must be finite, got NaN or inf.")
    return H


def _gradient(H):
    """The noise-free gradient ``d -> H d`` of the model."""
    if H.ndim == 1:
        return lambda d: H * d
    return lambda d: d @ H.T


def _parameters(rule: Rule, values) -> tuple[dict, int | None]:
    """Float parameter values; arrays of shape (P,) become (P, 1)."""
    values = dict(values or {})
    try:
        arrays = {
            n: np.asarray(v, dtype=float)
            for n, v in values.items()
            if np.ndim(v) > 0
        }
    except (TypeError, ValueError):
        raise TypeError(
            "batched parameter values must be arrays of numbers, got "
            f"{values!r}."
        ) from None
    sizes = {a.shape for a in arrays.values()}
    if any(len(s) != 1 or s[0] == 0 for s in sizes) or len(sizes) > 1:
        raise ValueError(
            "batched parameter values must be non-empty 1-D arrays of one "
            f"length, got shapes {sorted(sizes)}."
        )
    scalars = {
        n: (arrays[n][0] if n in arrays else v) for n, v in values.items()
    }
    out = {n: float(v) for n, v in rule.values(scalars).items()}
    for name, array in arrays.items():
        _check_domain(rule.parameter(name), array)
        out[name] = array[:, None]
    return out, (next(iter(sizes))[0] if sizes else None)


def _check_domain(parameter, array):
    d = parameter.domain
    if d.flag:
        inside = np.isin(array, (0.0, 1.0))
    else:
        low, high = float(d.low), float(d.high)
        inside = (array >= low) if d.low_closed else (array > low)
        inside &= (array <= high) if d.high_closed else (array < high)
    inside &= np.isfinite(array)
    if not np.all(inside):
        raise ValueError(
            f"`{parameter.name}` must lie in {d.describe()}, got "
            f"{float(array[~inside][0])!r}."
        )


def _initial_states(rule, shape, x0, states0):
    given = dict(states0 or {})
    unknown = sorted(set(given) - {s.name for s in rule.states})
    if unknown:
        raise ValueError(
            f"`states0` must name states of rule {rule.name!r} "
            f"({[s.name for s in rule.states]}), got {unknown[0]!r}."
        )
    iterate = rule.players[0].name
    if x0 is not None and iterate in given:
        raise ValueError(
            f"`x0` must be None when `states0` sets {iterate!r}, got both."
        )
    given.setdefault(iterate, np.ones(shape[-1]) if x0 is None else x0)
    env = {}
    for s in rule.states:
        value = given.get(s.name, s.initial)
        try:
            env[s.name] = np.broadcast_to(
                np.asarray(value, dtype=float), shape
            ).copy()
        except ValueError:
            raise ValueError(
                f"initial value of state `{s.name}` must broadcast to shape "
                f"{shape}, got shape {np.shape(value)}."
            ) from None
    return env


def _optimum(x_star, shape):
    try:
        return np.array(np.broadcast_to(np.asarray(x_star, float), shape))
    except ValueError:
        raise ValueError(
            f"`x_star` must broadcast to shape {shape}, got shape "
            f"{np.shape(x_star)}."
        ) from None


def _check_steps(num_steps):
    if not isinstance(num_steps, (int, np.integer)) or num_steps < 1:
        raise ValueError(
            f"`num_steps` must be a whole number >= 1, got {num_steps!r}."
        )
    return int(num_steps)


# -- simulate -----------------------------------------------------------------


def simulate(
    rule: Rule | str,
    curvature,
    num_steps: int,
    values: Mapping | None = None,
    x0=None,
    x_star=0.0,
    noise_std: float = 0.0,
    rng: np.random.Generator | int | None = None,
    states0: Mapping | None = None,
) -> Trajectory:
    r"""Iterate `rule` itself on a quadratic for `num_steps` steps.

    .. math::

        g = H (q - x^*) + \sigma n[k], \qquad n[k] \sim \mathcal{N}(0, I)

    at every query point :math:`q` of the rule's program, whose
    assignments are then executed in code order.

    Parameters
    ----------
    rule : Rule or str
        The rule, or the name of a built-in one.
    curvature : float, 1-D array or square 2-D array
        One curvature (a one-mode problem), the eigenvalues of a
        diagonal Hessian (``g = h * (q - x_star)`` elementwise), or a
        Hessian ``H`` (``g = (q - x_star) @ H.T``).
    num_steps : int
        Number of steps.
    values : mapping, optional
        Parameter values; missing ones take their defaults.  Any value
        may be a 1-D array of length ``P`` to simulate ``P`` parameter
        points at once.
    x0 : float or array, optional
        Initial iterate, broadcast to ``(n,)`` or ``(P, n)``; default
        ones (every coordinate starts at 1).
    x_star : float or array
        The optimum, broadcast to ``(n,)``.
    noise_std : float
        Standard deviation :math:`\sigma` of the gradient noise; with 0
        no random numbers are drawn.
    rng : numpy Generator or int, optional
        Source of the noise; an int is a seed, None means seed 0.
    states0 : mapping, optional
        Initial values of states by name, overriding their declared
        initial values (the iterate only when `x0` is None).

    Returns
    -------
    Trajectory

    Raises
    ------
    NotImplementedError
        For a rule with several players.

    Notes
    -----
    Parameters that depend on the step index ``k`` are evaluated at
    ``k = 0, 1, ...``.  Nonlinear rules are simulated as written.  When a
    state of a parameter point overflows, that point stops being
    tracked: its states are NaN from then on (no warning is emitted).

    Examples
    --------
    >>> traj = simulate("gradient-descent", 2.0, 3, {"learning_rate": 0.25})
    >>> traj.error[:, 0]
    array([1.   , 0.5  , 0.25 , 0.125])
    >>> traj = simulate("gradient-descent", 1.0, 2,
    ...                 {"learning_rate": np.array([0.5, 3.0])})
    >>> traj.error[:, :, 0]
    array([[ 1.  ,  1.  ],
           [ 0.5 , -2.  ],
           [ 0.25,  4.  ]])
    """
    rule = get_rule(rule)
    program = _compile(rule)
    num_steps = _check_steps(num_steps)
    H = _curvature(curvature)
    params, batch = _parameters(rule, values)
    shape = (batch or 1, H.shape[0])
    x_star = _optimum(x_star, shape[1:])
    env = {**params, **_initial_states(rule, shape, x0, states0)}
    answer = _oracle(H, x_star, noise_std, _as_rng(rng))
    with np.errstate(all="ignore"):
        record, diverged_at = _iterate(program, env, num_steps, answer, shape)
    return _trajectory(program, record, x_star, diverged_at, batch)


def _oracle(H, x_star, noise_std, rng):
    """The gradient oracle ``q -> H (q - x_star) + noise_std * n``."""
    noise_std = float(noise_std)
    if not noise_std >= 0:
        raise ValueError(f"`noise_std` must be >= 0, got {noise_std!r}.")
    gradient = _gradient(H)

    def answer(q):
        g = gradient(q - x_star)
        if noise_std > 0:
            # a fresh standard normal draw at every query
            g = g + noise_std * rng.standard_normal(q.shape)
        return g

    return answer


def _iterate(program, env, num_steps, answer, shape):
    record = {
        s: np.full((num_steps + 1,) + shape, np.nan) for s in program.states
    }
    diverged_at = np.full(shape[0], -1)
    for s in program.states:
        record[s][0] = env[s]
    for k in range(num_steps):
        _run_step(program, env, k, answer, shape)

        # stop tracking a point once any of its states is not finite
        finite = np.ones(shape[0], dtype=bool)
        for s in program.states:
            finite &= np.all(np.isfinite(env[s]), axis=-1)
        diverged_at[~finite & (diverged_at < 0)] = k + 1
        alive = diverged_at < 0
        for s in program.states:
            record[s][k + 1][alive] = env[s][alive]
        if not alive.any():
            break
    return record, diverged_at


def _trajectory(program, record, x_star, diverged_at, batch):
    if batch is None:
        record = {s: v[:, 0] for s, v in record.items()}
        diverged_at = diverged_at[0]
    error = record[program.iterate] - x_star
    for array in (*record.values(), error, x_star):
        array.flags.writeable = False
    return Trajectory(
        record, error, program.iterate, x_star, np.asarray(diverged_at)
    )


# -- empirical rate -----------------------------------------------------------


def empirical_rate(
    rule: Rule | str,
    curvature,
    values: Mapping | None = None,
    num_steps: int = 2000,
    burn_in: int | None = None,
    rng: np.random.Generator | int | None = None,
) -> np.ndarray:
    r"""Asymptotic contraction factor per step, measured by iterating.

    .. math::

        \hat\rho = \exp\Big(\frac{1}{N - b} \sum_{k=b}^{N-1}
        \log \frac{\lVert s[k+1] \rVert}{\lVert s[k] \rVert}\Big)

    where :math:`s` stacks all states of all modes, :math:`N` is
    `num_steps` and :math:`b` is `burn_in`.

    Parameters
    ----------
    rule : Rule or str
        A linear rule, or the name of a built-in one.
    curvature : float, 1-D array or square 2-D array
        As in :func:`simulate`; a spectrum is one vector problem, so the
        rate is that of the slowest mode.
    values : mapping, optional
        Parameter values; any may be a 1-D array of ``P`` points.
    num_steps : int
        Steps iterated.
    burn_in : int, optional
        Steps discarded before averaging; default ``num_steps // 4``.
    rng : numpy Generator or int, optional
        Source of the random initial states; None means seed 0.

    Returns
    -------
    numpy.ndarray or numpy.float64
        One rate per parameter point: an array of shape ``(P,)`` for a
        batch, a numpy float for one point.

    Raises
    ------
    NotImplementedError
        For a rule that is not linear and homogeneous in its states and
        gradients, or that has several players.

    Notes
    -----
    The optimum is 0 and there is no noise, so a linear rule is
    homogeneous: scaling the state scales every later state.  The state
    is therefore renormalized to unit norm after every step and the log
    norms are accumulated, which neither overflows nor underflows.  The
    rule starts from a random full state (every state, not only the
    iterate, standard normal) and the larger rate of two such starts is
    reported, so no mode stays unexcited.  The estimate converges like
    :math:`O(1/(N - b))` in the log; a defective (repeated) root adds a
    bias of about :math:`\log(N/b)/(N - b)`.  Nonlinear rules are out of
    scope here: their rate depends on the amplitude.

    Examples
    --------
    >>> rate = empirical_rate("gradient-descent", 2.0,
    ...                       {"learning_rate": [0.25, 0.75, 1.5]})
    >>> rate.round(6)
    array([0.5, 0.5, 2. ])
    """
    rule = get_rule(rule)
    program = _compile(rule)
    if not program.linear:
        raise NotImplementedError(
            f"`empirical_rate` covers linear rules; rule {rule.name!r} is "
            "not linear and homogeneous in its states and gradients."
        )
    num_steps = _check_steps(num_steps)
    burn_in = num_steps // 4 if burn_in is None else burn_in
    if (
        not isinstance(burn_in, (int, np.integer))
        or not 0 <= burn_in < num_steps
    ):
        raise ValueError(
            f"`burn_in` must be a whole number in [0, {num_steps}), got "
            f"{burn_in!r}."
        )
    H = _curvature(curvature)
    params, batch = _parameters(rule, values)
    points = batch or 1

    # two random starts per point, stacked as one batch of 2 P points
    params = {
        n: np.tile(v, (2, 1)) if np.ndim(v) else v for n, v in params.items()
    }
    shape, rng = (2 * points, H.shape[0]), _as_rng(rng)
    env = {**params, **{s: rng.standard_normal(shape) for s in program.states}}
    with np.errstate(all="ignore"):
        total = _log_growth(
            program, env, num_steps, burn_in, _gradient(H), shape
        )
    rate = np.exp(total / (num_steps - burn_in)).reshape(2, points).max(0)
    return rate if batch else rate[0]


def _log_growth(program, env, num_steps, burn_in, gradient, shape):
    """Sum of log ||s[k+1]|| / ||s[k]|| over k >= burn_in, per point."""
    total = np.zeros(shape[0])
    for k in range(num_steps):
        _run_step(program, env, k, gradient, shape)
        norm = np.sqrt(
            sum(np.sum(env[s] ** 2, axis=-1) for s in program.states)
        )
        if k >= burn_in:
            total += np.where(np.isfinite(norm), np.log(norm), np.inf)

        # renormalize; a state that reached exactly 0 stays 0
        scale = np.where(norm > 0, norm, 1.0)[:, None]
        for s in program.states:
            env[s] = env[s] / scale
    return total


# -- cross-check --------------------------------------------------------------


def crosscheck(
    rule: Rule | str,
    curvature,
    grid: Mapping,
    values: Mapping | None = None,
    band: float = 1e-3,
    num_steps: int = 2000,
    rng: np.random.Generator | int | None = None,
) -> CrossCheck:
    r"""Compare the predicted spectral radius with the measured rate.

    Over the Cartesian grid of the named parameters, the spectral
    radius :math:`\rho` of the worst mode is computed from the symbolic
    characteristic polynomial :math:`\det(zI - A(\theta, h))`, derived
    once by :func:`lrcontrol.closed_loop`, and compared with
    :func:`empirical_rate` of the rule iterated on the whole spectrum.

    Parameters
    ----------
    rule : Rule or str
        A linear, single-player rule, or the name of a built-in one.
    curvature : float, 1-D array or symmetric 2-D array
        One curvature, a spectrum, or a symmetric Hessian (simulated as
        a matrix, predicted from its eigenvalues).
    grid : mapping of str to 1-D array
        Values of the parameters to vary.
    values : mapping, optional
        Values of the other parameters; defaults otherwise.
    band : float
        Points with :math:`|\rho - 1| <` `band` are near the boundary
        and excluded from the comparison.
    num_steps : int
        Steps of the simulation, see :func:`empirical_rate`.
    rng : numpy Generator or int, optional
        Source of the random initial states; None means seed 0.

    Returns
    -------
    CrossCheck

    Raises
    ------
    NotImplementedError
        For a nonlinear, several-player or time-varying rule.

    Examples
    --------
    >>> check = crosscheck("heavy-ball", 1.0,
    ...                    {"learning_rate": [0.5, 2.0, 5.0],
    ...                     "momentum": [0.0, 0.5]}, num_steps=400)
    >>> check.points, check.near_boundary, check.agree
    (5, 1, True)
    >>> check.max_rate_error < 1e-2
    True
    """
    rule = get_rule(rule)
    columns = _grid(rule, grid, values)
    band = float(band)
    if not band >= 0:
        raise ValueError(f"`band` must be >= 0, got {band!r}.")
    batch = {**dict(values or {}), **columns}
    H = _curvature(curvature)
    params, points = _parameters(rule, batch)
    predicted = _predicted_radius(rule, params, _modes(H), points)
    empirical = empirical_rate(rule, H, batch, num_steps, rng=rng)
    return _compare(rule.name, columns, predicted, empirical, band,
                    H.shape[0])


def _compare(name, columns, predicted, empirical, band, modes=1):
    """Verdicts and rate errors, near-boundary points excluded."""
    near = np.abs(predicted - 1) < band
    differ = ((predicted < 1) != (empirical < 1)) & ~near
    errors = np.abs(empirical - predicted)[~near & (predicted <= 2)]
    table = [
        {
            **{n: float(c[i]) for n, c in columns.items()},
            "predicted": float(predicted[i]),
            "empirical": float(empirical[i]),
            "predicted_verdict": _verdict(predicted[i]),
            "empirical_verdict": _verdict(empirical[i]),
            "near_boundary": bool(near[i]),
        }
        for i in range(predicted.size)
    ]
    return CrossCheck(
        points=int((~near).sum()),
        near_boundary=int(near.sum()),
        agree=not differ.any(),
        disagreements=int(differ.sum()),
        max_rate_error=float(errors.max()) if errors.size else float("nan"),
        table=table,
        rule=name,
        band=band,
        modes=int(modes),
    )


def _verdict(rate):
    return "converge" if rate < 1 else "diverge"


def _grid(rule, grid, values):
    """The flattened Cartesian product of `grid`, one column per name."""
    if not isinstance(grid, Mapping) or not grid:
        raise ValueError(
            f"`grid` must be a non-empty mapping of parameter names to "
            f"values, got {grid!r}."
        )
    clash = sorted(set(grid) & set(values or {}))
    if clash:
        raise ValueError(
            f"`values` must not set grid parameters, got {clash[0]!r}."
        )
    axes = []
    for name, axis in grid.items():
        rule.parameter(name)
        axis = np.asarray(axis, dtype=float)
        if axis.ndim != 1 or axis.size == 0:
            raise ValueError(
                f"`grid[{name!r}]` must be a non-empty 1-D array, got shape "
                f"{axis.shape}."
            )
        axes.append(axis)
    product = np.array(list(itertools.product(*axes)))
    return {n: product[:, i] for i, n in enumerate(grid)}


def _modes(H):
    """Curvatures of the modes: the diagonal, or a Hessian's eigenvalues."""
    if H.ndim == 1:
        return H
    if not np.allclose(H, H.T, rtol=1e-12, atol=0):
        raise ValueError(
            "`curvature` must be symmetric to be split into modes, got a "
            "non-symmetric matrix."
        )
    return np.linalg.eigvalsh(H)


def _predicted_radius(rule, params, modes, points):
    """Largest root modulus of det(zI - A) over all modes, per point."""
    loop = closed_loop(rule)
    if _k in loop.A.free_symbols:
        raise NotImplementedError(
            f"`crosscheck` covers time-invariant rules; rule {rule.name!r} "
            "depends on the step index k."
        )
    symbols = [q.symbol for q in rule.parameters] + [_h]
    args = [params[q.name] for q in rule.parameters] + [modes[None, :]]
    shape = (points, modes.size)
    coeffs = []
    for c in loop.char_poly.all_coeffs():
        value = sympy.lambdify(symbols, c, modules="numpy")(*args)
        coeffs.append(np.broadcast_to(np.asarray(value, float), shape))

    # companion matrix of the monic polynomial, one per point and mode
    d = len(coeffs) - 1
    companion = np.zeros(shape + (d, d))
    companion[..., 0, :] = (
        -np.stack(coeffs[1:], axis=-1) / coeffs[0][..., None]
    )
    companion[..., np.arange(1, d), np.arange(d - 1)] = 1.0
    return np.abs(np.linalg.eigvals(companion)).max(axis=(-1, -2))
