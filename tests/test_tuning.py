"""Tests for lrcontrol.tuning: known optimal tunings, recovered.

The expected optima are the published closed forms, and the claim that
a result is optimal is checked with an independent worst-case radius
(numpy.roots of the polynomial written out here, over a dense grid).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from lrcontrol.cli import main
from lrcontrol.tuning import optimal_tuning, worst_case_radius

MU, L = 0.5, 40.0
KAPPA = L / MU


def _worst(poly, mu=MU, top=L, num=4001):
    """Worst-case radius of poly(h) over [mu, top], by numpy.roots."""
    hs = np.concatenate([np.linspace(mu, top, num),
                         np.geomspace(mu, top, num)])
    return max(np.abs(np.roots(poly(h))).max() for h in hs)


def _heavy_ball(eta, beta):
    return lambda h: [1.0, eta * h - 1 - beta, beta]


def _nesterov(eta, beta):
    return lambda h: [1.0, -(1 + beta) * (1 - eta * h), beta * (1 - eta * h)]


def _assert_local_minimum(poly_of, values, rho, steps=(1e-6, 1e-4, 1e-2)):
    """No perturbation of the optimum has a smaller worst case."""
    values = np.asarray(values, float)
    for step in steps:
        for d in list(np.eye(len(values))) + list(-np.eye(len(values))):
            other = values * (1 + step * d)
            assert _worst(poly_of(*other), num=801) >= rho - 1e-12


def test_gradient_descent_optimum():
    t = optimal_tuning("gradient-descent", "learning_rate", (MU, L))
    np.testing.assert_allclose(t.parameters["learning_rate"], 2 / (L + MU),
                               rtol=1e-6)
    np.testing.assert_allclose(t.spectral_radius,
                               (KAPPA - 1) / (KAPPA + 1), rtol=1e-6)
    eta = t.parameters["learning_rate"]
    assert set(np.round(t.worst_curvatures, 9)) == {MU, L}
    for other in [eta * (1 - 1e-4), eta * (1 + 1e-4)]:
        assert max(abs(1 - other * MU), abs(1 - other * L)) > \
            t.spectral_radius


def test_heavy_ball_optimum_is_polyak():
    t = optimal_tuning("heavy-ball", ["learning_rate", "momentum"], (MU, L))
    sk = math.sqrt(KAPPA)
    expected = {
        "learning_rate": 4 / (math.sqrt(L) + math.sqrt(MU)) ** 2,
        "momentum": ((sk - 1) / (sk + 1)) ** 2,
    }
    for name, value in expected.items():
        np.testing.assert_allclose(t.parameters[name], value, rtol=1e-6)
    np.testing.assert_allclose(t.spectral_radius, (sk - 1) / (sk + 1),
                               rtol=1e-6)
    assert t.local_gap >= 0 and t.agreeing_starts >= 2
    rho = _worst(_heavy_ball(*expected.values()))
    np.testing.assert_allclose(rho, (sk - 1) / (sk + 1), rtol=1e-6)
    _assert_local_minimum(_heavy_ball, list(expected.values()), rho)


def test_nesterov_optimum_on_quadratics():
    t = optimal_tuning("nesterov", ["learning_rate", "momentum"], (MU, L))
    q = math.sqrt(3 * KAPPA + 1)
    np.testing.assert_allclose(t.spectral_radius, 1 - 2 / q, rtol=1e-6)
    # the tuning that attains it (Lessard, Recht and Packard, 2016)
    expected = [4 / (3 * L + MU), (q - 2) / (q + 2)]
    np.testing.assert_allclose(
        [t.parameters["learning_rate"], t.parameters["momentum"]],
        expected, rtol=1e-6)
    rho = _worst(_nesterov(*expected))
    np.testing.assert_allclose(rho, 1 - 2 / q, rtol=1e-6)
    _assert_local_minimum(_nesterov, expected, rho)


def test_tuning_over_a_spectrum_uses_its_extremes():
    t = optimal_tuning("gradient-descent", "learning_rate",
                       np.array([1.0, 3.0, 10.0]))
    np.testing.assert_allclose(t.parameters["learning_rate"], 2 / 11,
                               rtol=1e-6)
    np.testing.assert_allclose(t.spectral_radius, 9 / 11, rtol=1e-6)


def test_worst_case_radius_gradient_descent():
    for eta in [0.01, 0.05, 0.2]:
        rho, h = worst_case_radius("gradient-descent",
                                   {"learning_rate": eta}, (MU, L))
        expected = max(abs(1 - eta * MU), abs(1 - eta * L))
        np.testing.assert_allclose(rho, expected, rtol=1e-12)
        assert h in (MU, L)


def test_worst_case_radius_finds_an_interior_maximum():
    # heavy ball, real roots near h = mu but complex (modulus sqrt(beta))
    # elsewhere: compare with the dense independent maximum
    eta, beta = 0.02, 0.3
    rho, _ = worst_case_radius("heavy-ball",
                               {"learning_rate": eta, "momentum": beta},
                               (MU, L))
    np.testing.assert_allclose(rho, _worst(_heavy_ball(eta, beta)),
                               rtol=1e-9)


@pytest.mark.parametrize(
    "over, message",
    [
        ("lr", "must name parameters of rule"),
        (["learning_rate", "learning_rate"], "distinct"),
    ],
    ids=["unknown", "repeated"],
)
def test_bad_tuning_arguments(over, message):
    with pytest.raises(ValueError, match=message):
        optimal_tuning("heavy-ball", over, (MU, L))


def test_flags_cannot_be_tuned():
    with pytest.raises(ValueError, match="continuous parameters"):
        optimal_tuning("torch-sgd", ["lr", "nesterov"], (MU, L))


def test_cli_tune_json(capsys):
    assert main(["tune", "gradient-descent", "--over", "learning_rate",
                 "--curvature-range", "1", "9", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"parameters", "spectral_radius"} <= set(data)
    np.testing.assert_allclose(data["parameters"]["learning_rate"], 0.2,
                               rtol=1e-6)
    np.testing.assert_allclose(data["spectral_radius"], 0.8, rtol=1e-6)


def test_cli_tune_text(capsys):
    assert main(["tune", "heavy-ball", "--over", "learning_rate,momentum",
                 "--curvature-range", "1", "100"]) == 0
    out = capsys.readouterr().out
    assert "momentum" in out and "0.818181818" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--over", "learning_rate"], "needs the curvatures"),
        (["--curvature-range", "1", "9"], "`--over` must name"),
        (["--over", "step", "--curvature-range", "1", "9"],
         "must name parameters"),
        (["--over", "learning_rate", "--curvature-range", "9", "1"],
         "0 <= mu < L"),
    ],
    ids=["no-curvature", "no-over", "unknown", "reversed-range"],
)
def test_cli_tune_bad_input(argv, message, capsys):
    assert main(["tune", "heavy-ball"] + argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_heavy_ball_without_momentum_is_gradient_descent():
    t = optimal_tuning("heavy-ball", "learning_rate", (MU, L),
                       fixed={"momentum": 0})
    np.testing.assert_allclose(t.parameters["learning_rate"], 2 / (L + MU),
                               rtol=1e-6)
    assert t.fixed == {"momentum": 0.0}
    with pytest.raises(ValueError, match="must name parameters"):
        optimal_tuning("heavy-ball", "learning_rate", (MU, L),
                       fixed={"beta": 0.5})
    with pytest.raises(ValueError, match="which is tuned"):
        optimal_tuning("heavy-ball", "learning_rate", (MU, L),
                       fixed={"learning_rate": 0.5})


def test_no_stable_tuning_is_said_and_stays_in_the_domain():
    # heavy ball needs eta L < 2 (1 + beta): with eta = 5 and L = 10 that
    # asks for beta > 24, outside [0, 1), so nothing is stable
    t = optimal_tuning("heavy-ball", ["momentum"], (1.0, 10.0),
                                 {"learning_rate": 5})
    assert not t.stable and t.to_dict()["stable"] is False
    assert 0 <= t.parameters["momentum"] < 1


def test_optimum_on_the_domain_edge_does_not_overflow():
    # at one curvature, beta = 0 and eta = 1/h give p(z) = z^2: rate 0,
    # the optimum sits on the closed end beta = 0 of [0, 1)
    t = optimal_tuning("heavy-ball", ["learning_rate", "momentum"],
                                 1.0)
    assert t.stable
    assert t.spectral_radius < 1e-6
    assert t.parameters["learning_rate"] == pytest.approx(1.0, rel=1e-6)
    assert 0 <= t.parameters["momentum"] < 1e-9


def test_an_unresolvable_optimum_warns():
    # kappa = 1e24: Polyak's rate (sqrt(kappa) - 1)/(sqrt(kappa) + 1) is
    # 1 - 2e-12, and every nearby tuning's rate rounds to 1 within 1e-9
    from lrcontrol import LRControlWarning

    with pytest.warns(LRControlWarning, match="within 1e-9 of 1"):
        optimal_tuning("heavy-ball", ["learning_rate", "momentum"],
                       (1e-12, 1e12))


def test_an_optimum_at_the_domain_end_is_reached():
    # heavy ball with a one-step stale gradient over [1, 100]: the best
    # momentum is 0 (a brute-force search agrees), where
    # p(z) = z^2 - z + eta h has radius (1 + sqrt(1 - 4 eta h)) / 2 for
    # 4 eta h <= 1 and sqrt(eta h) beyond; the worst case balances h = 1
    # against h = 100
    import scipy.optimize

    def gap(eta):
        return (1 + math.sqrt(1 - 4 * eta)) / 2 - math.sqrt(100 * eta)

    eta = scipy.optimize.brentq(gap, 1e-4, 0.0099, xtol=1e-15)
    t = optimal_tuning("heavy-ball", ["learning_rate", "momentum"],
                       (1.0, 100.0), delay=1)
    assert t.spectral_radius == pytest.approx(math.sqrt(100 * eta),
                                              rel=1e-9)
    assert t.parameters["momentum"] < 1e-9
