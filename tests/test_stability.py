"""Exact stability against closed forms and independent root finding."""

import numpy as np
import pytest
import sympy

import lrcontrol
from lrcontrol._symbols import h, z
from lrcontrol.analysis import (
    max_stable_curvature,
    max_stable_learning_rate,
    stability_over,
    stable_values,
)
from lrcontrol.stability import classify, jury_conditions

eta = sympy.Symbol("learning_rate", positive=True)
beta = sympy.Symbol("momentum", nonnegative=True)
beta1 = sympy.Symbol("beta1", nonnegative=True)


def _holds(conditions, point):
    return all(bool(c.xreplace(point)) for c in conditions)


# Closed forms from the literature (DESIGN.md, issue 2):
CLOSED_FORMS = {
    "gradient-descent": lambda e, b, x: 0 < e * x < 2,
    "heavy-ball": lambda e, b, x: abs(b) < 1 and 0 < e * x < 2 * (1 + b),
    "nesterov": lambda e, b, x: 0 < e * x < 2 * (1 + b) / (1 + 2 * b),
    "ema-momentum": lambda e, b, x: e * x < 2 * (1 + b) / (1 - b),
}
SECOND = {"heavy-ball": beta, "nesterov": beta, "ema-momentum": beta1}


@pytest.mark.parametrize("name", list(CLOSED_FORMS), ids=list(CLOSED_FORMS))
def test_jury_conditions_match_closed_form(name):
    rule = lrcontrol.get_rule(name)
    conditions = jury_conditions(lrcontrol.closed_loop(rule).char_poly)
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(150):
        e = sympy.Rational(int(rng.integers(1, 400)), 100)
        b = sympy.Rational(int(rng.integers(0, 100)), 100)
        x = sympy.Rational(int(rng.integers(1, 400)), 100)
        point = {eta: e, h: x}
        if name in SECOND:
            point[SECOND[name]] = b
        expected = CLOSED_FORMS[name](e, b, x)
        # skip exact boundary points, where the closed form is strict too
        assert _holds(conditions, point) == expected, point
        checked += 1
    assert checked == 150


def test_jury_conditions_take_a_closed_loop(gradient_descent):
    # gradient descent: p(z) = z - 1 + eta*h, stable iff eta*h < 2
    loop = lrcontrol.closed_loop(gradient_descent)
    assert jury_conditions(loop) == [eta * h < 2]


def test_jury_conditions_reject_other_objects():
    with pytest.raises(TypeError, match="`char_poly` must be .* got object"):
        jury_conditions(object())


@pytest.mark.parametrize("degree", [1, 2, 3, 4, 5], ids=lambda d: f"n={d}")
def test_jury_conditions_agree_with_numpy_roots(degree):
    rng = np.random.default_rng(degree)
    coeffs = sympy.symbols(f"a0:{degree}", real=True)
    poly = sympy.Poly(
        z**degree + sum(c * z**i for i, c in enumerate(coeffs)), z
    )
    conditions = jury_conditions(poly, simplify=False, max_ops=10**6)
    margins = [sympy.lambdify(coeffs, c.lhs - c.rhs) for c in conditions]
    agree = 0
    for _ in range(300):
        values = rng.uniform(-1.5, 1.5, degree) * rng.choice([0.3, 1.0])
        rho = np.abs(np.roots(np.r_[1.0, values[::-1]])).max()
        if abs(rho - 1) < 1e-6:
            continue
        holds = all(f(*values) > 0 for f in margins)
        assert holds == (rho < 1), values
        agree += 1
    assert agree > 250


@pytest.mark.parametrize(
    "coeffs, verdict, on_circle",
    [
        ([1, -1], "marginal", 1),  # z = 1
        ([1, 1], "marginal", 1),  # z = -1
        ([1, 0, 1], "marginal", 2),  # +-i
        ([1, -2, 1], "unstable", 2),  # double root at 1: x_k = k
        ([1, -1.9, 0.9], "marginal", 1),  # 1 and 0.9, given as decimals
        ([1, 0, -0.25], "stable", 0),
        ([1, -2.5, 1], "unstable", 0),  # 2 and 1/2
        ([1, -3, 3, -1], "unstable", 3),  # triple root at 1: x_k = k^2
        ([1, 0, 0, 0, 1], "marginal", 4),  # fourth roots of -1
        ([1, -1, 0.5], "stable", 0),
    ],
    ids=["z=1", "z=-1", "+-i", "double-1", "decimals", "stable",
         "reciprocal", "triple", "x^4+1", "complex-stable"],
)
def test_classify_exact_cases(coeffs, verdict, on_circle):
    v = classify(coeffs)
    assert v.verdict == verdict
    assert v.on_circle == on_circle


def test_classify_repeated_root_on_circle_is_flagged():
    assert classify([1, -2, 1]).repeated_on_circle
    assert not classify([1, 0, 1]).repeated_on_circle


def test_classify_a_hair_outside_is_unstable():
    # (z - (1 + 1e-20))(z - 1/2): no float test could see this
    r = sympy.Rational(1) + sympy.Rational(1, 10**20)
    poly = sympy.Poly((z - r) * (z - sympy.Rational(1, 2)), z)
    assert classify(poly).verdict == "unstable"


def test_boundary_of_heavy_ball_is_marginal(heavy_ball):
    # eta h = 2 (1 + beta) exactly: a root at z = -1
    loop = lrcontrol.closed_loop(heavy_ball, 38, learning_rate=0.1,
                                 momentum=0.9)
    assert classify(loop.char_poly).verdict == "marginal"


@pytest.mark.parametrize(
    "name, momentum, limit",
    [
        ("gradient-descent", None, lambda b, x: 2 / x),
        ("heavy-ball", 0.9, lambda b, x: 2 * (1 + b) / x),
        ("heavy-ball", 0.0, lambda b, x: 2 / x),
        ("nesterov", 0.9, lambda b, x: 2 * (1 + b) / ((1 + 2 * b) * x)),
        ("ema-momentum", 0.9, lambda b, x: 2 * (1 + b) / ((1 - b) * x)),
    ],
    ids=["gd", "hb", "hb0", "nesterov", "ema"],
)
def test_max_stable_learning_rate_closed_forms(name, momentum, limit):
    rule = lrcontrol.get_rule(name)
    values = {}
    if momentum is not None:
        values[[p.name for p in rule.parameters][1]] = momentum
    for x in (0.5, 3.0, 4.024210750152784):
        got = max_stable_learning_rate(rule, x, values)
        assert got == pytest.approx(limit(momentum or 0, x), rel=1e-13)


def test_ema_threshold_is_38_over_eta():
    # DESIGN.md: 2 (1 + beta1) / ((1 - beta1) eta) = 38 / eta at 0.9
    got = max_stable_curvature("ema-momentum", learning_rate=0.5,
                               beta1=0.9)
    assert got == pytest.approx(76.0, rel=1e-13)


def test_over_a_spectrum_the_top_mode_binds(heavy_ball):
    spectrum = lrcontrol.spectra.bundled_spectrum()
    got = max_stable_learning_rate(heavy_ball, spectrum.tolist(),
                                   momentum=0.9)
    assert got == pytest.approx(3.8 / spectrum.max(), rel=1e-13)


def test_interval_verdict_is_worst_inside():
    # gradient descent at eta = 0.5 over [1, 5]: unstable beyond h = 4
    s = stability_over("gradient-descent", (1.0, 5.0), learning_rate=0.5)
    assert s.verdict == "unstable"
    s = stability_over("gradient-descent", (1.0, 4.0), learning_rate=0.5)
    assert s.verdict == "marginal"  # h = 4 puts the root at -1
    s = stability_over("gradient-descent", (1.0, 3.0), learning_rate=0.5)
    assert s.verdict == "stable"
    assert s.spectral_radius == pytest.approx(0.5, abs=1e-12)


def test_heavy_ball_worst_rate_over_interval():
    # Polyak tuning: every mode has rate (sqrt(k) - 1)/(sqrt(k) + 1)
    mu, L = 1.0, 100.0
    e = 4 / (np.sqrt(L) + np.sqrt(mu)) ** 2
    b = ((np.sqrt(L) - np.sqrt(mu)) / (np.sqrt(L) + np.sqrt(mu))) ** 2
    s = stability_over("heavy-ball", (mu, L), learning_rate=e, momentum=b)
    assert s.verdict == "stable"
    assert s.spectral_radius == pytest.approx(9 / 11, rel=1e-6)


def test_stable_values_heavy_ball_momentum_segments():
    # at eta h = 1: stable for every beta in [0, 1)
    segs = stable_values("heavy-ball", "momentum", 1.0, learning_rate=1.0)
    assert [(s.low, s.high, s.verdict) for s in segs] == [
        (0.0, 1.0, "stable")
    ]
    # at eta h = 3: need 3 < 2 (1 + beta), beta > 1/2
    segs = stable_values("heavy-ball", "momentum", 3.0, learning_rate=1.0)
    assert [(s.low, s.high, s.verdict) for s in segs] == [
        (0.0, 0.5, "unstable"), (0.5, 1.0, "stable")
    ]


@pytest.mark.parametrize(
    "name, second, limit",
    [("heavy-ball", "momentum", lambda b: 2 * (1 + b)),
     ("nesterov", "momentum", lambda b: 2 * (1 + b) / (1 + 2 * b)),
     ("ema-momentum", "beta1", lambda b: 2 * (1 + b) / (1 - b))],
    ids=["hb", "nesterov", "ema"],
)
def test_large_spectrum_takes_float_path_and_matches_closed_form(
    name, second, limit
):
    from lrcontrol.analysis import EXACT_MODE_LIMIT

    spectrum = np.geomspace(1e-3, 4.0, 4 * EXACT_MODE_LIMIT)
    got = max_stable_learning_rate(name, spectrum, {second: 0.7})
    assert got == pytest.approx(limit(0.7) / 4.0, rel=1e-10)
    segs = stable_values(name, "learning_rate", spectrum, {second: 0.7})
    assert segs[0].verdict == "stable" and segs[0].low == 0.0


def test_classify_leaves_the_callers_mpmath_precision_alone():
    import mpmath

    before = mpmath.mp.dps
    # a root on the circle and a radius near 1 take the high-precision paths
    classify([1, 0, 1])
    classify([1, -sympy.Rational(999999999999, 10**12)])
    assert mpmath.mp.dps == before
