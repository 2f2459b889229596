r"""Rules: an optimizer's parameters, states and update, written in code order.

A rule is written once, the way one writes an optimizer, and that one
definition drives both the symbolic derivation and the numerical
simulation.  The update is a Python function that assigns states in
order and queries a gradient oracle at any point:

.. code-block:: python

    def update(s, p, grad):
        s.v = p.momentum * s.v - p.learning_rate * grad(s.x)
        s.x = s.x + s.v

Calling it once with SymPy symbols records a straight-line *program*: a
sequence of gradient queries ``grad_i = grad(point)`` and assignments
``state = expression``, where a name on the right stands for the value it
holds at that point of the step (so ``s.x + s.v`` above uses the new
``v``).  Ordinary Python locals (``g = grad(s.x)``) are temporaries: they
are inlined and never become states.

The program admits what later analyses need: nonlinear expressions
(division by a running average, products of gradients), a learning rate
that is itself a state, several players (``grad(x, y)`` returns one
gradient per player), several queries per step (extragradient), and
parameters that depend on the step index ``k`` (schedules).
"""

from __future__ import annotations

import inspect
import math
import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable, Iterable, Mapping

import sympy

from ._symbols import RESERVED_NAMES, k as _k

__all__ = [
    "Domain",
    "Parameter",
    "State",
    "Query",
    "Assign",
    "Rule",
    "exact",
]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_INTERVAL = re.compile(
    r"^\s*([\[(])\s*([^,\s]+)\s*,\s*([^,\s]+)\s*([\])])\s*$"
)
_VERSION = re.compile(r".*_new\d*$")
_FRACTION = re.compile(r"^\s*[+-]?\d{1,30}\s*/\s*\d{1,30}\s*$")
_NAMED_DOMAINS = {
    "real": "(-inf, inf)",
    "positive": "(0, inf)",
    "nonnegative": "[0, inf)",
    "unit": "[0, 1)",
}


def exact(value, name: str = "value") -> sympy.Rational:
    """Return `value` as an exact SymPy number.

    A float is read as the shortest decimal that prints back to it, so
    ``0.1`` means 1/10, the number the user typed, not its binary
    neighbour.  This is what lets a point exactly on a stability
    boundary be reported as marginal.

    Examples
    --------
    >>> exact(0.1)
    1/10
    >>> exact("2.5e-3")
    1/400
    >>> exact("2/3")
    2/3
    """
    if isinstance(value, sympy.Basic):
        if value.is_Float:
            return exact(float(value), name)
        if value.is_number and value.is_real:
            return value
        raise TypeError(f"`{name}` must be a real number, got {value!r}.")
    if isinstance(value, bool):
        return sympy.Integer(int(value))
    if isinstance(value, (int, Fraction)):
        return sympy.Rational(value)
    if isinstance(value, str) and _FRACTION.match(value):
        top, bottom = value.split("/")
        if int(bottom) == 0:
            raise ValueError(f"`{name}` must be finite, got {value!r}.")
        return sympy.Rational(int(top), int(bottom))
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise ValueError(
                f"`{name}` must be a number, got {value!r}."
            ) from None
        if not math.isfinite(number):
            raise ValueError(f"`{name}` must be finite, got {value!r}.")
        return sympy.Rational(value.strip())
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(
            f"`{name}` must be a real number, got {type(value).__name__}."
        ) from None
    if not math.isfinite(number):
        raise ValueError(f"`{name}` must be finite, got {number!r}.")
    return sympy.Rational(repr(number))


@dataclass(frozen=True)
class Domain:
    """An interval of admissible values, or the two values of a flag.

    Parameters
    ----------
    text : str
        ``"real"``, ``"positive"``, ``"nonnegative"``, ``"unit"`` (the
        interval [0, 1)), ``"bool"`` (the values 0 and 1), or an interval
        such as ``"[0, 1)"`` or ``"(0, inf)"``.

    Examples
    --------
    >>> Domain.parse("[0, 1)").contains(1)
    False
    >>> Domain.parse("positive").contains(0.5)
    True
    """

    text: str
    low: sympy.Expr
    high: sympy.Expr
    low_closed: bool
    high_closed: bool
    flag: bool = False

    @classmethod
    def parse(cls, text: str | Domain) -> Domain:
        if isinstance(text, Domain):
            return text
        if not isinstance(text, str):
            raise TypeError(
                f"`domain` must be a string, got {type(text).__name__}."
            )
        key = text.strip()
        if key == "bool":
            return cls(key, sympy.Integer(0), sympy.Integer(1), True, True,
                       flag=True)
        match = _INTERVAL.match(_NAMED_DOMAINS.get(key, key))
        if match is None:
            raise ValueError(
                "`domain` must be 'real', 'positive', 'nonnegative', "
                f"'unit', 'bool' or an interval like '[0, 1)', got {text!r}."
            )
        left, low, high, right = match.groups()
        low, high = _bound(low, text), _bound(high, text)
        if not low < high:
            raise ValueError(
                f"`domain` must have its low end below its high end, "
                f"got {text!r}."
            )
        return cls(key, low, high, left == "[", right == "]")

    def contains(self, value) -> bool:
        """Whether the number `value` lies in the domain."""
        value = exact(value)
        if self.flag:
            return value in (0, 1)
        above = value >= self.low if self.low_closed else value > self.low
        below = value <= self.high if self.high_closed else value < self.high
        return bool(above and below)

    def assumptions(self) -> dict:
        """SymPy assumptions implied by the domain."""
        if self.flag:
            return {"integer": True, "nonnegative": True}
        if self.low > 0 or (self.low == 0 and not self.low_closed):
            return {"positive": True}
        if self.low >= 0:
            return {"nonnegative": True}
        return {"real": True}

    def describe(self) -> str:
        """The domain as an interval, e.g. ``[0, 1)``."""
        if self.flag:
            return "{0, 1}"
        left = "[" if self.low_closed else "("
        right = "]" if self.high_closed else ")"
        return f"{left}{_show(self.low)}, {_show(self.high)}{right}"


def _bound(token, text):
    """A domain bound: a finite number, or inf / -inf written as such."""
    if token.lstrip("+-") == "inf":
        return -sympy.oo if token.startswith("-") else sympy.oo
    try:
        number = float(token)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or (number == 0 and token.strip("+-0.")
                                     .lower().lstrip("e").strip("+-0")):
        raise ValueError(
            f"`domain` bounds must be finite numbers or inf, got {text!r}."
        )
    return sympy.Rational(repr(number))


def _show(value: sympy.Expr) -> str:
    if value in (sympy.oo, -sympy.oo):
        return "inf" if value > 0 else "-inf"
    return str(value)


@dataclass(frozen=True)
class Parameter:
    """A named hyperparameter with a domain and a default.

    Parameters
    ----------
    name : str
        Identifier used in code, on the command line and in printed
        conditions, e.g. ``"learning_rate"``.
    default : float, optional
        The value used when none is given.
    domain : str or Domain
        Admissible values, see :class:`Domain`.
    latex : str, optional
        LaTeX symbol for reports, e.g. ``r"\\eta"``.
    description : str
        One line for listings and reports.
    """

    name: str
    default: float | None = None
    domain: Domain | str = "real"
    latex: str | None = None
    description: str = ""

    def __post_init__(self):
        _check_name(self.name, "parameter")
        object.__setattr__(self, "domain", Domain.parse(self.domain))
        if self.default is not None and not self.domain.contains(
            self.default
        ):
            raise ValueError(
                f"default of parameter `{self.name}` must lie in "
                f"{self.domain.describe()}, got {self.default!r}."
            )

    @property
    def symbol(self) -> sympy.Symbol:
        """The SymPy symbol, with the domain's assumptions."""
        return sympy.Symbol(self.name, **self.domain.assumptions())


@dataclass(frozen=True)
class State:
    """A state of the rule.

    `initial` is ``"iterate"`` for a player's iterate (it starts at the
    initial point and the gradient is taken with respect to it) or a
    number for an auxiliary state such as a momentum buffer.
    """

    name: str
    initial: str | float = 0.0
    latex: str | None = None

    def __post_init__(self):
        _check_name(self.name, "state")
        if isinstance(self.initial, str) and self.initial != "iterate":
            raise ValueError(
                f"initial value of state `{self.name}` must be 'iterate' or "
                f"a number, got {self.initial!r}."
            )

    @property
    def is_iterate(self) -> bool:
        return self.initial == "iterate"

    @property
    def symbol(self) -> sympy.Symbol:
        return sympy.Symbol(self.name, real=True)


@dataclass(frozen=True)
class Query:
    """One call of the gradient oracle: ``gradients = grad(points)``.

    There is one point and one gradient symbol per player.
    """

    gradients: tuple[sympy.Symbol, ...]
    points: tuple[sympy.Expr, ...]


@dataclass(frozen=True)
class Assign:
    """One assignment of the update, in code order.

    `target` is a new symbol for the state's new value (``v_new`` for
    ``s.v = ...``; ``v_new2`` for a second assignment in the same step),
    so that a value read before the assignment keeps meaning the old one.
    """

    target: sympy.Symbol
    value: sympy.Expr
    state: str = ""


def _check_name(name, kind):
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"{kind} name must be an identifier (a letter, then letters, "
            f"digits or underscores), got {name!r}."
        )
    if name in RESERVED_NAMES or name.startswith("grad") or \
            _VERSION.match(name):
        raise ValueError(
            f"{kind} name {name!r} is reserved; pick another."
        )


class _Reader:
    """Read-only attribute access to a mapping of symbols."""

    def __init__(self, kind, symbols):
        object.__setattr__(self, "_kind", kind)
        object.__setattr__(self, "_symbols", dict(symbols))

    def __getattr__(self, name):
        try:
            return self._symbols[name]
        except KeyError:
            raise AttributeError(
                f"the rule has no {self._kind} {name!r}; declared: "
                f"{sorted(self._symbols)}."
            ) from None

    def __setattr__(self, name, value):
        raise AttributeError(
            f"{self._kind}s are read-only in an update; cannot set {name!r}."
        )


class _StateRecorder(_Reader):
    """States: reading gives the current value's symbol; assigning
    records an Assign to a new symbol (``x_new``), as in SSA form."""

    def __init__(self, symbols, program):
        super().__init__("state", symbols)
        object.__setattr__(self, "_program", program)
        object.__setattr__(self, "_count", dict.fromkeys(symbols, 0))

    def __setattr__(self, name, value):
        if name not in self._symbols:
            raise AttributeError(
                f"the update assigns {name!r}, which is not a declared "
                f"state; declared: {sorted(self._symbols)}."
            )
        self._count[name] += 1
        n = self._count[name]
        target = sympy.Symbol(f"{name}_new" + (str(n) if n > 1 else ""),
                              real=True)
        self._program.append(Assign(target, _sympify(value), name))
        self._symbols[name] = target

    @property
    def final(self):
        return dict(self._symbols)


def _sympify(value):
    try:
        return sympy.sympify(value, strict=True)
    except sympy.SympifyError:
        raise TypeError(
            "an update must assign numbers or symbolic expressions, got "
            f"{type(value).__name__}."
        ) from None


class _Oracle:
    """The gradient oracle during recording: each call is a new query."""

    def __init__(self, players, program):
        self.players = players
        self.program = program
        self.calls = 0

    def __call__(self, *points):
        if len(points) != len(self.players):
            raise TypeError(
                f"grad() takes one point per player ({len(self.players)}), "
                f"got {len(points)}."
            )
        self.calls += 1
        suffix = [""] if len(self.players) == 1 else [
            f"_{p}" for p in self.players
        ]
        gradients = tuple(
            sympy.Symbol(f"grad_{self.calls}{s}", real=True) for s in suffix
        )
        points = tuple(_sympify(p) for p in points)
        self.program.append(Query(gradients, points))
        return gradients[0] if len(gradients) == 1 else gradients


class Rule:
    """An optimizer or learning-rate rule.

    Parameters
    ----------
    name : str
        Name used on the command line, e.g. ``"heavy-ball"``.
    parameters : sequence of Parameter
        Hyperparameters, in the order they are usually written.
    states : sequence of State or mapping
        States; a mapping ``{"x": "iterate", "v": 0}`` is accepted.
    update : callable
        ``update(s, p, grad)`` or ``update(s, p, grad, k)``; assigns the
        states of `s` in code order, reads parameters from `p` and
        queries ``grad(point)`` (one point per player).
    description : str
        One line for listings.
    learning_rate : str, optional
        Name of the parameter that plays the learning rate; defaults to
        ``"learning_rate"`` or ``"lr"`` when present.
    conventions : str
        Conventions a reader must know (which sequence is the iterate,
        how weight decay is scaled, ...), shown in reports.
    references : sequence of str
        Where the rule and its known results come from.
    check : callable, optional
        ``check(values)`` raises ValueError for combinations of values
        the rule does not admit (e.g. PyTorch's Nesterov without
        momentum).

    Examples
    --------
    >>> gd = Rule(
    ...     "my-gd",
    ...     [Parameter("learning_rate", 0.1, "positive")],
    ...     {"x": "iterate"},
    ...     lambda s, p, grad: setattr(
    ...         s, "x", s.x - p.learning_rate * grad(s.x)),
    ... )
    >>> gd.program[1]
    Assign(target=x_new, value=-grad_1*learning_rate + x, state='x')
    """

    def __init__(
        self,
        name: str,
        parameters: Iterable[Parameter],
        states: Iterable[State] | Mapping[str, str | float],
        update: Callable,
        description: str = "",
        learning_rate: str | None = None,
        conventions: str = "",
        references: Iterable[str] = (),
        check: Callable[[dict], None] | None = None,
    ):
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"`name` must be a non-empty string, got {name!r}.")
        self.name = name
        self.parameters = tuple(parameters)
        self.states = _as_states(states)
        self.description = description
        self.conventions = conventions
        self.references = tuple(references)
        self.check = check
        self._check_unique()
        self.update = update
        self.program = self._record(update)
        self.learning_rate = self._learning_rate_name(learning_rate)

    # -- construction helpers ------------------------------------------

    def _check_unique(self):
        names = [p.name for p in self.parameters]
        names += [s.name for s in self.states]
        seen = {n for n in names if names.count(n) > 1}
        if seen:
            raise ValueError(
                f"parameter and state names must be unique, got repeated "
                f"{sorted(seen)}."
            )
        if not any(s.is_iterate for s in self.states):
            raise ValueError(
                "`states` must include at least one iterate "
                "(initial value 'iterate'), got none."
            )

    def _record(self, update):
        if not callable(update):
            raise TypeError(
                f"`update` must be callable, got {type(update).__name__}."
            )
        program = []
        s = _StateRecorder({st.name: st.symbol for st in self.states}, program)
        p = _Reader("parameter", {q.name: q.symbol for q in self.parameters})
        oracle = _Oracle([st.name for st in self.players], program)
        args = [s, p, oracle]
        if len(inspect.signature(update).parameters) >= 4:
            args.append(_k)
        update(*args)
        self.final = {name: sym for name, sym in s.final.items()}
        if oracle.calls == 0:
            raise ValueError(
                f"the update of rule {self.name!r} never queries the "
                "gradient; call grad(...) at least once."
            )
        return tuple(program)

    def _learning_rate_name(self, name):
        names = [p.name for p in self.parameters]
        if name is None:
            name = next((n for n in ("learning_rate", "lr") if n in names),
                        None)
        if name is not None and name not in names:
            raise ValueError(
                f"`learning_rate` must name a parameter of the rule "
                f"({names}), got {name!r}."
            )
        return name

    # -- queries -----------------------------------------------------------

    @property
    def players(self) -> tuple[State, ...]:
        """The iterate states, one per player."""
        return tuple(s for s in self.states if s.is_iterate)

    @property
    def queries(self) -> tuple[Query, ...]:
        return tuple(op for op in self.program if isinstance(op, Query))

    def parameter(self, name: str) -> Parameter:
        """The parameter called `name`."""
        for q in self.parameters:
            if q.name == name:
                return q
        raise ValueError(
            f"rule {self.name!r} has no parameter {name!r}; it has "
            f"{[q.name for q in self.parameters]}."
        )

    def symbols(self) -> dict[str, sympy.Symbol]:
        """Parameter symbols by name."""
        return {q.name: q.symbol for q in self.parameters}

    def values(self, given: Mapping | None = None, **more) -> dict:
        """Exact parameter values: defaults, overridden by `given`.

        Raises
        ------
        ValueError
            For an unknown parameter, a value outside its domain, or a
            parameter with neither a value nor a default.
        """
        given = dict(given or {}, **more)
        unknown = sorted(set(given) - {q.name for q in self.parameters})
        if unknown:
            raise ValueError(
                f"rule {self.name!r} has no parameter {unknown[0]!r}; it has "
                f"{[q.name for q in self.parameters]}."
            )
        out = {}
        for q in self.parameters:
            value = given.get(q.name, q.default)
            if value is None:
                raise ValueError(
                    f"parameter `{q.name}` of rule {self.name!r} needs a "
                    "value; it has no default."
                )
            value = exact(value, q.name)
            if not q.domain.contains(value):
                raise ValueError(
                    f"`{q.name}` must lie in {q.domain.describe()}, got "
                    f"{_plain(value)}."
                )
            out[q.name] = value
        if self.check is not None:
            self.check(out)
        return out

    def equations(self) -> list[tuple[str, sympy.Expr]]:
        """The update in code order, as (left side, right side) pairs."""
        lines = []
        for op in self.program:
            if isinstance(op, Query):
                left = ", ".join(str(g) for g in op.gradients)
                lines.append((left, sympy.Function("grad")(*op.points)))
            else:
                lines.append((str(op.target), op.value))
        return lines

    def __repr__(self):
        return f"Rule({self.name!r})"


def _plain(value):
    value = sympy.sympify(value)
    if value.is_Rational and not value.is_Integer:
        return repr(float(value))
    return str(value)


def _as_states(states):
    if isinstance(states, Mapping):
        states = [State(n, v) for n, v in states.items()]
    states = tuple(states)
    for s in states:
        if not isinstance(s, State):
            raise TypeError(
                f"`states` must hold State objects, got {type(s).__name__}."
            )
    return states
