"""Tests for lrcontrol.regions: maps and boundaries against closed forms.

Every expected region below is written out by hand (the known
conditions on eta * h), never taken from the code under test.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from lrcontrol import LRControlWarning, Parameter, Rule
from lrcontrol.cli import main
from lrcontrol.regions import (
    parse_axis,
    schur_cohn_stable,
    spectral_radii,
    stability_region,
    verdict_codes,
)

BAND = 1e-6


def _grid(region):
    return np.meshgrid(region.x, region.y)


def _check_map(region, stable, distance):
    """The map equals the closed form wherever the point is off the band."""
    off = distance > BAND
    assert off.mean() > 0.9
    np.testing.assert_array_equal(region.stable[off], stable[off])
    # points inside the band are never called stable by mistake, and
    # points off it are never marginal
    assert not np.any(region.codes[off] == 1)


# -- maps against closed forms -------------------------------------------


def test_gradient_descent_region():
    r = stability_region("gradient-descent",
                         x=("learning_rate", 0.0, 3.0, 61),
                         y=("curvature", 0.1, 5.0, 47, "log"))
    eta, h = _grid(r)
    u = eta * h
    _check_map(r, (u > 0) & (u < 2), np.minimum(np.abs(u), np.abs(u - 2)))


@pytest.mark.parametrize("h", [1.0, 2.5], ids=["h=1", "h=2.5"])
def test_heavy_ball_region_including_negative_momentum(h):
    r = stability_region("heavy-ball", x=("learning_rate", 0.0, 4.0, 81),
                         y=("momentum", -1.2, 1.2, 61), curvature=h)
    eta, beta = _grid(r)
    u = eta * h
    stable = (np.abs(beta) < 1) & (u > 0) & (u < 2 * (1 + beta))
    distance = np.minimum.reduce([np.abs(np.abs(beta) - 1), np.abs(u),
                                  np.abs(u - 2 * (1 + beta))])
    _check_map(r, stable, distance)
    # negative momentum is outside the declared domain [0, 1) but mapped
    assert not r.in_domain[beta < 0].any()
    assert r.in_domain[(beta >= 0) & (beta < 1) & (eta > 0)].all()
    assert not r.in_domain[eta == 0].any()
    assert r.stable[(beta < 0) & (distance > BAND)].any()


def test_nesterov_region():
    r = stability_region("nesterov", x=("learning_rate", 0.0, 2.5, 61),
                         y=("momentum", 0.0, 0.99, 45))
    eta, beta = _grid(r)
    limit = 2 * (1 + beta) / (1 + 2 * beta)
    _check_map(r, (eta > 0) & (eta < limit),
               np.minimum(np.abs(eta), np.abs(eta - limit)))


def test_ema_momentum_region():
    r = stability_region("ema-momentum", x=("learning_rate", 0.0, 50.0, 81),
                         y=("beta1", 0.0, 0.95, 39))
    eta, beta1 = _grid(r)
    limit = 2 * (1 + beta1) / (1 - beta1)
    _check_map(r, (eta > 0) & (eta < limit),
               np.minimum(np.abs(eta), np.abs(eta - limit)))
    # the known threshold 38 / eta at beta1 = 0.9
    assert limit[np.isclose(beta1, 0.9)].round(12).tolist()[:1] in ([], [38.0])


def test_marginal_points_on_the_boundary_exactly():
    # binary grids: eta * h == 2 and eta == 0 happen exactly
    r = stability_region("gradient-descent",
                         x=("learning_rate", 0.0, 4.0, 257),
                         y=("curvature", 0.5, 2.0, 7))
    eta, h = _grid(r)
    on = (eta * h == 2) | (eta == 0)
    # eta = 0 on every row; eta h = 2 at h = 0.5, 1 and 2
    assert on.sum() == 7 + 3 and np.all(r.verdict[on] == "marginal")
    assert np.all(r.verdict[~on & (eta * h < 2)] == "stable")
    assert np.all(r.verdict[~on & (eta * h > 2)] == "unstable")


def test_spectrum_is_the_worst_mode():
    spectrum = np.array([0.5, 1.0, 3.0])
    r = stability_region("heavy-ball", x=("learning_rate", 0.0, 2.0, 41),
                         y=("momentum", 0.0, 0.95, 21), curvature=spectrum)
    eta, beta = _grid(r)
    top = eta * spectrum.max()
    _check_map(r, (eta > 0) & (top < 2 * (1 + beta)),
               np.minimum(np.abs(eta), np.abs(top - 2 * (1 + beta))))
    rho_each = [stability_region(
        "heavy-ball", x=("learning_rate", 0.0, 2.0, 41),
        y=("momentum", 0.0, 0.95, 21), curvature=float(h),
        boundaries=False).spectral_radius for h in spectrum]
    np.testing.assert_allclose(r.spectral_radius, np.max(rho_each, axis=0),
                               rtol=0, atol=1e-15)


def test_interval_uses_the_whole_interval_not_only_its_ends():
    # x+ = x - 2 eta g(x) - c eta g(x - eta g(x)): root 1 - (2 + c) u + c u^2
    # with u = eta h; for c = 1 it is unstable for 1 < u < 2 only
    rule = Rule(
        "two-query",
        [Parameter("learning_rate", 0.5, "positive"),
         Parameter("c", 1.0, "real")],
        {"x": "iterate"},
        lambda s, p, grad: setattr(
            s, "x", s.x - 2 * p.learning_rate * grad(s.x)
            - p.c * p.learning_rate * grad(s.x - p.learning_rate
                                          * grad(s.x))),
    )
    mu, top = 0.5, 2.5
    r = stability_region(rule, x=("learning_rate", 0.05, 1.3, 51),
                         y=("c", 0.2, 2.0, 37), curvature=(mu, top),
                         boundaries=False)
    eta, c = _grid(r)

    def root(u):
        return 1 - (2 + c) * u + c * u * u

    # |root| over [eta mu, eta L]: ends and the vertex u* = (2 + c) / (2c)
    star = (2 + c) / (2 * c)
    inside = (star > eta * mu) & (star < eta * top)
    worst = np.maximum(np.abs(root(eta * mu)), np.abs(root(eta * top)))
    worst = np.where(inside, np.maximum(worst, np.abs(root(star))), worst)
    _check_map(r, worst < 1, np.abs(worst - 1))
    np.testing.assert_allclose(r.spectral_radius, worst, rtol=0, atol=1e-3)
    # at eta = 1, c = 1 both ends are stable but the interval is not
    ends = stability_region(rule, x=("learning_rate", 0.99, 1.01, 3),
                            y=("c", 0.99, 1.01, 3), curvature=(mu, top),
                            boundaries=False)
    assert ends.verdict[1, 1] == "unstable"
    assert all(abs(1 - 3 * u + u * u) < 1 for u in (mu, top))


# -- boundary curves -------------------------------------------------------


def test_heavy_ball_boundaries_lie_on_closed_forms():
    h = 2.0
    r = stability_region("heavy-ball", x=("learning_rate", 0.0, 2.5, 50),
                         y=("momentum", -1.0, 1.0, 50), curvature=h)
    kinds = {c.kind for c in r.boundaries}
    assert kinds == {"z=1", "z=-1", "complex"}
    for c in r.boundaries:
        u, beta = c.x * h, c.y
        if c.kind == "z=1":
            np.testing.assert_allclose(u, 0, atol=1e-12)
            np.testing.assert_allclose(c.omega, 0, atol=1e-12)
        elif c.kind == "z=-1":
            np.testing.assert_allclose(u, 2 * (1 + beta), atol=1e-9)
            np.testing.assert_allclose(c.omega, np.pi, atol=1e-12)
        else:
            np.testing.assert_allclose(beta, 1, atol=1e-9)
            # z^2 + (u - 2) z + 1 = 0 on the circle: u = 2 (1 - cos w)
            np.testing.assert_allclose(u, 2 * (1 - np.cos(c.omega)),
                                       atol=1e-8)
        assert np.all(np.abs(beta) <= 1 + 1e-9)
    # the pieces span the whole edge: eta = 0 for beta in [-1, 1], ...
    edge = next(c for c in r.boundaries if c.kind == "z=-1")
    assert edge.y.min() < -1 + 1e-6 and edge.y.max() > 0.25 - 1e-6


def test_delayed_gradient_descent_has_a_complex_pair_boundary():
    # x+ = x - eta h x[k-1]: z^2 - z + u, stable iff 0 < u < 1, the pair
    # crossing at z = exp(+-i pi/3)
    r = stability_region("gradient-descent", x=("learning_rate", 0.0, 2.0, 41),
                         y=("curvature", 0.25, 2.0, 36), delay=1)
    eta, h = _grid(r)
    u = eta * h
    _check_map(r, (u > 0) & (u < 1), np.minimum(np.abs(u), np.abs(u - 1)))
    pairs = [c for c in r.boundaries if c.kind == "complex"]
    assert pairs
    for c in pairs:
        np.testing.assert_allclose(c.x * c.y, 1.0, atol=1e-9)
        np.testing.assert_allclose(c.omega, np.pi / 3, atol=1e-7)


def test_nesterov_boundary_matches_its_closed_form():
    r = stability_region("nesterov", x=("learning_rate", 0.0, 2.5, 40),
                         y=("momentum", 0.0, 0.99, 40))
    flips = [c for c in r.boundaries if c.kind == "z=-1"]
    assert flips
    for c in flips:
        np.testing.assert_allclose(c.x * (1 + 2 * c.y), 2 * (1 + c.y),
                                   atol=1e-9)


# -- the engine against numpy.roots ------------------------------------------


@pytest.mark.parametrize("degree", [1, 2, 3, 6], ids=lambda d: f"n={d}")
def test_engine_matches_numpy_roots(degree):
    rng = np.random.default_rng(degree)
    c = rng.normal(size=(degree + 1, 3000))
    c[1:] *= rng.uniform(0.1, 1.5, size=3000)
    rho = np.array([np.abs(np.roots(col)).max() for col in c.T])
    np.testing.assert_allclose(spectral_radii(c), rho, rtol=1e-9, atol=0)
    off = np.abs(rho - 1) > 1e-9
    np.testing.assert_array_equal(schur_cohn_stable(c)[off], rho[off] < 1)
    expected = np.where(rho < 1 - 1e-9, 0, np.where(rho <= 1 + 1e-9, 1, 2))
    np.testing.assert_array_equal(verdict_codes(c), expected)


def test_roots_clustered_near_the_circle_are_marginal():
    # roots 1 and 0.99999: the recursion alone loses this; roots decide it
    c = np.array([[1.0], [-1.99999], [0.99999]])
    assert verdict_codes(c, 1e-7).tolist() == [1]
    c6 = np.poly([1.0, 0.99999, 0.5, -0.3, 0.2j, -0.2j]).real[:, None]
    assert verdict_codes(c6, 1e-7).tolist() == [1]


def test_chunks_do_not_change_the_result():
    kwargs = {"x": ("learning_rate", 0.0, 4.0, 37),
              "y": ("momentum", -1.0, 1.0, 29), "boundaries": False}
    whole = stability_region("heavy-ball", **kwargs)
    parts = stability_region("heavy-ball", chunk_size=40, **kwargs)
    np.testing.assert_array_equal(whole.codes, parts.codes)
    np.testing.assert_array_equal(whole.spectral_radius,
                                  parts.spectral_radius)


def test_dask_backend_gives_the_same_map():
    pytest.importorskip("dask")
    kwargs = {"x": ("learning_rate", 0.0, 4.0, 33),
              "y": ("momentum", -1.0, 1.0, 21), "boundaries": False,
              "chunk_size": 100}
    local = stability_region("heavy-ball", **kwargs)
    remote = stability_region("heavy-ball", backend="dask", **kwargs)
    np.testing.assert_array_equal(local.codes, remote.codes)
    np.testing.assert_array_equal(local.spectral_radius,
                                  remote.spectral_radius)


# -- bad input ----------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, message",
    [
        (("step", 0, 1, 10), "must name a parameter of rule 'heavy-ball'"),
        (("learning_rate", 2, 1, 10), "must have LO < HI"),
        (("learning_rate", 1, 1, 10), "must have LO < HI"),
        (("learning_rate", 0, 1, 1), "at least 2 points"),
        (("learning_rate", 0, 1, 10, "log"), "log scale must have LO > 0"),
        ("learning_rate:0:1", "NAME:LO:HI:N"),
        ("learning_rate:a:1:5", "ends must be numbers"),
        ("learning_rate:0:1:five", "whole number of points"),
    ],
    ids=["unknown", "reversed", "empty", "one-point", "log-zero",
         "short", "not-a-number", "points"],
)
def test_bad_axis_specs(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_axis(spec, "heavy-ball")
    with pytest.raises(ValueError, match=message):
        stability_region("heavy-ball", x=spec)


def test_bad_region_arguments():
    with pytest.raises(ValueError, match="different axes"):
        stability_region("heavy-ball", y=("learning_rate", 0, 1, 5))
    with pytest.raises(ValueError, match="must be None when an axis"):
        stability_region("gradient-descent", y=("curvature", 0.1, 1, 5),
                         curvature=1.0)
    with pytest.raises(ValueError, match="must name parameters"):
        stability_region("heavy-ball", fixed={"lr": 0.1})
    with pytest.raises(ValueError, match="which is an axis"):
        stability_region("heavy-ball", fixed={"momentum": 0.1})
    with pytest.raises(ValueError, match="`backend` must be"):
        stability_region("heavy-ball", x=("learning_rate", 0, 1, 3),
                         y=("momentum", 0, 1, 3), backend="spark")


# -- outputs ------------------------------------------------------------------


def test_to_dict_is_json():
    r = stability_region("heavy-ball", x=("learning_rate", 0.0, 4.0, 9),
                         y=("momentum", -1.0, 1.0, 7))
    data = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert np.array(data["verdict"]).shape == (7, 9)
    assert {b["kind"] for b in data["boundaries"]} == {"z=1", "z=-1",
                                                       "complex"}


def test_cli_region_writes_every_format(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    common = ["region", "heavy-ball", "--x", "learning_rate:0:4:30",
              "--y", "momentum:-1:1:20"]
    for name in ["r.png", "r.svg", "r.pdf", "r.npz", "r.json"]:
        assert main(common + ["-o", name]) == 0
        assert (tmp_path / name).stat().st_size > 0
    data = json.loads((tmp_path / "r.json").read_text())
    assert {"x", "y", "verdict", "spectral_radius", "boundaries"} <= set(data)
    assert data["x"]["name"] == "learning_rate"
    arrays = np.load(tmp_path / "r.npz")
    assert arrays["verdict"].shape == (20, 30)
    assert arrays["boundary_points"].shape[1] == 4
    # an interval, a log axis over the curvature and --set
    assert main(["region", "heavy-ball", "--x", "learning_rate:0:2:20",
                 "--y", "momentum:0:0.9:10", "--curvature-range", "0.5",
                 "2", "-o", "i.json"]) == 0
    assert main(["region", "nesterov", "--x", "learning_rate:0.01:10:20:log",
                 "--y", "curvature:0.1:10:15:log", "--set", "momentum=0.5",
                 "-o", "c.npz"]) == 0


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--x", "step:0:1:5"], "must name a parameter"),
        (["--x", "learning_rate:1:0:5"], "LO < HI"),
        (["--y", "momentum:0:1:1"], "at least 2 points"),
        (["--x", "learning_rate:0:1:5:log"], "LO > 0"),
        (["--set", "momentum=0.5"], "which is an axis"),
        (["-o", "r.txt"], "must end in"),
        ([], "`-o` must give"),
    ],
    ids=["unknown", "reversed", "points", "log", "set-axis", "suffix",
         "no-output"],
)
def test_cli_region_bad_input(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    if "-o" not in argv and argv:
        argv = argv + ["-o", "r.png"]
    assert main(["region", "heavy-ball"] + argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("lrcontrol: error: ")
    assert message in err
    assert not (tmp_path / "r.png").exists()


def test_cli_region_refuses_to_overwrite(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = ["region", "gradient-descent", "--x", "learning_rate:0:4:5",
            "--y", "curvature:0.5:2:5", "-o", "r.json"]
    assert main(argv) == 0
    assert main(argv) == 2
    assert "--force" in capsys.readouterr().err
    assert main(argv + ["--force"]) == 0


def test_high_degree_skips_boundaries_with_a_warning():
    # gradient descent with a 20-step stale gradient:
    # p(z) = z^21 - z^20 + eta h, degree 21 > MAX_BOUNDARY_DEGREE
    with pytest.warns(LRControlWarning, match="degree 21 > 18"):
        region = stability_region(
            "gradient-descent", x=("learning_rate", 0.01, 1.0, 5),
            y=("curvature", 0.5, 1.0, 3), delay=20)
    assert region.boundaries == ()
    # GD with delay d is stable iff eta h < 2 sin(pi / (2 (2d + 1))):
    # at d = 20, eta h = 0.01 * 0.5 is inside and eta h = 1 is outside
    assert region.verdict[0, 0] == "stable"
    assert region.verdict[-1, -1] == "unstable"


def test_a_grid_too_large_for_memory_is_refused_before_any_work():
    # 1e5 x 1e5 points would need about 100 GB for the maps
    with pytest.raises(ValueError, match=r"at most 2e\+08 grid points"):
        stability_region("heavy-ball", x=("learning_rate", 0, 4, 100_000),
                         y=("momentum", 0, 1, 100_000))
