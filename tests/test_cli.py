"""The command line end to end: every format, every bad input."""

import json
from pathlib import Path

import numpy as np
import pytest

import lrcontrol

from lrcontrol.cli import main

JSON_KEYS = {
    "rule", "parameters", "curvature", "characteristic_polynomial",
    "stability_conditions", "verdict", "spectral_radius",
    "max_stable_learning_rate", "max_stable_curvature", "gain_margin",
    "phase_margin_deg", "delay_margin_steps", "noise_gain", "crosscheck",
}


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_list_shows_every_rule(capsys):
    status, out, _ = run(capsys, "list")
    assert status == 0
    for name in ("gradient-descent", "heavy-ball", "nesterov",
                 "ema-momentum", "torch-sgd"):
        assert name in out
    assert len(out.strip().splitlines()) == 5


def test_default_report_on_bundled_spectrum(capsys):
    status, out, _ = run(capsys, "report", "heavy-ball", "--format", "json")
    assert status == 0
    data = json.loads(out)
    assert JSON_KEYS <= set(data)
    spectrum = np.loadtxt(
        Path(lrcontrol.__file__).parent / "data" / "diabetes_spectrum.csv"
    )
    assert data["curvature"]["max"] == pytest.approx(spectrum.max())
    assert data["curvature"]["min"] == pytest.approx(spectrum.min())
    assert data["verdict"] == "stable"
    # heavy ball: eta h < 2 (1 + beta) at the top eigenvalue
    assert data["max_stable_learning_rate"] == pytest.approx(
        3.8 / spectrum.max(), rel=1e-12)
    # slowest mode is overdamped: rho = larger root of
    # z^2 - (1 + b - eta h) z + b
    b, e, lo = 0.9, 0.1, spectrum.min()
    tr = 1 + b - e * lo
    rho = (tr + np.sqrt(tr**2 - 4 * b)) / 2
    assert data["spectral_radius"] == pytest.approx(rho, rel=1e-10)
    assert data["crosscheck"]["agree"] is True
    assert data["gain_margin"] == pytest.approx(
        3.8 / (0.1 * spectrum.max()), rel=1e-12)


def test_text_report_has_every_section(capsys):
    status, out, _ = run(capsys, "report", "gradient-descent",
                         "--curvature", "2", "--set", "learning_rate=0.5")
    assert status == 0
    for part in ("characteristic polynomial", "stable iff",
                 "h*learning_rate < 2", "verdict", "STABLE",
                 "largest stable learning rate", "gain margin",
                 "phase margin", "delay margin", "noise gain",
                 "cross-check"):
        assert part in out, part


def test_marginal_is_reported(capsys):
    status, out, _ = run(capsys, "report", "gradient-descent",
                         "--curvature", "4", "--set", "learning_rate=0.5",
                         "--format", "json", "--no-crosscheck")
    assert status == 0
    assert json.loads(out)["verdict"] == "marginal"


def test_infinity_is_a_string(capsys):
    # heavy ball at h = 0 is marginal; its noise gain is "inf"
    status, out, _ = run(capsys, "report", "gradient-descent",
                         "--curvature", "3", "--set", "learning_rate=1",
                         "--format", "json", "--no-crosscheck")
    data = json.loads(out)
    assert data["verdict"] == "unstable"
    assert data["noise_gain"] == "inf"


@pytest.mark.parametrize(
    "fmt, suffix, needle",
    [("markdown", ".md", "# Stability report"),
     ("html", ".html", "<div class='lrcontrol-report'>"),
     ("latex", ".tex", "\\documentclass"),
     ("json", ".json", '"verdict"'),
     ("text", ".txt", "lrcontrol stability report")],
    ids=["markdown", "html", "latex", "json", "text"],
)
def test_every_format_to_a_file(capsys, tmp_path, fmt, suffix, needle):
    path = tmp_path / f"report{suffix}"
    status, out, err = run(capsys, "report", "nesterov", "--curvature-range",
                           "0.1", "3", "--format", fmt, "-o", str(path))
    assert status == 0, err
    assert out == ""
    assert needle in path.read_text()
    figures = sorted(p.name for p in tmp_path.glob("*.png"))
    if fmt in ("markdown", "latex"):
        assert figures == ["report_region.png", "report_step.png"]
        for f in figures:
            assert (tmp_path / f).read_bytes()[:4] == b"\x89PNG"
    else:
        assert figures == []
    if fmt == "html":
        assert "data:image/png;base64," in path.read_text()
    assert not list(tmp_path.glob(".*tmp"))


def test_spectrum_file(capsys, tmp_path):
    path = tmp_path / "eig.txt"
    path.write_text("0.5\n1.0\n2.0\n")
    status, out, _ = run(capsys, "report", "gradient-descent", "--spectrum",
                         str(path), "--format", "json", "--no-crosscheck")
    data = json.loads(out)
    assert status == 0
    assert data["max_stable_learning_rate"] == pytest.approx(1.0)
    # noise gain sums eta / (h (2 - eta h)) over the modes
    eta = 0.1
    expected = sum(eta / (h * (2 - eta * h)) for h in (0.5, 1.0, 2.0))
    assert data["noise_gain"] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["report", "no-such-rule"], "must be one of"),
        (["report", "heavy-ball", "--set", "lr=0.1"], "has no parameter"),
        (["report", "heavy-ball", "--set", "momentum=1.5"], "must lie in"),
        (["report", "heavy-ball", "--set", "momentum=abc"],
         "must be a number"),
        (["report", "heavy-ball", "--set", "momentum"], "NAME=VALUE"),
        (["report", "heavy-ball", "--set", "learning_rate=-1"],
         "must lie in"),
        (["report", "heavy-ball", "--set", "learning_rate=nan"],
         "must be finite"),
        (["report", "heavy-ball", "--set", "learning_rate=inf"],
         "must be finite"),
        (["report", "heavy-ball", "--curvature", "x"], "must be a number"),
        (["report", "heavy-ball", "--curvature", "-1"], ">= 0"),
        (["report", "heavy-ball", "--curvature-range", "3", "1"], "mu < L"),
        (["report", "heavy-ball", "--spectrum", "missing.csv"],
         "could not be read"),
        (["report"], "RULE is required"),
    ],
    ids=["rule", "param", "domain", "nonnumeric", "noequals", "negative",
         "nan", "inf", "curv-text", "curv-neg", "range", "file", "norule"],
)
def test_bad_input_exits_2_with_one_line(capsys, argv, message):
    status, out, err = run(capsys, *argv)
    assert status == 2
    assert out == ""
    assert message in err
    assert err.startswith("lrcontrol: error: ")
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "content, message",
    [("", "empty"), ("1\nnan\n", "NaN"), ("1\ninf\n", "infinite"),
     ("1\nabc\n", "only numbers")],
    ids=["empty", "nan", "inf", "text"],
)
def test_bad_spectrum_files(capsys, tmp_path, content, message):
    path = tmp_path / "eig.csv"
    path.write_text(content)
    status, _, err = run(capsys, "report", "heavy-ball", "--spectrum",
                         str(path))
    assert status == 2
    assert message in err


def test_existing_output_is_kept_without_force(capsys, tmp_path):
    path = tmp_path / "r.json"
    path.write_text("keep me")
    status, _, err = run(capsys, "report", "gradient-descent", "--curvature",
                         "1", "-o", str(path), "--no-crosscheck")
    assert status == 2
    assert "--force" in err
    assert path.read_text() == "keep me"
    status, _, _ = run(capsys, "report", "gradient-descent", "--curvature",
                       "1", "-o", str(path), "--no-crosscheck", "--force")
    assert status == 0
    assert json.loads(path.read_text())["rule"] == "gradient-descent"


def test_bad_input_leaves_no_file(capsys, tmp_path):
    path = tmp_path / "r.md"
    status, _, _ = run(capsys, "report", "heavy-ball", "--set",
                       "momentum=2", "-o", str(path))
    assert status == 2
    assert list(tmp_path.iterdir()) == []


def test_markdown_refuses_before_writing_any_figure(capsys, tmp_path):
    path = tmp_path / "r.md"
    (tmp_path / "r_region.png").write_bytes(b"old")
    status, _, err = run(capsys, "report", "heavy-ball", "--no-crosscheck",
                         "-o", str(path))
    assert status == 2 and "r_region.png" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r_region.png"]


def test_output_that_is_a_folder_is_refused(capsys, tmp_path):
    status, _, err = run(capsys, "report", "heavy-ball", "--no-crosscheck",
                         "-o", str(tmp_path), "--force")
    assert status == 2 and "folder" in err


def test_unknown_output_suffix_needs_a_format(capsys, tmp_path):
    status, _, err = run(capsys, "report", "heavy-ball", "--no-crosscheck",
                         "-o", str(tmp_path / "r.pdf"))
    assert status == 2 and "--format" in err


@pytest.mark.parametrize(
    "argv",
    [["report", "gradient-descent", "--curvature", "1", "--spectrum", "s"],
     ["report", "heavy-ball", "--format", "pdf"],
     ["report", "heavy-ball", "--curvature"],
     ["report", "heavy-ball", "extra"]],
    ids=["exclusive", "format", "missing-value", "extra"],
)
def test_argparse_errors_are_one_line(capsys, argv):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    _, err = capsys.readouterr()
    assert exit_info.value.code == 2
    assert err.startswith("lrcontrol: error: ")
    assert len(err.strip().splitlines()) == 1


def test_torch_nesterov_needs_momentum_and_no_dampening(capsys):
    status, _, err = run(capsys, "report", "torch-sgd", "--set",
                         "nesterov=1", "--set", "dampening=0.5")
    assert status == 2 and "dampening = 0" in err


def test_verdict_counts_the_modes(capsys, tmp_path):
    # eta = 0.6 on eigenvalues 0.5, 1, 4: eta h = 2.4 > 2 for one mode
    path = tmp_path / "eig.txt"
    path.write_text("0.5\n1\n4\n")
    status, out, _ = run(capsys, "report", "gradient-descent", "--spectrum",
                         str(path), "--set", "learning_rate=0.6",
                         "--no-crosscheck")
    assert "UNSTABLE: the worst of 3 modes (2 stable, 1 unstable)" in out
    assert "phase margin" in out and "n/a" in out


def test_markdown_table_escapes_pipes(capsys):
    status, out, _ = run(capsys, "report", "gradient-descent", "--curvature",
                         "1", "--format", "markdown", "--no-crosscheck")
    row = next(line for line in out.splitlines() if "noise gain" in line)
    assert row.count("|") - row.count("\\|") == 3


def test_report_a_hair_inside_the_domain_edge(capsys):
    # momentum 1 - 1e-17 is stable (eta h < 2 (1 + beta) on every mode)
    # but prints as 1 in floating point; the report must say so, not crash
    status, out, err = run(capsys, "report", "heavy-ball", "--set",
                           "momentum=0.99999999999999999")
    assert status == 0, err
    assert "STABLE" in out
    assert "below 1 by less than 1e-12" in out


def test_report_says_when_no_learning_rate_is_named(tmp_path, capsys):
    # gradient descent with its step called `eta`: stable (eta h < 2), but
    # which parameter is "the learning rate" is not known to the report
    path = tmp_path / "gd_eta.toml"
    path.write_text(
        'name = "gd-eta"\n[parameters]\n'
        'eta = { default = 0.1, domain = "positive" }\n'
        '[state]\nx = "iterate"\n[update]\nx = "x - eta*grad(x)"\n'
    )
    status, out, _ = run(capsys, "report", "--rule-file", str(path),
                         "--curvature", "1")
    assert status == 0
    assert "STABLE" in out
    assert "names no learning-rate parameter" in out
    assert "no learning rate is stable" not in out


def test_region_of_a_one_parameter_rule_maps_against_curvature(
        tmp_path, capsys):
    # gradient descent has no momentum: the default y axis is the
    # curvature, and the z = -1 edge is the hyperbola eta h = 2
    out = tmp_path / "gd.json"
    status, _, err = run(capsys, "region", "gradient-descent", "-o",
                         str(out))
    assert status == 0, err
    data = json.loads(out.read_text())
    edges = [b for b in data["boundaries"] if b["kind"] == "z=-1"]
    assert edges
    for b in edges:
        eta, h = np.array(b["x"], float), np.array(b["y"], float)
        np.testing.assert_allclose(eta * h, 2.0, rtol=1e-9)
