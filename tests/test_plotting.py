"""Tests for lrcontrol.plotting and the simulation overlay.

The Agg backend and closing figures after each test come from
tests/conftest.py.  Drawn data are compared with closed forms.
"""

from __future__ import annotations

import pickle

import matplotlib.pyplot as plt
import numpy as np
import pytest

from lrcontrol.plotting import (
    Drawn,
    plot_bode,
    plot_nyquist,
    plot_rate_map,
    plot_region,
    plot_root_locus,
    plot_simulation,
    plot_step_response,
)
from lrcontrol.regions import stability_region


@pytest.fixture(scope="module")
def heavy_ball_region():
    return stability_region("heavy-ball", x=("learning_rate", 0.0, 4.0, 60),
                            y=("momentum", -1.0, 1.0, 41))


def test_plot_region_draws_the_exact_curves(heavy_ball_region):
    _, ax = plt.subplots()
    drawn = plot_region(heavy_ball_region, ax=ax)
    assert isinstance(drawn, Drawn) and drawn.ax is ax
    lines = drawn.artists["boundaries"]
    assert len(lines) == len(heavy_ball_region.boundaries)
    for line, curve in zip(lines, heavy_ball_region.boundaries):
        np.testing.assert_array_equal(line.get_xdata(), curve.x)
        np.testing.assert_array_equal(line.get_ydata(), curve.y)
    # the hatched part is negative momentum (outside [0, 1))
    assert drawn.artists["domain"] is not None
    assert drawn.artists["map"].get_array().size == 41 * 60


def test_plot_region_without_ax_makes_a_figure(heavy_ball_region):
    drawn = plot_region(heavy_ball_region, boundaries=False, legend=False)
    assert drawn.ax.figure is not None and not drawn.artists["boundaries"]


def test_plot_rate_map(heavy_ball_region):
    drawn = plot_rate_map(heavy_ball_region, levels=(0.5, 0.9))
    assert list(drawn.artists["contours"].levels) == [0.5, 0.9]
    assert drawn.artists["colorbar"] is not None


def test_rate_map_log_scale_spaces_the_digits_of_one_minus_rate():
    # gradient descent at h in [0.001, 0.01]: rho = 1 - eta h, all > 0.9
    r = stability_region("gradient-descent",
                         x=("learning_rate", 0.5, 9.0, 40),
                         y=("curvature", 0.001, 0.01, 30))
    drawn = plot_rate_map(r)
    assert drawn.artists["scale"] == "log"
    norm = drawn.artists["map"].norm
    # equal steps in -log10(1 - rho): 0.9 -> 0.99 as far as 0.99 -> 0.999
    steps = np.diff(norm(np.array([0.9, 0.99, 0.999])))
    np.testing.assert_allclose(steps[0], steps[1], rtol=1e-12)
    # rho spans 1 - 0.09 to 1 - 0.0005: the levels 0.99 and 0.999
    assert list(drawn.artists["contours"].levels) == pytest.approx(
        [0.99, 0.999])
    assert plot_rate_map(r, scale="linear").artists["scale"] == "linear"


def test_rate_map_auto_scale_stays_linear_for_fast_rates(heavy_ball_region):
    # heavy ball at h = 1 reaches rate 0 (eta = 1, beta = 0)
    assert plot_rate_map(heavy_ball_region).artists["scale"] == "linear"
    with pytest.raises(ValueError, match="`scale` must be"):
        plot_rate_map(heavy_ball_region, scale="logarithmic")


def test_rate_map_needs_radii():
    r = stability_region("heavy-ball", x=("learning_rate", 0, 4, 5),
                         y=("momentum", 0, 0.9, 5), radius=False)
    with pytest.raises(ValueError, match="spectral-radius map"):
        plot_rate_map(r)
    with pytest.raises(TypeError, match="StabilityRegion"):
        plot_region("heavy-ball")


def test_simulation_agrees_with_the_map_off_the_boundary(heavy_ball_region):
    sim = heavy_ball_region.simulate(points=(7, 7), num_steps=800)
    rho = heavy_ball_region._problem.evaluate(sim.x, sim.y, 1e-9)[1]
    clear = np.abs(rho - 1) > 0.02
    assert clear.sum() >= 10
    np.testing.assert_array_equal(sim.converged[clear],
                                  (sim.predicted == 0)[clear])
    # the measured rate is the spectral radius where the loop contracts
    fast = clear & (rho < 0.95)
    np.testing.assert_allclose(sim.rate[fast], rho[fast], atol=0.02)
    # simulated points respect the domain: no negative momentum
    assert np.all(sim.y >= 0)
    drawn = plot_simulation(sim)
    n = len(drawn.artists["converged"].get_offsets())
    assert n == sim.converged.sum()


def test_simulation_over_an_interval_and_a_curvature_axis():
    r = stability_region("gradient-descent", x=("learning_rate", 0.05, 1.5, 9),
                         y=("curvature", 0.5, 3.0, 9))
    sim = r.simulate(points=(4, 4), num_steps=300)
    u = sim.x * sim.y
    clear = np.abs(u - 2) > 0.1
    np.testing.assert_array_equal(sim.converged[clear], (u < 2)[clear])
    r = stability_region("heavy-ball", x=("learning_rate", 0.05, 1.5, 9),
                         y=("momentum", 0.0, 0.9, 9), curvature=(0.5, 2.0),
                         boundaries=False)
    sim = r.simulate(points=(4, 4), num_steps=300)
    limit = 2 * (1 + sim.y) / 2.0
    clear = np.abs(sim.x - limit) > 0.1
    np.testing.assert_array_equal(sim.converged[clear],
                                  (sim.x < limit)[clear])


def test_root_locus_roots_solve_the_polynomial():
    eta, beta = 0.5, 0.6
    drawn = plot_root_locus("heavy-ball", (0.0, 8.0),
                            {"learning_rate": eta, "momentum": beta},
                            points=50)
    roots = drawn.artists["roots"].get_offsets()
    z = roots[:, 0] + 1j * roots[:, 1]
    h = np.repeat(np.linspace(0.0, 8.0, 50), 2)
    residual = z * z + (eta * h - 1 - beta) * z + beta
    np.testing.assert_allclose(np.abs(residual), 0, atol=1e-12)


def test_step_response_of_gradient_descent():
    drawn = plot_step_response("gradient-descent", (0.5, 2.0),
                               {"learning_rate": 0.5}, num_steps=12)
    assert len(drawn.artists["lines"]) == 3
    for line, h in zip(drawn.artists["lines"], [0.5, 1.0, 2.0]):
        k = line.get_xdata()
        np.testing.assert_allclose(line.get_ydata(), -(1 - 0.5 * h) ** k,
                                   atol=1e-12)


def test_bode_and_nyquist_of_gradient_descent():
    # L(z) = eta h / (z - 1)
    eta, h = 0.25, 2.0
    w = np.array([0.01, 0.5, 1.0, np.pi])
    L = eta * h / (np.exp(1j * w) - 1)
    drawn = plot_bode("gradient-descent", h, {"learning_rate": eta}, omega=w)
    np.testing.assert_allclose(drawn.artists["magnitude"].get_ydata(),
                               20 * np.log10(np.abs(L)), atol=1e-9)
    phase = np.degrees(np.unwrap(np.angle(L)))
    drawn_phase = drawn.artists["phase"].get_ydata()
    np.testing.assert_allclose((drawn_phase - phase + 180) % 360 - 180, 0,
                               atol=1e-9)
    drawn = plot_nyquist("gradient-descent", h, {"learning_rate": eta},
                         omega=w)
    curve = drawn.artists["curve"]
    np.testing.assert_allclose(curve.get_xdata(), L.real, atol=1e-9)
    np.testing.assert_allclose(curve.get_ydata(), L.imag, atol=1e-9)
    # at the Nyquist frequency L = -eta h / 2: the gain margin is 2 / (eta h)
    np.testing.assert_allclose(curve.get_xdata()[-1], -eta * h / 2)


def test_bode_checks_its_arguments():
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match="pair of axes"):
        plot_bode("gradient-descent", 1.0, ax=[ax])
    with pytest.raises(ValueError, match=r"\(0, pi\]"):
        plot_nyquist("gradient-descent", 1.0, omega=[0.0, 1.0])


def test_region_problem_pickles_for_a_cluster(heavy_ball_region):
    # the Dask backend ships the problem to workers
    problem = pickle.loads(pickle.dumps(heavy_ball_region._problem))
    codes, rho = problem.evaluate(heavy_ball_region.x[None, :],
                                  heavy_ball_region.y[:, None], 1e-9)
    np.testing.assert_array_equal(codes, heavy_ball_region.codes)
    np.testing.assert_array_equal(rho, heavy_ball_region.spectral_radius)
