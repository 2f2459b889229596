"""Property-based agreement: random linear rules, four independent verdicts.

A random linear rule of state dimension 1 to 4 updates its states in a
random code order, each as a random rational combination of the current
states and of one gradient, queried at a random combination of the
states at a random point of the step.  At random parameter points, off a
band around the stability boundary, these must agree:

- the exact verdict of :func:`lrcontrol.stability.classify`;
- the symbolic Jury conditions in ``h``, evaluated at the point;
- the eigenvalues of the closed-loop matrix ``A`` (numpy);
- iterating the rule's own update function on floats (this file);
- :func:`lrcontrol.simulation.empirical_rate` (the compiled program).

The characteristic polynomial must not depend on the names of the
states or the order in which they are declared, and the same rule
written as a TOML rule file must give the same polynomial.
"""

from __future__ import annotations

import math
import warnings
from fractions import Fraction
from types import SimpleNamespace

import numpy as np
import pytest
import sympy
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from lrcontrol import Parameter, Rule, closed_loop
from lrcontrol.errors import LRControlWarning
from lrcontrol.rulefile import rule_from_text
from lrcontrol.stability import classify, jury_conditions

BAND = 0.05
NUM_STEPS = 600
SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow,
                           HealthCheck.filter_too_much],
)
H = sympy.Symbol("h", positive=True)
COEFFICIENTS = [Fraction(n, 4) for n in range(-4, 5)]
SMALL = [Fraction(n, 4) for n in range(-2, 3)]


def _coefficients(count, choices=COEFFICIENTS):
    return st.lists(st.sampled_from(choices), min_size=count,
                    max_size=count)


@st.composite
def linear_rules(draw):
    """A random linear rule as plain data (see the module docstring)."""
    n = draw(st.integers(1, 4))
    spec = SimpleNamespace(
        n=n,
        order=draw(st.permutations(range(n))),
        query_at=draw(st.integers(0, n)),
        point=draw(_coefficients(n)),
        mix=[draw(_coefficients(n, SMALL)) for _ in range(n)],
        gain=draw(_coefficients(n)),
        learning_rate=draw(st.sampled_from(
            [Fraction(1, 10), Fraction(1, 2), Fraction(1), Fraction(2)])),
        curvature=draw(st.sampled_from(
            [Fraction(0), Fraction(1, 4), Fraction(1), Fraction(3)])),
    )
    # the iterate's row keeps x near x, as an optimizer's would
    spec.mix[0][0] = Fraction(1)
    assume(any(spec.gain))
    return spec


def _names(spec, prefix="s"):
    return ["x"] + [f"{prefix}{i}" for i in range(1, spec.n)]


def build(spec, names=None, declared=None):
    """The spec as a Rule; `names` renames states, `declared` reorders."""
    names = names or _names(spec)
    declared = declared or list(range(spec.n))

    def update(s, p, grad):
        g = None
        for step, i in enumerate(spec.order):
            if step == spec.query_at:
                g = _query(spec, names, s, grad)
            value = sum(c * getattr(s, names[j])
                        for j, c in enumerate(spec.mix[i]) if c)
            if spec.gain[i] and g is not None:
                value = value - p.learning_rate * spec.gain[i] * g
            setattr(s, names[i], value)
        if spec.query_at == spec.n:
            _query(spec, names, s, grad)

    states = {names[i]: "iterate" if i == 0 else 0 for i in declared}
    return Rule(
        "random", [Parameter("learning_rate", None, "positive")], states,
        update,
    )


def _query(spec, names, s, grad):
    point = sum(c * getattr(s, names[j])
                for j, c in enumerate(spec.point) if c)
    return grad(point)


def values(spec):
    return {"learning_rate": spec.learning_rate}


def iterate_update(rule, spec, rng):
    """Step the rule's own update on floats; the growth of the state."""
    names = [s.name for s in rule.states]
    start = rng.standard_normal(len(names))
    s = SimpleNamespace(**dict(zip(names, start)))
    p = SimpleNamespace(learning_rate=float(spec.learning_rate))
    h = float(spec.curvature)
    for _ in range(NUM_STEPS):
        rule.update(s, p, lambda q: h * q)
        norm = math.sqrt(sum(float(getattr(s, n)) ** 2 for n in names))
        if not norm < 1e100:
            return math.inf
    return norm / float(np.linalg.norm(start))


def jury_verdict(rule, spec):
    """Symbolic Jury conditions in h, evaluated at the curvature."""
    poly = closed_loop(rule, None, values(spec)).char_poly
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LRControlWarning)
        conditions = jury_conditions(poly)
    if conditions is None:
        return None
    h = sympy.Rational(spec.curvature)
    return all(bool(c.subs(H, h)) for c in conditions)


@SETTINGS
@given(linear_rules(), st.integers(0, 2**32 - 1))
def test_verdicts_agree_off_the_boundary(spec, seed):
    rule = build(spec)
    loop = closed_loop(rule, spec.curvature, values(spec))
    rho = float(np.abs(np.linalg.eigvals(loop.numeric()[0])).max())
    assume(abs(rho - 1) > BAND)
    stable = rho < 1

    verdict = classify(loop.char_poly)
    assert verdict.verdict == ("stable" if stable else "unstable")
    assert verdict.spectral_radius == pytest.approx(rho, rel=1e-6,
                                                    abs=1e-9)
    jury = jury_verdict(rule, spec)
    assert jury in (None, stable)
    event(f"n={spec.n} {verdict.verdict} jury={jury is not None}")
    growth = iterate_update(rule, spec, np.random.default_rng(seed))
    assert growth < 1e-3 if stable else growth > 1e3


@SETTINGS
@given(linear_rules())
def test_empirical_rate_agrees_off_the_boundary(spec):
    simulation = pytest.importorskip("lrcontrol.simulation")
    rule = build(spec)
    loop = closed_loop(rule, spec.curvature, values(spec))
    rho = float(np.abs(np.linalg.eigvals(loop.numeric()[0])).max())
    assume(abs(rho - 1) > BAND)
    rate = simulation.empirical_rate(
        rule, float(spec.curvature),
        {"learning_rate": float(spec.learning_rate)}, num_steps=800,
    )
    assert (rate < 1) == (rho < 1)
    if rho > 1e-3:
        # a defective root biases the estimate by about log(N/b)/(N - b)
        assert float(rate) == pytest.approx(rho, rel=0.05)


@SETTINGS
@given(linear_rules(), st.data())
def test_char_poly_ignores_state_names_and_declaration_order(spec, data):
    base = closed_loop(build(spec), None, values(spec)).char_poly
    names = ["x"] + data.draw(st.permutations(
        ["m", "buf", "v_2", "Velocity", "u"]))[: spec.n - 1]
    declared = data.draw(st.permutations(range(spec.n)))
    other = closed_loop(build(spec, names, declared), None,
                        values(spec)).char_poly
    assert other == base


def to_toml(spec):
    """The spec as the text of a rule file."""
    names = _names(spec)

    def combination(coefficients):
        terms = [f"({c})*{names[j]}" for j, c in enumerate(coefficients)
                 if c]
        return " + ".join(terms) or "0"

    lines = ['name = "random"', "[parameters]",
             'learning_rate = { domain = "positive" }', "[state]"]
    initial = ['"iterate"'] + ["0"] * (spec.n - 1)
    lines += [f"{n} = {v}" for n, v in zip(names, initial)]
    lines += ["[temporaries]", 'g = "the gradient"', "[update]"]
    query = f'g = "grad({combination(spec.point)})"'
    for step, i in enumerate(spec.order):
        if step == spec.query_at:
            lines.append(query)
        value = combination(spec.mix[i])
        if spec.gain[i] and step >= spec.query_at:
            value += f" - learning_rate*({spec.gain[i]})*g"
        lines.append(f'{names[i]} = "{value}"')
    if spec.query_at == spec.n:
        lines.append(query)
    return "\n".join(lines) + "\n"


@SETTINGS
@given(linear_rules())
def test_rule_file_gives_the_same_char_poly(spec):
    rule = rule_from_text(to_toml(spec), "random.toml")
    mine = closed_loop(rule, None, values(spec)).char_poly
    assert mine == closed_loop(build(spec), None, values(spec)).char_poly


@SETTINGS
@given(linear_rules())
def test_exact_verdicts_agree_everywhere(spec):
    # both exact, so no band: Jury's strict inequalities hold iff every
    # root is strictly inside, i.e. iff classify says stable
    loop = closed_loop(build(spec), spec.curvature, values(spec))
    conditions = jury_conditions(loop.char_poly)
    verdict = classify(loop.char_poly).verdict
    assert (conditions == []) == (verdict == "stable")
    event(verdict)
