r"""The closed loop of a rule with a quadratic model.

On :math:`f(x) = \tfrac12 (x - x^*)^\top H (x - x^*)` the gradient oracle
answers a query at the point :math:`q` with

.. math::

    g = H (q - x^*) + n,

where :math:`n` is gradient noise, drawn afresh at every query.  With one
curvature :math:`h` per mode (an eigenvalue of :math:`H`) every linear
rule becomes, per mode, a small linear system

.. math::

    s[k+1] = A s[k] + B_{x^*} x^*[k] + B_n n[k], \qquad
    e[k] = x[k] - x^*[k] = C s[k] + D_{x^*} x^*[k].

The matrices are derived by SymPy from the rule's own program: the
queries are replaced by the model above, the assignments are composed in
code order, and the Jacobian with respect to the states and inputs is
taken.  The characteristic polynomial is :math:`\det(zI - A)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Mapping

import numpy as np
import sympy

from ._symbols import h as _h, z as _z
from .rules import Query, Rule, exact

__all__ = ["ClosedLoop", "OpenLoop", "closed_loop", "characteristic_polynomial"]


@dataclass(frozen=True)
class OpenLoop:
    r"""The controller seen from the gradient, for loop analysis.

    With the gradients :math:`u` as inputs and the query points :math:`q`
    as outputs,

    .. math::

        s[k+1] = A_s s[k] + A_u u[k], \qquad q[k] = C_q s[k] + D_q u[k],

    and the plant closes the loop with :math:`u = h\,q` (at
    :math:`x^* = 0`).  The loop gain of a single-query rule is
    :math:`L(z) = -h\,C_q (zI - A_s)^{-1} A_u` with negative feedback.
    """

    A_s: sympy.Matrix
    A_u: sympy.Matrix
    C_q: sympy.Matrix
    D_q: sympy.Matrix


@dataclass(frozen=True)
class ClosedLoop:
    """A rule closed with the quadratic model, per mode.

    Attributes
    ----------
    rule : Rule
        The rule.
    curvature : sympy.Expr or sympy.Matrix
        The curvature ``h`` (a symbol when left free, a number), or the
        matrix ``H`` when modes do not separate.
    values : dict
        Parameter values substituted (exact numbers); other parameters
        stay symbolic.
    state : tuple of sympy.Symbol
        State vector, states in declaration order (then coordinates).
    A, B_shift, B_noise, C, D_shift : sympy.Matrix
        State matrix; inputs from the optimum ``x_star`` and from the
        gradient noise (one column per query and coordinate); the error
        output ``x - x_star`` of the iterate.
    open_loop : OpenLoop
        The loop broken at the gradient.
    """

    rule: Rule
    curvature: sympy.Basic
    values: dict
    state: tuple
    A: sympy.Matrix
    B_shift: sympy.Matrix
    B_noise: sympy.Matrix
    C: sympy.Matrix
    D_shift: sympy.Matrix
    open_loop: OpenLoop = field(repr=False)

    @cached_property
    def char_poly(self) -> sympy.Poly:
        return _char_poly(self.A)

    def characteristic_polynomial(self) -> sympy.Poly:
        r"""The characteristic polynomial :math:`\det(zI - A)` in ``z``."""
        return self.char_poly

    @property
    def free_symbols(self) -> set:
        """Symbols left free (parameters without values, ``h``)."""
        return set(self.A.free_symbols)

    def numeric(self) -> tuple[np.ndarray, ...]:
        """``A, B_shift, B_noise, C, D_shift`` as float arrays.

        Raises
        ------
        ValueError
            If a parameter or the curvature is still symbolic.
        """
        mats = (self.A, self.B_shift, self.B_noise, self.C, self.D_shift)
        free = set().union(*(m.free_symbols for m in mats))
        if free:
            raise ValueError(
                "numeric matrices need values for "
                f"{sorted(str(s) for s in free)}."
            )
        return tuple(np.array(m.tolist(), dtype=float) for m in mats)


def closed_loop(
    rule: Rule,
    curvature=None,
    values: Mapping | None = None,
    delay: int = 0,
    **more,
) -> ClosedLoop:
    r"""Close `rule` with the quadratic model and derive its matrices.

    .. math::

        s[k+1] = A s[k] + B_{x^*} x^*[k] + B_n n[k]

    Parameters
    ----------
    rule : Rule
        The rule.
    curvature : number, square matrix or None
        One curvature ``h`` per mode (None leaves the symbol ``h``), or a
        Hessian when the modes do not separate.
    values : mapping, optional
        Parameter values to substitute; parameters not given stay
        symbolic.  Keywords are merged into `values`.
    delay : int
        Gradient staleness in whole steps: the gradient used at step
        ``k`` answers the query made at step ``k - delay``.  Exact: the
        state is augmented by a delay line, no approximation is made.

    Returns
    -------
    ClosedLoop

    Raises
    ------
    NotImplementedError
        For a rule that is not linear in its states and inputs, or a
        rule with several players (games need a game model).

    Examples
    --------
    >>> from lrcontrol import get_rule
    >>> loop = closed_loop(get_rule("gradient-descent"))
    >>> loop.char_poly.as_expr()
    h*learning_rate + z - 1
    """
    if isinstance(rule, str):
        from .catalog import get_rule

        rule = get_rule(rule)
    if not isinstance(rule, Rule):
        raise TypeError(
            f"`rule` must be a Rule or a rule name, got "
            f"{type(rule).__name__}."
        )
    if len(rule.players) != 1:
        raise NotImplementedError(
            f"rule {rule.name!r} has {len(rule.players)} players; closed "
            "loops of games need a game model, which is not implemented yet."
        )
    if not isinstance(delay, (int, np.integer)) or delay < 0:
        raise ValueError(f"`delay` must be a whole number >= 0, got {delay!r}.")
    given = dict(values or {}, **more)
    subs = _exact_values(rule, given)
    H = _curvature_matrix(curvature)
    try:
        return _derive(rule, H, subs, int(delay), curvature)
    except NotImplementedError as err:
        from .rulefile import explain_nonlinear

        raise explain_nonlinear(rule, err) from err


def characteristic_polynomial(rule: Rule, curvature=None, **values):
    """The characteristic polynomial of `rule` closed with the model.

    A shortcut for ``closed_loop(rule, curvature, **values).char_poly``.

    Examples
    --------
    >>> from lrcontrol import get_rule
    >>> characteristic_polynomial(get_rule("heavy-ball")).all_coeffs()
    [1, h*learning_rate - momentum - 1, momentum]
    """
    return closed_loop(rule, curvature, values).char_poly


def _exact_values(rule, given):
    names = {q.name: q for q in rule.parameters}
    out = {}
    for name, value in given.items():
        if name not in names:
            raise ValueError(
                f"rule {rule.name!r} has no parameter {name!r}; it has "
                f"{list(names)}."
            )
        if isinstance(value, sympy.Basic) and value.free_symbols:
            out[names[name].symbol] = value
            continue
        number = exact(value, name)
        if not names[name].domain.contains(number):
            raise ValueError(
                f"`{name}` must lie in {names[name].domain.describe()}, got "
                f"{float(number)!r}."
            )
        out[names[name].symbol] = number
    return out


def _curvature_matrix(curvature):
    if curvature is None:
        return sympy.Matrix([[_h]])
    if isinstance(curvature, sympy.Basic) and curvature.free_symbols:
        return sympy.Matrix([[curvature]])
    array = np.asarray(curvature, dtype=object)
    if array.ndim == 0:
        value = exact(curvature, "curvature")
        if value < 0:
            raise ValueError(
                f"`curvature` must be >= 0, got {float(value)!r}."
            )
        return sympy.Matrix([[value]])
    if array.ndim != 2 or array.shape[0] != array.shape[1]:
        raise ValueError(
            "`curvature` must be a number or a square matrix, got shape "
            f"{array.shape}."
        )
    return sympy.Matrix(
        [[exact(v, "curvature") for v in row] for row in array.tolist()]
    )


def _coord(symbol, j, n):
    return symbol if n == 1 else sympy.Symbol(f"{symbol}_{j}", real=True)


def _run(rule, n):
    """Run the program symbolically on `n` coordinates, gradients free."""
    old = {s.symbol: [_coord(s.symbol, j, n) for j in range(n)]
           for s in rule.states}
    current = [{s: old[s][j] for s in old} for j in range(n)]
    queries = []
    for op in rule.program:
        if isinstance(op, Query):
            (g,), (point,) = op.gradients, op.points
            points = [point.xreplace(current[j]) for j in range(n)]
            grads = [_coord(g, j, n) for j in range(n)]
            for j in range(n):
                current[j][g] = grads[j]
            queries.append((grads, points))
        else:
            for j in range(n):
                current[j][op.target] = op.value.xreplace(current[j])
    olds = [v for s in rule.states for v in old[s.symbol]]
    news = [current[j][rule.final[s.name]] for s in rule.states
            for j in range(n)]
    return olds, news, queries


def _derive(rule, H, subs, delay, curvature):
    n = H.shape[0]
    olds, news, queries = _run(rule, n)
    news = [e.xreplace(subs) for e in news]
    queries = [(g, [p.xreplace(subs) for p in pts]) for g, pts in queries]
    x_star = [_coord(sympy.Symbol("x_star", real=True), j, n)
              for j in range(n)]
    noise = [[sympy.Symbol(f"noise_{i + 1}_{j}", real=True) for j in range(n)]
             for i in range(len(queries))]
    open_loop = _open_loop(olds, news, queries)

    # closed loop: grad_i = H (q_i - x_star) + noise_i, queries in order
    grads_of, lines, answers = {}, [], []
    for i, (grads, points) in enumerate(queries):
        q = sympy.Matrix([p.xreplace(grads_of) for p in points])
        answer = H * (q - sympy.Matrix(x_star)) + sympy.Matrix(noise[i])
        answers.append(answer)
        if delay == 0:
            grads_of.update(dict(zip(grads, answer)))
            continue
        line = [[sympy.Symbol(f"r_{i + 1}_{d}_{j}", real=True)
                 for j in range(n)] for d in range(delay)]
        lines.append(line)
        grads_of.update(dict(zip(grads, line[-1])))

    # a delay line shifts each answer by `delay` steps
    state, F = list(olds), [e.xreplace(grads_of) for e in news]
    for i, line in enumerate(lines):
        answer = [a.xreplace(grads_of) for a in answers[i]]
        for d, cells in enumerate(line):
            state += cells
            F += answer if d == 0 else line[d - 1]

    inputs = x_star + [v for row in noise for v in row]
    A, B = _linear_parts(rule, F, state, inputs)
    iterate = rule.players[0].symbol
    rows = [state.index(_coord(iterate, j, n)) for j in range(n)]
    C = sympy.zeros(n, len(state))
    for j, r in enumerate(rows):
        C[j, r] = 1
    return ClosedLoop(
        rule=rule,
        curvature=H[0, 0] if curvature is None or H.shape == (1, 1) else H,
        values={str(s): v for s, v in subs.items()},
        state=tuple(state),
        A=A,
        B_shift=B[:, :n],
        B_noise=B[:, n:],
        C=C,
        D_shift=-sympy.eye(n),
        open_loop=open_loop,
    )


def _linear_parts(rule, F, state, inputs):
    F = sympy.Matrix(F)
    A = F.jacobian(state).applyfunc(sympy.expand)
    B = F.jacobian(inputs).applyfunc(sympy.expand)
    moving = set(state) | set(inputs)
    nonlinear = (A.free_symbols | B.free_symbols) & moving
    if nonlinear:
        raise NotImplementedError(
            f"rule {rule.name!r} is not linear in "
            f"{sorted(str(s) for s in nonlinear)}; this analysis covers "
            "linear rules (linearization at an equilibrium is not "
            "implemented yet)."
        )
    offset = F.xreplace({s: 0 for s in moving}).applyfunc(sympy.simplify)
    if any(e != 0 for e in offset):
        raise NotImplementedError(
            f"rule {rule.name!r} has a constant term in its update, so the "
            "optimum is not its equilibrium; this is not supported."
        )
    return A, B


def _open_loop(olds, news, queries):
    grads = [g for gs, _ in queries for g in gs]
    points = [p for _, pts in queries for p in pts]
    news, points = sympy.Matrix(news), sympy.Matrix(points)
    return OpenLoop(
        A_s=news.jacobian(olds).applyfunc(sympy.expand),
        A_u=news.jacobian(grads).applyfunc(sympy.expand),
        C_q=points.jacobian(olds).applyfunc(sympy.expand),
        D_q=points.jacobian(grads).applyfunc(sympy.expand),
    )


def _char_poly(A):
    """det(zI - A) as a Poly in z."""
    expr = (_z * sympy.eye(A.shape[0]) - A).det(method="berkowitz")
    return sympy.Poly(sympy.expand(expr), _z)
