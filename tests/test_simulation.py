"""Tests for lrcontrol.simulation: iterating rules, rates, cross-checks.

Every expected value is independent of the code under test: a closed
form derived here, or a numpy loop of the update written here.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import sympy
from numpy.testing import assert_allclose, assert_array_equal

from lrcontrol import Parameter, Rule, get_rule
from lrcontrol.simulation import (
    CrossCheck,
    Trajectory,
    crosscheck,
    empirical_rate,
    simulate,
)
from lrcontrol.spectra import bundled_spectrum

# ---------------------------------------------------------------------------
# Fixtures and hand-written updates
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def diabetes():
    return bundled_spectrum("diabetes")


def _model(H, x_star):
    """Gradient of 1/2 (x - x*)^T H (x - x*), H diagonal (1-D) or full."""
    if np.ndim(H) == 2:
        return lambda q: (q - x_star) @ np.asarray(H).T
    return lambda q: np.asarray(H) * (q - x_star)


def _heavy_ball_loop(eta, beta, grad, x0, num_steps):
    # v <- beta v - eta grad(x); x <- x + v
    x, v = np.array(x0, dtype=float), np.zeros_like(x0, dtype=float)
    xs, vs = [x], [v]
    for _ in range(num_steps):
        v = beta * v - eta * grad(x)
        x = x + v
        xs.append(x)
        vs.append(v)
    return np.array(xs), np.array(vs)


def _nesterov_loop(eta, beta, grad, x0, num_steps):
    # v <- beta v - eta grad(x + beta v); x <- x + v
    x, v = np.array(x0, dtype=float), np.zeros_like(x0, dtype=float)
    xs, vs = [x], [v]
    for _ in range(num_steps):
        v = beta * v - eta * grad(x + beta * v)
        x = x + v
        xs.append(x)
        vs.append(v)
    return np.array(xs), np.array(vs)


def _two_player_rule():
    def update(s, p, grad):
        gx, gy = grad(s.x, s.y)
        s.x = s.x - p.learning_rate * gx
        s.y = s.y + p.learning_rate * gy

    return Rule(
        "gda",
        [Parameter("learning_rate", 0.1, "positive")],
        {"x": "iterate", "y": "iterate"},
        update,
    )


def _normalized_rule():
    # nonlinear: x <- x - eta g / sqrt(1 + g^2)
    def update(s, p, grad):
        g = grad(s.x)
        s.x = s.x - p.learning_rate * g / sympy.sqrt(1 + g**2)

    return Rule(
        "normalized-gd",
        [Parameter("learning_rate", 0.5, "positive")],
        {"x": "iterate"},
        update,
    )


def _schedule_rule():
    # time-varying: x <- x - eta / (k + 1) grad(x)
    def update(s, p, grad, k):
        s.x = s.x - p.learning_rate / (k + 1) * grad(s.x)

    return Rule(
        "harmonic-gd",
        [Parameter("learning_rate", 0.5, "positive")],
        {"x": "iterate"},
        update,
    )


# ---------------------------------------------------------------------------
# simulate against hand-written loops
# ---------------------------------------------------------------------------

_PROBLEMS = [
    (2.0, 0.0, 1.0),
    (np.array([0.1, 1.0, 3.0, 7.5]), np.array([1.0, -2.0, 0.5, 3.0]), 0.3),
    (np.array([[2.0, 0.5], [0.5, 1.0]]), np.array([-1.0, 2.0]), [4.0, -3.0]),
]
_PROBLEM_IDS = ["scalar", "spectrum-shifted", "hessian-shifted"]


@pytest.mark.parametrize(("H", "x_star", "x0"), _PROBLEMS, ids=_PROBLEM_IDS)
def test_heavy_ball_matches_hand_loop(H, x_star, x0):
    eta, beta, num_steps = 0.15, 0.8, 60
    n = np.atleast_1d(np.diag(H) if np.ndim(H) == 2 else H).size
    x0 = np.broadcast_to(np.asarray(x0, dtype=float), (n,))
    xs, vs = _heavy_ball_loop(eta, beta, _model(H, x_star), x0, num_steps)
    traj = simulate(
        "heavy-ball",
        H,
        num_steps,
        {"learning_rate": eta, "momentum": beta},
        x0=x0,
        x_star=x_star,
    )
    assert traj.x.shape == (num_steps + 1, n)
    assert_allclose(traj.states["x"], xs, rtol=1e-12, atol=1e-14)
    assert_allclose(traj.states["v"], vs, rtol=1e-12, atol=1e-14)
    assert_allclose(traj.error, xs - x_star, rtol=1e-12, atol=1e-14)
    assert traj.diverged_at == -1


@pytest.mark.parametrize(("H", "x_star", "x0"), _PROBLEMS, ids=_PROBLEM_IDS)
def test_nesterov_matches_hand_loop(H, x_star, x0):
    eta, beta, num_steps = 0.2, 0.9, 60
    n = np.atleast_1d(np.diag(H) if np.ndim(H) == 2 else H).size
    x0 = np.broadcast_to(np.asarray(x0, dtype=float), (n,))
    xs, vs = _nesterov_loop(eta, beta, _model(H, x_star), x0, num_steps)
    traj = simulate(
        get_rule("nesterov"),
        H,
        num_steps,
        {"learning_rate": eta, "momentum": beta},
        x0=x0,
        x_star=x_star,
    )
    assert_allclose(traj.states["x"], xs, rtol=1e-12, atol=1e-14)
    assert_allclose(traj.states["v"], vs, rtol=1e-12, atol=1e-14)


def test_default_start_is_ones_and_declared_initial_states():
    traj = simulate("heavy-ball", [1.0, 2.0, 3.0], 1)
    assert_array_equal(traj.x[0], np.ones(3))
    assert_array_equal(traj.states["v"][0], np.zeros(3))
    # defaults learning_rate 0.1, momentum 0.9: v1 = -0.1 h, x1 = 1 - 0.1 h
    assert_allclose(traj.x[1], [0.9, 0.8, 0.7], rtol=1e-15)


def test_states0_sets_auxiliary_state():
    eta, beta, h = 0.1, 0.5, 2.0
    traj = simulate(
        "heavy-ball",
        h,
        1,
        {"learning_rate": eta, "momentum": beta},
        x0=3.0,
        states0={"v": -1.0},
    )
    # v1 = beta * (-1) - eta * h * 3 = -1.1; x1 = 3 + v1 = 1.9
    assert_allclose(traj.states["v"][:, 0], [-1.0, -1.1], rtol=1e-15)
    assert_allclose(traj.x[:, 0], [3.0, 1.9], rtol=1e-15)


def test_noise_draws_match_hand_loop():
    eta, h, sigma, num_steps = 0.3, np.array([0.5, 2.0]), 0.7, 40
    rng = np.random.default_rng(123)
    x, xs = np.ones(2), [np.ones(2)]
    for _ in range(num_steps):
        # one fresh standard normal vector per query
        x = x - eta * (h * x + sigma * rng.standard_normal(2))
        xs.append(x)
    traj = simulate(
        "gradient-descent",
        h,
        num_steps,
        {"learning_rate": eta},
        noise_std=sigma,
        rng=np.random.default_rng(123),
    )
    assert_allclose(traj.x, np.array(xs), rtol=1e-12, atol=1e-14)


def test_nonlinear_rule_simulated_as_written():
    eta, h, num_steps = 0.5, 3.0, 30
    x, xs = 2.0, [2.0]
    for _ in range(num_steps):
        g = h * x
        x = x - eta * g / np.sqrt(1 + g**2)
        xs.append(x)
    traj = simulate(_normalized_rule(), h, num_steps, x0=2.0)
    assert_allclose(traj.x[:, 0], xs, rtol=1e-12, atol=1e-14)


def test_step_index_reaches_the_update():
    eta, h, num_steps = 0.5, 1.5, 20
    x, xs = 1.0, [1.0]
    for k in range(num_steps):
        x = x - eta / (k + 1) * h * x
        xs.append(x)
    traj = simulate(_schedule_rule(), h, num_steps, {"learning_rate": eta})
    assert_allclose(traj.x[:, 0], xs, rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------------------
# Batches
# ---------------------------------------------------------------------------


def test_batched_simulation_equals_one_at_a_time(diabetes):
    etas = np.array([0.05, 0.3, 0.6, 1.2])
    betas = np.array([0.0, 0.5, 0.9, 0.7])
    batch = simulate(
        "heavy-ball",
        diabetes,
        80,
        {"learning_rate": etas, "momentum": betas},
        x_star=0.5,
    )
    assert batch.x.shape == (81, 4, diabetes.size)
    assert batch.diverged_at.shape == (4,)
    for i, (eta, beta) in enumerate(zip(etas, betas)):
        one = simulate(
            "heavy-ball",
            diabetes,
            80,
            {"learning_rate": eta, "momentum": beta},
            x_star=0.5,
        )
        for name in ("x", "v"):
            assert_allclose(
                batch.states[name][:, i],
                one.states[name],
                rtol=1e-13,
                atol=1e-300,
            )


def test_batched_rate_equals_one_at_a_time(diabetes):
    etas = np.array([0.1, 0.5, 1.0])
    betas = np.array([0.9, 0.3, 0.6])
    values = {"learning_rate": etas, "momentum": betas}
    rates = empirical_rate("heavy-ball", diabetes, values, num_steps=600)
    assert rates.shape == (3,)
    for i in range(3):
        one = empirical_rate(
            "heavy-ball",
            diabetes,
            {"learning_rate": etas[i], "momentum": betas[i]},
            num_steps=600,
        )
        assert one.shape == ()
        assert_allclose(rates[i], one, rtol=1e-6, atol=0)


# ---------------------------------------------------------------------------
# Rates against closed forms
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("eta", "h"),
    [(0.1, 1.0), (1.5, 1.0), (0.5, 3.0), (0.01, 20.0), (2.5, 1.0)],
    ids=["slow", "overshoot", "fast", "small-step", "diverging"],
)
def test_gradient_descent_rate_closed_form(eta, h):
    # e[k+1] = (1 - eta h) e[k]
    rate = empirical_rate("gradient-descent", h, {"learning_rate": eta})
    assert_allclose(rate, abs(1 - eta * h), rtol=0, atol=1e-3)


def test_gradient_descent_rate_on_spectrum(diabetes):
    etas = np.array([0.1, 0.45, 0.6])
    expected = np.abs(1 - etas[:, None] * diabetes).max(axis=1)
    rates = empirical_rate(
        "gradient-descent", diabetes, {"learning_rate": etas}
    )
    assert expected[-1] > 1  # 0.6 * 4.02 > 2: the last point diverges
    assert_allclose(rates, expected, rtol=0, atol=1e-3)


def test_gradient_descent_exact_step_has_rate_zero():
    # eta h = 1 sends the error to 0 in one step
    assert empirical_rate("gradient-descent", 2.0, {"learning_rate": 0.5}) == 0


@pytest.mark.parametrize(
    ("eta", "h", "beta"),
    [(0.1, 1.0, 0.9), (0.5, 2.0, 0.5), (1.0, 3.0, 0.8), (1.0, 1.0, 0.2)],
    ids=["classic", "half", "large-h", "light"],
)
def test_heavy_ball_underdamped_rate(eta, h, beta):
    # z^2 - (1 + beta - eta h) z + beta: complex roots when the
    # discriminant is negative, then |z|^2 = product of roots = beta
    assert (1 + beta - eta * h) ** 2 - 4 * beta < 0
    rate = empirical_rate(
        "heavy-ball", h, {"learning_rate": eta, "momentum": beta}
    )
    assert_allclose(rate, np.sqrt(beta), rtol=0, atol=1e-3)


@pytest.mark.parametrize(
    ("eta", "h"), [(0.5, 1.0), (0.25, 2.0)], ids=["eta0.5", "eta0.25"]
)
def test_noise_variance_of_gradient_descent(eta, h):
    # e[k+1] = (1 - eta h) e[k] - eta n[k], n[k] ~ N(0, 1) independent.
    # Stationary: V = (1 - eta h)^2 V + eta^2, so
    # V = eta^2 / (1 - (1 - eta h)^2) = eta^2 / (eta h (2 - eta h))
    #   = eta / (h (2 - eta h)).
    assert eta * h == 0.5
    expected = eta / (h * (2 - eta * h))
    modes = np.full(4000, h)  # 4000 independent copies of the mode
    traj = simulate(
        "gradient-descent",
        modes,
        60,
        {"learning_rate": eta},
        x0=0.0,
        noise_std=1.0,
        rng=np.random.default_rng(2024),
    )
    # drop 20 steps: the start at 0 is forgotten as 0.5^(2k)
    assert_allclose(np.var(traj.x[20:]), expected, rtol=0.05)


# ---------------------------------------------------------------------------
# Divergence
# ---------------------------------------------------------------------------


def test_overflow_stops_tracking_without_warnings():
    # eta h = 3: e[k] = (-2)^k, finite up to k = 1023, inf at 1024
    etas = np.array([3.0, 0.5])
    traj = simulate("gradient-descent", 1.0, 1100, {"learning_rate": etas})
    assert_array_equal(traj.diverged_at, [1024, -1])
    assert traj.x[1023, 0, 0] == (-2.0) ** 1023
    assert np.all(np.isnan(traj.x[1024:, 0]))
    # the other point is still tracked: e[k] = 0.5^k (normal floats)
    assert_allclose(traj.x[1000, 1, 0], 0.5**1000, rtol=1e-12, atol=0)
    assert np.all(np.isfinite(traj.x[:, 1]))


def test_all_points_diverged_ends_early():
    traj = simulate("heavy-ball", 1.0, 5000, {"learning_rate": 100.0})
    assert 0 < traj.diverged_at < 5000
    assert traj.num_steps == 5000
    assert np.all(np.isnan(traj.states["v"][traj.diverged_at :]))


def test_diverging_rate_is_finite():
    rate = empirical_rate("gradient-descent", 1.0, {"learning_rate": 1e6})
    assert_allclose(rate, 1e6 - 1, rtol=1e-9)


# ---------------------------------------------------------------------------
# crosscheck
# ---------------------------------------------------------------------------

_GRIDS = {
    "gradient-descent": {"learning_rate": np.geomspace(0.05, 20.0, 16)},
    "heavy-ball": {
        "learning_rate": np.geomspace(0.05, 20.0, 8),
        "momentum": np.linspace(0.0, 0.95, 8),
    },
    "nesterov": {
        "learning_rate": np.geomspace(0.05, 20.0, 8),
        "momentum": np.linspace(0.0, 0.95, 8),
    },
    "ema-momentum": {
        "learning_rate": np.geomspace(0.05, 200.0, 8),
        "beta1": np.linspace(0.0, 0.95, 8),
    },
}


@pytest.mark.parametrize("spectrum", [False, True], ids=["h=1", "diabetes"])
@pytest.mark.parametrize("name", list(_GRIDS), ids=list(_GRIDS))
def test_crosscheck_agrees(name, spectrum, diabetes):
    curvature = diabetes if spectrum else 1.0
    check = crosscheck(name, curvature, _GRIDS[name])
    assert isinstance(check, CrossCheck)
    assert check.points + check.near_boundary == len(check.table)
    assert check.points >= 0.6 * len(check.table)
    assert check.agree and check.disagreements == 0
    assert check.max_rate_error < 1e-2
    # the grid must straddle the boundary to test anything
    compared = [r for r in check.table if not r["near_boundary"]]
    verdicts = {r["predicted_verdict"] for r in compared}
    assert verdicts == {"converge", "diverge"}


def test_crosscheck_torch_sgd_nesterov_with_weight_decay():
    grid = {
        "lr": np.geomspace(0.05, 20.0, 8),
        "momentum": np.linspace(0.05, 0.95, 8),  # torch: nesterov needs > 0
    }
    values = {"nesterov": 1, "weight_decay": 0.1}
    check = crosscheck("torch-sgd", 1.0, grid, values)
    assert check.agree and check.points >= 60
    assert check.max_rate_error < 1e-2
    assert all(set(r) >= {"lr", "momentum"} for r in check.table)


def test_crosscheck_detects_a_wrong_prediction(monkeypatch):
    # negative control: predict Nesterov with heavy ball's polynomial.
    # Heavy ball is stable for eta h < 2 (1 + beta), Nesterov only for
    # eta h < 2 (1 + beta) / (1 + 2 beta), so verdicts must differ between.
    import lrcontrol.simulation as module

    heavy_ball = module.closed_loop(get_rule("heavy-ball"))
    monkeypatch.setattr(module, "closed_loop", lambda rule: heavy_ball)
    check = crosscheck("nesterov", 1.0, _GRIDS["nesterov"], num_steps=500)
    assert not check.agree
    assert check.disagreements > 0


def test_crosscheck_prediction_matches_gradient_descent_closed_form(diabetes):
    etas = np.array([0.1, 0.3, 0.49, 0.51, 1.0])
    check = crosscheck(
        "gradient-descent", diabetes, {"learning_rate": etas}, num_steps=400
    )
    predicted = [r["predicted"] for r in check.table]
    expected = np.abs(1 - etas[:, None] * diabetes).max(axis=1)
    assert_allclose(predicted, expected, rtol=1e-12, atol=1e-14)
    assert [r["learning_rate"] for r in check.table] == etas.tolist()


def test_crosscheck_heavy_ball_diabetes_near_default(diabetes):
    grid = {
        "learning_rate": np.linspace(0.05, 0.2, 4),
        "momentum": np.linspace(0.85, 0.95, 3),
    }
    check = crosscheck("heavy-ball", diabetes, grid)
    assert check.agree and check.points == 12
    assert check.max_rate_error < 1e-3


def test_crosscheck_symmetric_hessian():
    rng = np.random.default_rng(7)
    Q, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    H = Q @ np.diag([0.2, 0.7, 1.5, 3.0]) @ Q.T
    H = (H + H.T) / 2
    grid = {"learning_rate": [0.1, 0.5, 1.0], "momentum": [0.3, 0.8]}
    check = crosscheck("nesterov", H, grid, num_steps=1000)
    assert check.agree and check.max_rate_error < 1e-2


def test_crosscheck_band_excludes_boundary():
    # eta h = 2 puts gradient descent exactly on the boundary
    check = crosscheck(
        "gradient-descent", 1.0, {"learning_rate": [0.5, 2.0, 3.0]}
    )
    assert (check.points, check.near_boundary) == (2, 1)
    assert [r["near_boundary"] for r in check.table] == [False, True, False]
    assert_allclose(check.max_rate_error, 0, atol=1e-9)


def test_crosscheck_result_is_frozen_and_serializable():
    check = crosscheck(
        "heavy-ball", 1.0, {"momentum": [0.0, 0.5]}, {"learning_rate": 3.5}
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        check.points = 0
    data = json.loads(json.dumps(check.to_dict()))
    assert data["rule"] == "heavy-ball"
    assert data["points"] == 2
    assert data["table"][0]["momentum"] == 0.0
    # momentum 0: rate |1 - 3.5| = 2.5; momentum 0.5: p(-1) = 3 - 3.5 < 0
    assert [r["predicted_verdict"] for r in data["table"]] == [
        "diverge",
        "diverge",
    ]


# ---------------------------------------------------------------------------
# Results and errors
# ---------------------------------------------------------------------------


def test_trajectory_is_read_only():
    traj = simulate("gradient-descent", 1.0, 3)
    assert isinstance(traj, Trajectory)
    with pytest.raises(dataclasses.FrozenInstanceError):
        traj.error = None
    with pytest.raises(ValueError, match="read-only"):
        traj.error[0] = 5.0


def test_several_players_not_implemented():
    with pytest.raises(NotImplementedError, match="rule 'gda' has 2 players"):
        simulate(_two_player_rule(), 1.0, 5)
    with pytest.raises(NotImplementedError, match="single-player"):
        empirical_rate(_two_player_rule(), 1.0)


def test_nonlinear_rule_has_no_empirical_rate():
    with pytest.raises(NotImplementedError, match="covers linear rules"):
        empirical_rate(_normalized_rule(), 1.0)


def test_time_varying_rule_not_crosschecked():
    with pytest.raises(NotImplementedError, match="time-invariant"):
        crosscheck(_schedule_rule(), 1.0, {"learning_rate": [0.1]})


def test_unknown_symbol_in_update():
    def update(s, p, grad):
        s.x = s.x - sympy.Symbol("gain") * grad(s.x)

    rule = Rule(
        "odd", [Parameter("learning_rate", 0.1)], {"x": "iterate"}, update
    )
    with pytest.raises(ValueError, match="got 'gain'"):
        simulate(rule, 1.0, 2)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            {"values": {"momentum": np.array([0.5, 1.2])}},
            ValueError,
            r"^`momentum` must lie in \[0, 1\), got 1\.2\.$",
        ),
        ({"values": {"momentum": 1.5}}, ValueError, "`momentum` must lie"),
        (
            {
                "values": {
                    "learning_rate": [0.1, 0.2],
                    "momentum": [0.1, 0.2, 0.3],
                }
            },
            ValueError,
            "one length",
        ),
        ({"values": {"gain": 1.0}}, ValueError, "has no parameter 'gain'"),
        ({"num_steps": 0}, ValueError, r"^`num_steps` must be a whole"),
        (
            {"curvature": np.ones((2, 3))},
            ValueError,
            r"square matrix, got shape \(2, 3\)",
        ),
        ({"curvature": [1.0, np.nan]}, ValueError, "must be finite"),
        ({"curvature": "flat"}, TypeError, "^`curvature` must be"),
        ({"noise_std": -1.0}, ValueError, r"^`noise_std` must be >= 0"),
        ({"states0": {"w": 1.0}}, ValueError, "got 'w'"),
        ({"x0": 1.0, "states0": {"x": 2.0}}, ValueError, "^`x0` must be"),
        ({"x0": [1.0, 2.0, 3.0]}, ValueError, "state `x` must broadcast"),
        ({"rng": "seed"}, TypeError, "^`rng` must be"),
        ({"x_star": [1.0, 2.0, 3.0]}, ValueError, "^`x_star` must broadcast"),
    ],
    ids=[
        "batch-outside-domain",
        "outside-domain",
        "batch-lengths",
        "unknown-parameter",
        "num-steps",
        "curvature-shape",
        "curvature-nan",
        "curvature-kind",
        "noise",
        "unknown-state",
        "x0-twice",
        "x0-shape",
        "rng",
        "x-star-shape",
    ],
)
def test_simulate_rejects(kwargs, error, match):
    args = {"curvature": [1.0, 2.0], "num_steps": 3, **kwargs}
    with pytest.raises(error, match=match):
        simulate("heavy-ball", **args)


def test_empirical_rate_rejects_burn_in():
    with pytest.raises(ValueError, match=r"^`burn_in` must be .*got 100\.$"):
        empirical_rate("gradient-descent", 1.0, num_steps=100, burn_in=100)


@pytest.mark.parametrize(
    ("grid", "values", "match"),
    [
        ({}, None, "^`grid` must be a non-empty mapping"),
        ({"momentum": [[0.1, 0.2]]}, None, "must be a non-empty 1-D array"),
        ({"momentum": [0.1]}, {"momentum": 0.2}, "got 'momentum'"),
        ({"gain": [0.1]}, None, "has no parameter 'gain'"),
    ],
    ids=["empty", "2-d", "clash", "unknown"],
)
def test_crosscheck_rejects(grid, values, match):
    with pytest.raises(ValueError, match=match):
        crosscheck("heavy-ball", 1.0, grid, values)


def test_crosscheck_rejects_non_symmetric_hessian():
    with pytest.raises(ValueError, match="must be symmetric"):
        crosscheck(
            "gradient-descent",
            [[1.0, 0.5], [0.0, 1.0]],
            {"learning_rate": [0.1]},
        )
