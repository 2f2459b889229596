"""Numeric edge cases with defined answers, and output files that survive.

Every expected answer is derived by hand in a comment.  Known failures
of the modules under test are marked ``xfail(strict=True)`` with the
reason, so that a fix turns them into passes that must be unmarked.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import sympy

import lrcontrol
from lrcontrol import closed_loop, exact, get_rule
from lrcontrol._io import OutputExistsError, atomic_write
from lrcontrol.cli import main
from lrcontrol.curvature import as_curvatures
from lrcontrol.spectra import load_spectrum, validate_spectrum
from lrcontrol.stability import (
    classify,
    critical_values,
    jury_conditions,
    stable_set,
)

z = sympy.Symbol("z")
R = sympy.Rational


def verdict_of(rule, curvature, **values):
    rule = get_rule(rule)
    return classify(closed_loop(rule, curvature, rule.values(values))
                    .char_poly)


def poly(expr):
    return sympy.Poly(sympy.expand(expr), z)


# -- roots exactly on the unit circle: marginal -----------------------------

ON_CIRCLE = [
    # gradient descent z - 1 + eta h: root -1 at eta h = 2
    ("gd-eta-h-2", lambda: verdict_of("gradient-descent", 20,
                                      learning_rate=0.1), 1),
    # heavy ball p(-1) = 2 (1 + beta) - eta h = 0 at h = 3.8 / 0.1 = 38
    ("heavy-ball-h-38", lambda: verdict_of("heavy-ball", 38), 1),
    # z^2 + 1: roots +-i
    ("z2+1", lambda: classify([1, 0, 1]), 2),
    # z^2 - z + 1: roots exp(+-i pi/3)
    ("sixth-roots", lambda: classify([1, -1, 1]), 2),
    # alternating GDA on f = x y: z^2 - (2 - eta^2) z + 1, |z| = 1
    ("alternating-gda", lambda: classify(poly(z**2 - (2 - R(1, 4)) * z + 1)),
     2),
    # irrational palindromic z^2 - 2 cos(2 pi/5) z + 1, roots on the circle
    ("golden", lambda: classify(poly(z**2 - (sympy.sqrt(5) - 1) / 2 * z
                                     + 1)), 2),
    # z^3 - 1: three cube roots of unity
    ("cube-roots", lambda: classify([1, 0, 0, -1]), 3),
]


@pytest.mark.parametrize("make, count", [c[1:] for c in ON_CIRCLE],
                         ids=[c[0] for c in ON_CIRCLE])
def test_roots_on_the_circle_are_marginal(make, count):
    verdict = make()
    assert verdict.verdict == "marginal"
    assert verdict.spectral_radius == 1.0
    assert verdict.on_circle == count
    assert not verdict.repeated_on_circle
    assert not verdict


@pytest.mark.parametrize(
    "curvature",
    # h = 0: (z - 1)(z - beta); h = 2 (1 + beta) / eta: (z + 1)(z + beta)
    [0, 20 * (1 + sympy.sqrt(2) / 2)],
    ids=["h-0", "h-boundary"],
)
def test_irrational_momentum_on_the_circle_is_marginal(curvature):
    # momentum sqrt(2)/2, as optimal tunings produce
    loop = closed_loop(get_rule("heavy-ball"), curvature, learning_rate=0.1,
                       momentum=sympy.sqrt(2) / 2)
    assert classify(loop.char_poly).verdict == "marginal"


def test_jury_conditions_fail_on_the_circle():
    # strict inequalities: a root on the circle violates one of them
    assert jury_conditions(poly(z + 1)) == [sympy.false]
    assert jury_conditions(poly(z**2 + 1)) == [sympy.false]


def test_boundary_values_are_exact_rationals():
    rule = get_rule("gradient-descent")
    eta = rule.parameter("learning_rate").symbol
    char_poly = closed_loop(rule, 3).char_poly
    # z - 1 + 3 eta meets the circle at eta = 0 (z = 1) and 2/3 (z = -1)
    assert critical_values(char_poly, eta) == [0, R(2, 3)]


# -- repeated roots ------------------------------------------------------

REPEATED = [
    # (z - 1/2)^2: stable, rho 1/2
    ("half-squared", poly((z - R(1, 2)) ** 2), "stable", 0.5, 0, False),
    # (z - 1)^2: defective, the error grows like k: unstable at radius 1
    ("one-squared", poly((z - 1) ** 2), "unstable", 1.0, 2, True),
    # (z - 1)^3 (z + 1): on the circle with multiplicities 3 and 1
    ("one-cubed", poly((z - 1) ** 3 * (z + 1)), "unstable", 1.0, 4, True),
    # (z^2 + 1)^2: +-i twice each, x_k = k cos(k pi / 2) grows
    ("i-squared", poly((z**2 + 1) ** 2), "unstable", 1.0, 4, True),
    # (z - 2)^2 (z - 1): outside beats on the circle
    ("two-squared", poly((z - 2) ** 2 * (z - 1)), "unstable", 2.0, 1,
     False),
    # (z + 1/10)^4
    ("fourth-power", poly((z + R(1, 10)) ** 4), "stable", 0.1, 0, False),
]


@pytest.mark.parametrize(
    "char_poly, verdict, rho, on_circle, repeated",
    [c[1:] for c in REPEATED], ids=[c[0] for c in REPEATED],
)
def test_repeated_roots(char_poly, verdict, rho, on_circle, repeated):
    result = classify(char_poly)
    assert result.verdict == verdict
    # a root of multiplicity m is found by numpy to about eps^(1/m)
    assert result.spectral_radius == pytest.approx(rho, rel=1e-3)
    assert (result.on_circle, result.repeated_on_circle) == (
        on_circle, repeated)


def test_critically_damped_heavy_ball_has_a_double_root():
    # beta = (1 - sqrt(eta h))^2: eta h = 1/4 gives beta = 1/4 and
    # z^2 - (1 + beta - eta h) z + beta = (z - 1/2)^2
    loop = closed_loop(get_rule("heavy-ball"), 1, learning_rate=0.25,
                       momentum=0.25)
    assert loop.char_poly == poly((z - R(1, 2)) ** 2)
    result = classify(loop.char_poly)
    assert result.verdict == "stable"
    assert result.spectral_radius == pytest.approx(0.5, rel=1e-6)


@pytest.mark.parametrize(
    "char_poly",
    [poly((z - 1 + R(1, 10**7)) ** 3), poly((z - 1 + R(1, 10**9)) ** 2),
     poly((z - 1 + R(1, 10**5)) ** 4)],
    ids=["triple-1e-7", "double-1e-9", "quadruple-1e-5"],
)
def test_repeated_root_just_inside_is_stable(char_poly):
    # every root is 1 - d < 1: stable
    assert jury_conditions(char_poly) == []
    assert classify(char_poly).verdict == "stable"


# -- zero curvature --------------------------------------------------------


@pytest.mark.parametrize(
    "name, poles",
    [
        # z - 1: the iterate never moves
        ("gradient-descent", [1.0]),
        # (z - 1)(z - beta) with beta = 0.9 for the momentum rules
        ("heavy-ball", [0.9, 1.0]),
        ("nesterov", [0.9, 1.0]),
        ("ema-momentum", [0.9, 1.0]),
    ],
)
def test_zero_curvature_is_marginal(name, poles):
    result = verdict_of(name, 0)
    assert result.verdict == "marginal"
    assert result.on_circle == 1
    assert result.spectral_radius == 1.0
    np.testing.assert_allclose(np.sort(result.poles.real), poles,
                               rtol=1e-12, atol=1e-12)


def test_weight_decay_makes_zero_curvature_stable():
    # torch-sgd, h = 0: z^2 + (lr wd - mu - 1) z + mu = z^2 - 1.89 z + 0.9;
    # discriminant 1.89^2 - 3.6 < 0, so |z| = sqrt(0.9)
    result = verdict_of("torch-sgd", 0, weight_decay=0.1)
    assert result.verdict == "stable"
    assert result.spectral_radius == pytest.approx(np.sqrt(0.9), rel=1e-12)


def test_zero_curvature_is_a_valid_spectrum_value():
    assert as_curvatures([0.0, 1.0]).values == (0.0, 1.0)
    assert as_curvatures(0).values == (0.0,)


# -- huge and tiny values ------------------------------------------------

EXTREMES = [
    # eta h = 1e-12 * 2e12 = 2 exactly: z + 1
    ("gd-tiny-eta", "gradient-descent", 2e12, {"learning_rate": 1e-12},
     "marginal", 1.0),
    ("gd-huge-eta", "gradient-descent", 2e-12, {"learning_rate": 1e12},
     "marginal", 1.0),
    # eta h = 1: z, the root is 0
    ("gd-deadbeat", "gradient-descent", 1e12, {"learning_rate": 1e-12},
     "stable", 0.0),
    # z - 1 + 1e11: root 1 - 1e11
    ("gd-huge-h", "gradient-descent", 1e12, {}, "unstable", 1e11 - 1),
    # z - 1 + 1e-12: root 1 - 1e-12
    ("gd-slow", "gradient-descent", 1, {"learning_rate": 1e-12}, "stable",
     1 - 1e-12),
    # eta h = 3.8 = 2 (1 + beta): root -1
    ("hb-tiny-eta", "heavy-ball", 3.8e12, {"learning_rate": 1e-12},
     "marginal", 1.0),
    ("hb-huge-eta", "heavy-ball", 3.8e-12, {"learning_rate": 1e12},
     "marginal", 1.0),
    # roots about 1 - eta h / (1 - beta) = 1 - 1e-12 and beta
    ("hb-tiny-h", "heavy-ball", 1e-12, {}, "stable", 1 - 1e-12),
    # complex pair of modulus sqrt(beta) = 1 - 5e-13
    ("hb-beta-near-1", "heavy-ball", 1e-6, {"momentum": 1 - 1e-12},
     "stable", 1 - 5e-13),
]


@pytest.mark.parametrize(
    "name, curvature, values, verdict, rho", [c[1:] for c in EXTREMES],
    ids=[c[0] for c in EXTREMES],
)
def test_huge_and_tiny_values(name, curvature, values, verdict, rho):
    result = verdict_of(name, curvature, **values)
    assert result.verdict == verdict
    assert result.spectral_radius == pytest.approx(rho, rel=1e-12,
                                                   abs=1e-15)


def test_tiny_step_on_a_tiny_curvature_is_stable():
    # z - 1 + 1e-24: root 1 - 1e-24 < 1
    assert verdict_of("gradient-descent", 1e-12,
                      learning_rate=1e-12).verdict == "stable"


def test_overflowing_coefficients_are_still_classified():
    # z - 1 + 1e600: root 1 - 1e600, far outside
    assert verdict_of("gradient-descent", 1e300,
                      learning_rate=1e300).verdict == "unstable"


@pytest.mark.parametrize("curvature, boundary",
                         [(1e12, 2e-12), (1e-12, 2e12), (3, 2 / 3)])
def test_learning_rate_boundary_scales_exactly(curvature, boundary):
    # gradient descent is stable iff 0 < eta < 2 / h
    rule = get_rule("gradient-descent")
    eta = rule.parameter("learning_rate").symbol
    segments = stable_set(closed_loop(rule, curvature).char_poly, eta, 0)
    assert [(s.low, s.high, s.verdict) for s in segments] == [
        (0.0, boundary, "stable"), (boundary, float("inf"), "unstable")]


# -- integer and rational input --------------------------------------------


@pytest.mark.parametrize(
    "coefficients, verdict",
    [
        ([1, -1], "marginal"),
        ([Fraction(1), Fraction(-1, 2)], "stable"),
        ([R(1), R(-3, 2)], "unstable"),
        (np.array([1, 1]), "marginal"),
        (np.array([2.0, -1.0]), "stable"),
        (["1", "-0.5"], "stable"),
        ([True, False], "stable"),
        ([0, 0, 1, -1], "marginal"),
    ],
    ids=["int", "fraction", "rational", "numpy-int", "numpy-float", "str",
         "bool", "leading-zeros"],
)
def test_coefficients_of_every_kind(coefficients, verdict):
    assert classify(coefficients).verdict == verdict


def test_sympy_float_coefficients_are_read_as_typed():
    # Float(0.5) and 1/2 are the same number
    assert classify(sympy.Poly(z - sympy.Float(0.5), z)).spectral_radius \
        == 0.5


def test_fractions_are_exact_and_floats_are_their_decimals():
    rule = get_rule("gradient-descent")
    # eta = 2/3 exactly, h = 3: z + 1, marginal
    exact_loop = closed_loop(rule, 3, learning_rate=Fraction(2, 3))
    assert exact_loop.char_poly == poly(z + 1)
    assert classify(exact_loop.char_poly).verdict == "marginal"
    # eta = 0.6666666666666666 is read as that decimal: eta h < 2, stable
    float_loop = closed_loop(rule, 3, learning_rate=2 / 3)
    assert classify(float_loop.char_poly).verdict == "stable"


def test_integer_and_numpy_curvatures():
    rule = get_rule("gradient-descent")
    expected = closed_loop(rule, 2).char_poly
    for h in (np.int64(2), np.float64(2.0), Fraction(2), R(2), "2"):
        assert closed_loop(rule, h).char_poly == expected


def test_string_values_take_decimals_and_fractions():
    rule = get_rule("gradient-descent")
    assert rule.values(learning_rate="0.25") == {"learning_rate": R(1, 4)}
    assert rule.values(learning_rate="2/3") == {"learning_rate": R(2, 3)}
    with pytest.raises(ValueError, match="`learning_rate` must be finite"):
        rule.values(learning_rate="1/0")
    with pytest.raises(ValueError, match="`learning_rate` must be a number, "
                       "got '1/4x'"):
        rule.values(learning_rate="1/4x")


def test_zero_polynomial_is_rejected():
    with pytest.raises(ValueError):
        classify([0, 0])


def test_constant_polynomial_has_no_roots():
    # det(zI - A) of an empty system is 1: no roots, nothing to diverge
    result = classify([3])
    assert result.verdict == "stable"
    assert result.poles.size == 0


# -- NaN and inf -----------------------------------------------------------

NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: classify([1, NAN]), "`char_poly` must be finite"),
        (lambda: classify([INF, 1]), "`char_poly` must be finite"),
        (lambda: closed_loop(get_rule("gradient-descent"), NAN),
         "`curvature` must be finite"),
        (lambda: closed_loop(get_rule("gradient-descent"), -INF),
         "`curvature` must be finite"),
        (lambda: closed_loop(get_rule("gradient-descent"),
                             [[1, 0], [0, NAN]]),
         "`curvature` must be finite"),
        (lambda: closed_loop(get_rule("gradient-descent"), 1,
                             learning_rate=INF),
         "`learning_rate` must be finite"),
        (lambda: get_rule("heavy-ball").values(momentum=NAN),
         "`momentum` must be finite"),
        (lambda: exact(NAN), "`value` must be finite"),
        (lambda: as_curvatures(NAN), "`curvature` must be finite"),
        (lambda: as_curvatures((0, INF)), "`curvature` must be finite"),
        (lambda: as_curvatures([1.0, INF]), "must contain only finite"),
        (lambda: validate_spectrum(np.array([NAN, 1.0])),
         "must contain only finite"),
    ],
    ids=["classify-nan", "classify-inf", "h-nan", "h-minus-inf",
         "hessian-nan", "eta-inf", "values-nan", "exact-nan",
         "curvature-nan", "interval-inf", "spectrum-inf", "spectrum-nan"],
)
def test_nan_and_inf_are_rejected_with_the_argument_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_spectrum_file_with_nan_is_rejected(tmp_path):
    path = tmp_path / "eig.csv"
    path.write_text("0.5\nnan\n2\n")
    with pytest.raises(ValueError, match="1 NaN or infinite value"):
        load_spectrum(path)


def test_no_warnings_on_edge_cases():
    # every case above, once more, with all warnings recorded
    cases = [c[1] for c in REPEATED] + [poly(z + 1), poly(z**2 + 1)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for char_poly in cases:
            classify(char_poly)
            jury_conditions(char_poly)
        for _, name, h, values, *_ in EXTREMES:
            verdict_of(name, h, **values)
    assert [str(w.message) for w in caught] == []


# -- output files: whole or not at all -------------------------------------


def _listing(folder):
    return sorted(p.name for p in Path(folder).iterdir())


def test_atomic_write_writes_the_whole_file(tmp_path):
    target = tmp_path / "report.txt"
    seen = []

    def write(tmp):
        seen.append(Path(tmp))
        Path(tmp).write_text("all of it")

    assert atomic_write(target, write) == target
    assert target.read_text() == "all of it"
    # the temporary file sits beside the target, so the move is atomic
    assert seen[0].parent == tmp_path and seen[0] != target
    assert _listing(tmp_path) == ["report.txt"]


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_failure_midway_leaves_no_file(tmp_path, error):
    target = tmp_path / "report.txt"

    def write(tmp):
        Path(tmp).write_text("half of")
        raise error("interrupted")

    with pytest.raises(error):
        atomic_write(target, write)
    assert _listing(tmp_path) == []


def test_existing_file_is_kept_unless_forced(tmp_path):
    target = tmp_path / "report.txt"
    target.write_text("old")
    with pytest.raises(OutputExistsError, match="pass --force"):
        atomic_write(target, lambda tmp: Path(tmp).write_text("new"))
    assert target.read_text() == "old"
    assert _listing(tmp_path) == ["report.txt"]

    def fail(tmp):
        Path(tmp).write_text("ne")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(target, fail, force=True)
    assert target.read_text() == "old"
    atomic_write(target, lambda tmp: Path(tmp).write_text("new"), force=True)
    assert target.read_text() == "new"
    assert _listing(tmp_path) == ["report.txt"]


def test_missing_folder_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        atomic_write(tmp_path / "nowhere" / "r.txt", lambda tmp: None)


def test_killed_process_never_leaves_a_truncated_target(tmp_path):
    # a writer killed with SIGKILL mid-write cannot clean up, but the
    # target is only ever replaced whole
    target = tmp_path / "report.txt"
    target.write_text("old")
    code = textwrap.dedent(f"""
        import sys, time
        from lrcontrol._io import atomic_write
        def write(tmp):
            with open(tmp, "w") as f:
                f.write("partial")
                f.flush()
                print("writing", flush=True)
                time.sleep(60)
        atomic_write({str(target)!r}, write, force=True)
    """)
    env = dict(os.environ,
               PYTHONPATH=str(Path(lrcontrol.__file__).parent.parent))
    child = subprocess.Popen([sys.executable, "-c", code], env=env,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "writing\n"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
    assert target.read_text() == "old"


def test_output_gets_the_usual_permissions(tmp_path):
    umask = os.umask(0)
    os.umask(umask)
    target = tmp_path / "report.txt"
    atomic_write(target, lambda tmp: Path(tmp).write_text("x"))
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_report_command_needs_force_to_replace(tmp_path, capsys):
    target = tmp_path / "report.json"
    argv = ["report", "gradient-descent", "--curvature", "1",
            "--no-crosscheck", "-o", str(target)]
    assert main(argv) == 0
    first = json.loads(target.read_text())
    assert first["verdict"] == "stable"
    stamp = target.stat().st_mtime_ns
    time.sleep(0.01)
    capsys.readouterr()
    assert main([*argv, "--set", "learning_rate=3"]) == 2
    assert "pass --force" in capsys.readouterr().err
    assert target.stat().st_mtime_ns == stamp
    assert main([*argv, "--set", "learning_rate=3", "--force"]) == 0
    assert json.loads(target.read_text())["verdict"] == "unstable"
    assert _listing(tmp_path) == ["report.json"]


def test_double_root_at_minus_one_grows_and_is_unstable():
    # heavy ball with beta = 1, eta h = 4: z^2 + (4 - 2) z + 1 = (z + 1)^2,
    # so x[k] = (-1)^k (1 + 2k) from x0 = 1, v0 = 0: 1, -3, 5, -7, ...
    def update(s, p, grad):
        s.v = p.momentum * s.v - p.learning_rate * grad(s.x)
        s.x = s.x + s.v

    rule = lrcontrol.Rule(
        "hb-wide",
        [lrcontrol.Parameter("learning_rate", 0.1, "positive"),
         lrcontrol.Parameter("momentum", 0.9, "[-2, 2]")],
        {"x": "iterate", "v": 0},
        update,
    )
    values = {"learning_rate": 4, "momentum": 1}
    loop = closed_loop(rule, 1, **values)
    assert loop.char_poly == poly((z + 1) ** 2)
    result = classify(loop.char_poly)
    assert (result.verdict, result.spectral_radius) == ("unstable", 1.0)
    traj = lrcontrol.simulate(rule, 1.0, 6, values=values, x0=1.0)
    x = traj.states["x"][:, 0]
    np.testing.assert_allclose(x, [1, -3, 5, -7, 9, -11, 13])


def test_force_never_replaces_a_special_file(tmp_path, capsys):
    # -o /dev/null --force used to swap the device for a regular file
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    status = main(["report", "gradient-descent", "--curvature", "1",
                   "-o", str(fifo), "--force"])
    err = capsys.readouterr().err
    assert status == 2
    assert "must be a regular file" in err
    assert fifo.is_fifo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe.txt"]


def test_output_that_is_a_folder_is_named_as_such(tmp_path, capsys):
    status = main(["report", "gradient-descent", "--curvature", "1",
                   "--format", "json", "-o", str(tmp_path)])
    assert status == 2
    assert "is a folder" in capsys.readouterr().err


def test_step_dependent_rule_is_refused_with_the_reason(capsys, tmp_path):
    # x[k+1] = x[k] - eta/(k + 1) grad: A(k) = 1 - eta h/(k + 1) changes
    # every step, so no single polynomial decides stability
    path = tmp_path / "decay.toml"
    path.write_text(
        'name = "gd-decay"\n[parameters]\n'
        'learning_rate = { default = 0.1, domain = "positive" }\n'
        '[state]\nx = "iterate"\n[update]\n'
        'x = "x - learning_rate*grad(x)/(k+1)"\n'
    )
    status = main(["report", "--rule-file", str(path)])
    err = capsys.readouterr().err
    assert status == 2
    assert "depends on the step index k" in err
    assert "Traceback" not in err


def test_repeated_root_inside_has_an_exact_radius():
    # (z - 9/10)^2: numpy alone finds the double root only to ~1e-8
    assert classify(poly((z - R(9, 10)) ** 2)).spectral_radius == 0.9


def test_worst_mode_is_the_unstable_one_at_equal_radius():
    # modes h = 1/2 and h = 1 of heavy ball at beta = 1, eta = 4:
    # h = 1/2 gives z^2 + 1, simple roots +-i: marginal;
    # h = 1 gives (z + 1)^2, a repeated root: unstable; both radius 1
    def update(s, p, grad):
        s.v = p.momentum * s.v - p.learning_rate * grad(s.x)
        s.x = s.x + s.v

    rule = lrcontrol.Rule(
        "hb-wide",
        [lrcontrol.Parameter("learning_rate", 0.1, "positive"),
         lrcontrol.Parameter("momentum", 0.9, "[-2, 2]")],
        {"x": "iterate", "v": 0},
        update,
    )
    result = lrcontrol.stability_over(rule, np.array([0.5, 1.0]),
                                      learning_rate=4, momentum=1)
    assert [m.verdict for m in result.modes] == ["marginal", "unstable"]
    assert result.verdict == "unstable"
    assert result.worst_curvature == 1.0
