"""Margins, delay, noise and step responses against closed forms."""

import math
import warnings
from fractions import Fraction

import control
import numpy as np
import pytest

import lrcontrol
from lrcontrol.loops import (
    delay_margin,
    loop_gain,
    margins,
    noise_gain,
    step_response,
)
from lrcontrol.stability import classify


@pytest.mark.parametrize("k", [0.1, 0.5, 1.0, 1.9], ids=str)
def test_gradient_descent_margins_closed_form(k):
    # L(z) = k/(z - 1) with k = eta h: gain margin 2/k, and the
    # crossover |e^{jw} - 1| = k gives phase margin 90 - asin(k/2) deg
    m = margins("gradient-descent", 1.0, learning_rate=k)
    assert m.gain_margin == pytest.approx(2 / k, rel=1e-12)
    expected = 90 - math.degrees(math.asin(k / 2))
    assert m.phase_margin_deg == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("beta", [0.0, 0.5, 0.9], ids=str)
def test_heavy_ball_gain_margin_closed_form(beta):
    eta, h = 0.1, 4.0
    m = margins("heavy-ball", h, learning_rate=eta, momentum=beta)
    assert m.gain_margin == pytest.approx(2 * (1 + beta) / (eta * h),
                                          rel=1e-12)


def _python_control(system):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        return control.stability_margins(system)


def test_python_control_gain_margin_pitfall_is_pinned():
    # python-control 0.10.2 reports an infinite (or vanishing) gain margin
    # for these loops; the report must not pass it through
    for name, values, true_gm in [
        ("gradient-descent", dict(learning_rate=0.5), 4.0),
        ("heavy-ball", dict(learning_rate=0.1, momentum=0.9), 9.5),
    ]:
        system = loop_gain(name, 4.0 if name == "heavy-ball" else 1.0,
                           values)
        pc = _python_control(system)[0]
        m = margins(name, 4.0 if name == "heavy-ball" else 1.0, values)
        assert m.gain_margin == pytest.approx(true_gm, rel=1e-12)
        assert not math.isclose(pc, true_gm, rel_tol=1e-3)


def test_phase_margin_agrees_with_python_control_for_heavy_ball():
    system = loop_gain("heavy-ball", 2.0, learning_rate=0.3, momentum=0.6)
    pm_pc = _python_control(system)[1]
    m = margins("heavy-ball", 2.0, learning_rate=0.3, momentum=0.6)
    assert m.phase_margin_deg == pytest.approx(pm_pc, rel=1e-6)


def test_phase_margin_by_brute_force_frequency_sweep():
    # an independent sweep of L(e^{jw}) on a fine grid
    eta, beta, h = 0.2, 0.8, 1.5
    w = np.linspace(1e-6, np.pi, 2_000_001)
    zz = np.exp(1j * w)
    L = eta * h * zz / ((zz - 1) * (zz - beta))
    i = np.argmin(np.abs(np.abs(L) - 1))
    pm = 180 + np.degrees(np.angle(L[i]))
    m = margins("heavy-ball", h, learning_rate=eta, momentum=beta)
    assert m.phase_margin_deg == pytest.approx(pm, abs=1e-3)


def _direct_delay_margin(rule, h, values, cap=40):
    """Largest d with every delay 0..d stable, by a direct root check."""
    d = 0
    while d < cap:
        loop = lrcontrol.closed_loop(lrcontrol.get_rule(rule), h, values,
                                     delay=d + 1)
        roots = np.roots([float(c) for c in loop.char_poly.all_coeffs()])
        if np.abs(roots).max() >= 1:
            return d
        d += 1
    return d


@pytest.mark.parametrize(
    "rule, h, values",
    [
        ("gradient-descent", 1.0, dict(learning_rate=0.5)),
        ("gradient-descent", 1.0, dict(learning_rate=0.15)),
        ("heavy-ball", 1.0, dict(learning_rate=0.1, momentum=0.5)),
        ("nesterov", 2.0, dict(learning_rate=0.05, momentum=0.3)),
        ("ema-momentum", 1.0, dict(learning_rate=0.1, beta1=0.5)),
    ],
    ids=["gd-fast", "gd-slow", "hb", "nesterov", "ema"],
)
def test_delay_margin_against_direct_root_check(rule, h, values):
    assert delay_margin(rule, h, values) == _direct_delay_margin(
        rule, h, values
    )


def test_delay_margin_gradient_descent_known_value():
    # z^(d+1) - z^d + k is stable iff k < 2 sin(pi / (2 (2d + 1)))
    k = 0.3
    expected = max(d for d in range(20)
                   if k < 2 * math.sin(math.pi / (2 * (2 * d + 1))))
    assert delay_margin("gradient-descent", 1.0, learning_rate=k) == expected


@pytest.mark.parametrize("k", [0.1, 0.5, 1.5], ids=str)
def test_noise_gain_gradient_descent_closed_form(k):
    # e' = (1 - k) e - eta n: var = eta^2 / (1 - (1 - k)^2)
    #                              = eta / (h (2 - eta h))
    h = 2.0
    eta = k / h
    got = noise_gain("gradient-descent", h, learning_rate=eta)
    assert got == pytest.approx(eta / (h * (2 - eta * h)), rel=1e-12)


def test_noise_gain_heavy_ball_monte_carlo():
    # iterate heavy ball with unit gradient noise, independently of the
    # package: v' = b v - eta (h x + n), x' = x + v'
    eta, beta, h = 0.1, 0.5, 2.0
    rng = np.random.default_rng(1)
    chains, steps, burn = 4000, 600, 200
    x = np.zeros(chains)
    v = np.zeros(chains)
    acc = []
    for k in range(steps):
        v = beta * v - eta * (h * x + rng.standard_normal(chains))
        x = x + v
        if k >= burn:
            acc.append(np.mean(x**2))
    mc = float(np.mean(acc))
    got = noise_gain("heavy-ball", h, learning_rate=eta, momentum=beta)
    assert got == pytest.approx(mc, rel=0.03)


@pytest.mark.parametrize(
    "eta, h",
    [("0.6666666666666666", 3), ("1e-12", 1), ("1e100", 1e-100),
     ("0.5", 1)],
    ids=["eta-h-just-below-2", "tiny-eta", "huge-eta-tiny-h", "plain"],
)
def test_noise_gain_gradient_descent_near_the_edges(eta, h):
    # x[k+1] = (1 - eta h) x[k] - eta n[k]: var = eta / (h (2 - eta h)),
    # here in exact arithmetic where a float Lyapunov solve breaks down
    e, hh = Fraction(eta), Fraction(h)
    expected = float(e / (hh * (2 - e * hh)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = noise_gain("gradient-descent", h, learning_rate=eta)
    assert got == pytest.approx(expected, rel=1e-12)


def test_noise_gain_heavy_ball_momentum_a_hair_below_one():
    # AR(2): x[k+1] = a1 x[k] + a2 x[k-1] - eta n[k] with a1 = 1 + b - eta h,
    # a2 = -b has var = (1 - a2) eta^2 / ((1 + a2) ((1 - a2)^2 - a1^2))
    #              = eta (1 + b) / ((1 - b) h (2 (1 + b) - eta h))
    e, b, hh = Fraction(1, 10), 1 - Fraction(1, 10**13), Fraction(1)
    expected = float(e * (1 + b) / ((1 - b) * hh * (2 * (1 + b) - e * hh)))
    got = noise_gain("heavy-ball", 1.0, learning_rate=0.1,
                     momentum="0.9999999999999")
    assert got == pytest.approx(expected, rel=1e-12)


def test_noise_gain_is_infinite_when_not_stable():
    assert noise_gain("gradient-descent", 1.0, learning_rate=2.0) == math.inf


def test_step_response_horizon_follows_slow_poles():
    # a pole at 1 - 1e-4: python-control would pick 25 samples
    r = step_response("gradient-descent", 1.0, learning_rate=1e-4)
    assert r.time[-1] > 1e5 * 0.99 or r.time[-1] == 20000
    r = step_response("gradient-descent", 1.0, learning_rate=0.01)
    n = len(r.time) - 1
    assert n >= math.log(1e-6) / math.log(0.99)
    # e[k] = -(1 - eta h)^k after a unit shift of the optimum
    np.testing.assert_allclose(r.outputs[:50], -(0.99 ** np.arange(50)),
                               rtol=1e-12)


def test_multi_query_rule_has_no_single_loop():
    def extragradient(s, p, grad):
        half = s.x - p.learning_rate * grad(s.x)
        s.x = s.x - p.learning_rate * grad(half)

    rule = lrcontrol.Rule(
        "extragradient",
        [lrcontrol.Parameter("learning_rate", 0.1, "positive")],
        {"x": "iterate"}, extragradient,
    )
    # x' = (1 - k + k^2) x with k = eta h
    loop = lrcontrol.closed_loop(rule, 2.0, learning_rate=0.25)
    assert classify(loop.char_poly).spectral_radius == pytest.approx(0.75)
    m = margins(rule, 2.0, learning_rate=0.25)
    assert m.phase_margin_deg is None
    # 1 - k + k^2 < 1 iff k < 1: gain margin 1/0.5
    assert m.gain_margin == pytest.approx(2.0, rel=1e-12)
    with pytest.raises(NotImplementedError, match="several times"):
        loop_gain(rule, 2.0, learning_rate=0.25)


def test_delay_margin_of_extragradient_by_scan_is_fast_and_right():
    # two queries per step: no single loop, scanned on the delayed loop
    def extragradient(s, p, grad):
        half = s.x - p.learning_rate * grad(s.x)
        s.x = s.x - p.learning_rate * grad(half)

    rule = lrcontrol.Rule(
        "extragradient",
        [lrcontrol.Parameter("learning_rate", 0.1, "positive")],
        {"x": "iterate"}, extragradient,
    )
    # independent check.  With d steps of staleness the first query's
    # answer g1[k] = h x[k-d]; the second query, made at step k at
    # x[k] - e g1[k], is answered d steps later:
    #   g2[k] = h (x[k-d] - e h x[k-2d]),  x[k+1] = x[k] - e g2[k]
    # -> z^(2d+1) - z^(2d) + e h z^d - (e h)^2 = 0
    h = 1.0
    for e in (0.1, 0.3, 0.5):
        def stable(d):
            coeffs = np.zeros(2 * d + 2)
            coeffs[0], coeffs[1] = 1.0, -1.0
            coeffs[d + 1] += e * h
            coeffs[-1] -= (e * h) ** 2
            return np.abs(np.roots(coeffs)).max() < 1

        expected = next(d for d in range(100) if not stable(d + 1))
        assert delay_margin(rule, h, learning_rate=e) == expected


def test_tiny_loop_gain_still_has_a_crossover():
    # gradient descent, eta h = 1e-12: |eta h / (z - 1)| = 1 at
    # w = 2 asin(eta h / 2) ~ 1e-12, phase margin 90 - asin(eta h / 2) deg;
    # stale by d steps it stays stable while eta h < 2 sin(pi / (2 (2d + 1))),
    # so the delay margin is about (pi / (eta h) - 1) / 2 ~ 1.5708e12
    m = margins("gradient-descent", 1.0, learning_rate="1e-12")
    assert m.crossover_frequency == pytest.approx(1e-12, rel=1e-3)
    assert m.phase_margin_deg == pytest.approx(90.0, abs=1e-6)
    exact_margin = math.floor((math.pi / (2 * math.asin(0.5e-12)) - 1) / 2)
    assert m.delay_margin_steps == pytest.approx(exact_margin, rel=1e-9)


def test_an_average_that_never_feeds_back_leaves_the_margins_alone():
    # x[k+1] = x[k] - eta grad, a[k+1] = beta a[k] + (1 - beta) x[k]:
    # `a` is not read by x, so the loop gain is that of gradient descent,
    # eta h / (z - 1); the pole and zero at z = beta must cancel
    def update(s, p, grad):
        s.x = s.x - p.learning_rate * grad(s.x)
        s.a = p.beta * s.a + (1 - p.beta) * s.x

    rule = lrcontrol.Rule(
        "gd-average",
        [lrcontrol.Parameter("learning_rate", 0.1, "positive"),
         lrcontrol.Parameter("beta", 0.5, "[0, 1)")],
        {"x": "iterate", "a": 0},
        update,
    )
    eta = 1e-6
    m = margins(rule, 1.0, learning_rate=eta, beta="0.999999")
    assert m.crossover_frequency == pytest.approx(2 * math.asin(eta / 2),
                                                  rel=1e-9)
    assert m.phase_margin_deg == pytest.approx(
        90 - math.degrees(math.asin(eta / 2)), abs=1e-6)
    assert m.delay_margin_steps == math.floor(
        (math.pi / (2 * math.asin(eta / 2)) - 1) / 2)


@pytest.mark.parametrize("function", [noise_gain, margins],
                         ids=["noise_gain", "margins"])
def test_loop_functions_name_their_one_curvature(function):
    with pytest.raises(TypeError, match="`curvature` must be one number"):
        function("heavy-ball", (0.5, 4.0))
