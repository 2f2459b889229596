"""Rules from TOML files: equivalence with the catalog, errors with lines."""

from __future__ import annotations

import argparse
import math
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import sympy

import lrcontrol
import lrcontrol._cli_common as cli_common
import lrcontrol._cli_report as cli_report
from lrcontrol import closed_loop, get_rule
from lrcontrol.cli import main
from lrcontrol.rulefile import (
    NonlinearRuleError,
    RuleFileError,
    explain_nonlinear,
    load_rule,
    rule_file_loader,
    rule_from_text,
    rule_source,
)
from lrcontrol.stability import classify, stable_set

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

HEAVY_BALL = """\
name = "my-heavy-ball"
[parameters]
learning_rate = { default = 0.1, domain = "positive" }
momentum = { default = 0.9, domain = "[0, 1)" }
[state]
x = "iterate"
v = 0
[update]
v = "momentum*v - learning_rate*grad(x)"
x = "x + v"
"""


def write(tmp_path, text, name="my_rule.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- equivalence with the built-in rules ------------------------------------


def test_heavy_ball_file_has_the_catalog_program(tmp_path, heavy_ball):
    rule = load_rule(write(tmp_path, HEAVY_BALL))
    assert rule.name == "my-heavy-ball"
    assert rule.program == heavy_ball.program
    assert rule.symbols() == heavy_ball.symbols()
    assert rule.values() == heavy_ball.values()
    assert rule.learning_rate == "learning_rate"
    assert [s.name for s in rule.players] == ["x"]


def test_heavy_ball_file_gives_the_catalog_verdicts(tmp_path, heavy_ball):
    rule = load_rule(write(tmp_path, HEAVY_BALL))
    assert closed_loop(rule).char_poly == closed_loop(heavy_ball).char_poly
    # eta h < 2 (1 + beta) = 3.8 at the defaults: h = 38 is the boundary
    for h, verdict in [(0, "marginal"), (1, "stable"), (38, "marginal"),
                       (50, "unstable")]:
        mine = classify(closed_loop(rule, h, rule.values()).char_poly)
        theirs = classify(closed_loop(heavy_ball, h,
                                      heavy_ball.values()).char_poly)
        assert mine.verdict == theirs.verdict == verdict
        assert mine.spectral_radius == theirs.spectral_radius
    eta = rule.parameter("learning_rate").symbol
    poly = closed_loop(rule, 1, momentum=0.9).char_poly
    assert [(s.low, s.high, s.verdict) for s in stable_set(poly, eta, 0)] \
        == [(0.0, 3.8, "stable"), (3.8, float("inf"), "unstable")]


@pytest.mark.parametrize(
    "path", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.name
)
def test_every_example_file_loads(path):
    rule = load_rule(path)
    assert rule.queries
    assert rule.description


def test_example_heavy_ball_matches_the_catalog(heavy_ball):
    rule = load_rule(EXAMPLES / "my_heavy_ball.toml")
    assert rule.program == heavy_ball.program
    assert rule.parameter("momentum").latex == r"\beta"


def test_temporaries_are_inlined_like_python_locals():
    rule = load_rule(EXAMPLES / "my_sgd_weight_decay.toml")
    torch_sgd = get_rule("torch-sgd")
    assert {s.name for s in rule.states} == {"x", "buf"}
    settings = {"nesterov": 0, "dampening": 0}
    assert closed_loop(rule).char_poly == closed_loop(
        torch_sgd, None, settings).char_poly
    assert rule.learning_rate == "lr"


def test_update_steps_numbers_like_the_catalog(tmp_path, heavy_ball):
    # the same update function records the program and steps numbers
    rule = load_rule(write(tmp_path, HEAVY_BALL))
    p = SimpleNamespace(learning_rate=0.1, momentum=0.9)
    mine = SimpleNamespace(x=1.0, v=0.5)
    theirs = SimpleNamespace(x=1.0, v=0.5)
    for _ in range(50):
        rule.update(mine, p, lambda q: 3.0 * q)
        heavy_ball.update(theirs, p, lambda q: 3.0 * q)
    assert mine.x == pytest.approx(theirs.x, rel=1e-12, abs=1e-300)
    assert mine.v == pytest.approx(theirs.v, rel=1e-12, abs=1e-300)


def test_step_index_k_is_available():
    rule = rule_from_text("""
name = "gd-with-decay"
[parameters]
learning_rate = { default = 0.5, domain = "positive" }
[state]
x = "iterate"
[update]
x = "x - learning_rate/(k + 1)*grad(x)"
""")
    k = sympy.Symbol("k", integer=True, nonnegative=True)
    assert k in rule.program[1].value.free_symbols
    s = SimpleNamespace(x=1.0)
    rule.update(s, SimpleNamespace(learning_rate=0.5), lambda q: q, 1)
    assert s.x == pytest.approx(0.75)


def test_safe_latex_is_kept(tmp_path):
    text = _variant('domain = "[0, 1)"',
                    "domain = \"[0, 1)\", latex = '\\hat{\\beta}_1'")
    rule = load_rule(write(tmp_path, text))
    assert rule.parameter("momentum").latex == r"\hat{\beta}_1"


def test_multiline_strings_and_subtables(tmp_path):
    path = write(tmp_path, '''\
name = "gd"
description = """
a description
x = "not a key"
"""

[parameters.learning_rate]
default = 0.1
domain = "positive"

[state]
x = "iterate"

[update]
x = """x -
    learning_rate*grad(x)"""
''')
    rule = load_rule(path)
    assert closed_loop(rule).char_poly == closed_loop(
        get_rule("gradient-descent")).char_poly


def test_name_defaults_to_the_file_stem(tmp_path):
    text = HEAVY_BALL.replace('name = "my-heavy-ball"\n', "")
    assert load_rule(write(tmp_path, text, "hb2.toml")).name == "hb2"


def test_rule_source_remembers_lines(tmp_path):
    rule = load_rule(write(tmp_path, HEAVY_BALL))
    origin = rule_source(rule)
    assert origin.source.endswith("my_rule.toml")
    assert [(i.target, i.line) for i in origin.items] == [("v", 9), ("x", 10)]
    assert origin.update_line == 8
    assert rule_source(get_rule("heavy-ball")) is None


# -- errors name the file, the line and the item ----------------------------


def _variant(old, new):
    assert old in HEAVY_BALL
    return HEAVY_BALL.replace(old, new)


ERRORS = [
    ("unknown-name",
     _variant("momentum*v", "momentun*v"), 9, "[update] v",
     ("unknown name 'momentun' (declared: k, learning_rate, momentum, v, "
      "x) at column 1")),
    ("undeclared-state",
     _variant('x = "x + v"', 'x = "x + v"\ny = "x"'), 11, "[update] y",
     "assigns 'y', which is not a declared state (states: x, v"),
    ("no-domain",
     _variant('momentum = { default = 0.9, domain = "[0, 1)" }',
              "momentum = { default = 0.9 }"), 4, "[parameters] momentum",
     "a parameter needs a domain"),
    ("bare-number-parameter",
     _variant('momentum = { default = 0.9, domain = "[0, 1)" }',
              "momentum = 0.9"), 4, "[parameters] momentum",
     "a parameter needs a domain"),
    ("no-gradient",
     _variant("learning_rate*grad(x)", "learning_rate*x"), 8, "[update]",
     "the update never queries the gradient"),
    ("toml-syntax",
     _variant("v = 0", "v = = 0"), 7, "invalid TOML",
     "Invalid value at column 5"),
    ("duplicate-key",
     _variant('x = "x + v"', 'x = "x + v"\nx = "x"'), 11, "invalid TOML",
     "Cannot overwrite a value at column 8"),
    ("duplicate-key-at-end",
     _variant('x = "x + v"\n', 'x = "x + v"\nx = "x"'), 11, "invalid TOML",
     "[update] x is given twice"),
    ("unknown-top-key",
     "nmae = 'typo'\n" + HEAVY_BALL, 1, "nmae",
     "unknown key or table; expected one of name"),
    ("unknown-parameter-key",
     _variant("domain = \"positive\"", "domain = \"positive\", dflt = 1"),
     3, "[parameters] learning_rate", "unknown key 'dflt'"),
    ("bad-domain",
     _variant('"[0, 1)"', '"[0, 1"'), 4, "[parameters] momentum",
     "`domain` must be 'real', 'positive'"),
    ("default-outside-domain",
     _variant("default = 0.9", "default = 1.5"), 4, "[parameters] momentum",
     "default of parameter `momentum` must lie in [0, 1), got 1.5"),
    ("nan-default",
     _variant("default = 0.9", "default = nan"), 4, "[parameters] momentum",
     "must be finite"),
    ("string-default",
     _variant("default = 0.9", 'default = "0.9"'), 4,
     "[parameters] momentum", "`default` must be a number"),
    ("reserved-name",
     _variant("momentum = {", "k = {").replace("momentum", "k"), 4,
     "[parameters] k", "the name 'k' is reserved"),
    ("function-name",
     _variant("v = 0", "sqrt = 0"), 7, "[state] sqrt",
     "the name 'sqrt' is reserved"),
    ("dunder-state",
     _variant("v = 0", "__class__ = 0"), 7, "[state] __class__",
     "a name must be a letter followed by"),
    ("bad-initial",
     _variant("v = 0", 'v = "zero"'), 7, "[state] v",
     "a state is \"iterate\" or an initial number, got 'zero'"),
    ("no-iterate",
     _variant('x = "iterate"', "x = 0"), 5, "[state]",
     "one state must be the iterate"),
    ("two-iterates",
     _variant("v = 0", 'v = "iterate"'), 7, "[state] v",
     "rule files have one iterate (one player)"),
    ("state-shadows-parameter",
     _variant("v = 0", "momentum = 0"), 7, "[state] momentum",
     "must not share its name with a parameter"),
    ("non-string-update",
     _variant('x = "x + v"', "x = 1"), 10, "[update] x",
     "the right side must be a string"),
    ("two-point-grad",
     _variant("grad(x)", "grad(x, v)"), 9, "[update] v",
     "grad() takes one point per player (1), got 2"),
    ("hostile-update",
     _variant('x = "x + v"', "x = \"__import__('os').system('ls')\""), 10,
     "[update] x", "names may not start with an underscore"),
    ("learning-rate-unknown",
     'learning_rate = "lr"\n' + HEAVY_BALL, 1, "learning_rate",
     "must name a parameter (learning_rate, momentum), got 'lr'"),
    ("huge-domain-bound",
     _variant('"[0, 1)"', '"[0, 1e999999999)"'), 4, "[parameters] momentum",
     "domain bound '1e999999999' must be inf, -inf or a number"),
    ("latex-input",
     _variant('domain = "positive"',
              "domain = \"positive\", latex = '\\input{/etc/passwd}'"), 3,
     "[parameters] learning_rate", "got '\\\\input'"),
    ("latex-write18",
     _variant('domain = "positive"',
              "domain = \"positive\", latex = '\\immediate\\write18'"),
     3, "[parameters] learning_rate", "got '\\\\immediate'"),
    ("latex-dollar",
     _variant('domain = "positive"',
              "domain = \"positive\", latex = '$x$'"), 3,
     "[parameters] learning_rate", "`latex` may hold letters"),
    ("control-character",
     _variant('name = "my-heavy-ball"', 'name = "my\\u0007ball"'), 1,
     "name", "contains the control character U+0007"),
    ("two-line-name",
     _variant('name = "my-heavy-ball"', 'name = """my\nball"""'), 1,
     "name", "a name is one line"),
    ("missing-update",
     HEAVY_BALL.split("[update]")[0], None, "",
     "the rule needs a [update] table"),
]


@pytest.mark.parametrize(
    "text, line, item, reason",
    [e[1:] for e in ERRORS],
    ids=[e[0] for e in ERRORS],
)
def test_errors_name_file_line_and_item(tmp_path, text, line, item, reason):
    path = write(tmp_path, text)
    with pytest.raises(RuleFileError) as info:
        load_rule(path)
    err = info.value
    assert (err.line, err.item) == (line, item)
    assert reason in err.reason
    where = f"{path}:{line}" if line else f"{path}"
    assert str(err).startswith(f"{where}: {item}: " if item else where)
    assert str(err).endswith(".")
    assert "\n" not in str(err)
    assert isinstance(err, ValueError)


TEMPORARY = """\
[parameters]
lr = { default = 0.1, domain = "positive" }
[state]
x = "iterate"
[temporaries]
g = "the gradient"
[update]
x = "x - lr*g"
g = "grad(x)"
"""


def test_temporary_read_before_assignment():
    with pytest.raises(RuleFileError, match=r"t.toml:8: \[update\] x: "
                       "temporary 'g' is read before it is assigned"):
        rule_from_text(TEMPORARY, "t.toml")


def test_temporary_never_assigned():
    text = TEMPORARY.replace('g = "grad(x)"', "").replace(
        "lr*g", "lr*grad(x)")
    with pytest.raises(RuleFileError, match=r"t.toml:6: \[temporaries\] g: "
                       "this temporary is never assigned"):
        rule_from_text(text, "t.toml")


def test_temporary_may_not_shadow_a_state():
    text = TEMPORARY.replace('g = "the gradient"', 'x = "oops"')
    with pytest.raises(RuleFileError, match=r"t.toml:6: \[temporaries\] x: "
                       "a temporary must not share its name"):
        rule_from_text(text, "t.toml")


@pytest.mark.parametrize(
    "setup, reason",
    [
        (lambda p: None, "No such file or directory"),
        (lambda p: p.mkdir(), "Is a directory"),
        (lambda p: p.write_bytes(b"x = '\xff'\n"), "not valid UTF-8"),
        (lambda p: p.write_bytes(b"#" * (2 << 20)), "the limit is 1048576"),
    ],
    ids=["missing", "directory", "not-utf8", "too-big"],
)
def test_unreadable_files(tmp_path, setup, reason):
    path = tmp_path / "rule.toml"
    setup(path)
    with pytest.raises(RuleFileError, match=reason) as info:
        load_rule(path)
    assert str(info.value).startswith(str(path))


def test_text_must_be_a_string():
    with pytest.raises(TypeError, match="`text` must be a string"):
        rule_from_text(b"name = 'x'")


# -- nonlinear rules where a linear analysis is asked for --------------------


def test_nonlinear_rule_loads_but_names_its_line_when_analysed():
    path = EXAMPLES / "my_normalized_gd.toml"
    rule = load_rule(path)
    with pytest.raises(NotImplementedError) as info:
        closed_loop(rule)
    err = explain_nonlinear(rule, info.value)
    assert isinstance(err, NonlinearRuleError)
    assert isinstance(err, NotImplementedError)
    line = path.read_text().splitlines().index(
        's = "beta2*s + (1 - beta2)*g^2"') + 1
    assert (err.line, err.item) == (line, "[update] s")
    assert str(err).startswith(f"{path}:{line}: [update] s: the closed "
                               "loop is not linear here")


def test_linear_check_at_load_time():
    with pytest.raises(RuleFileError, match=r"my_normalized_gd.toml:\d+: "
                       r"\[update\] s: the closed loop is not linear"):
        load_rule(EXAMPLES / "my_normalized_gd.toml", linear=True)
    load_rule(EXAMPLES / "my_heavy_ball.toml", linear=True)


@pytest.mark.parametrize(
    "update, item, reason",
    [
        ('x = "x - learning_rate*grad(x*x)"', "[update] x",
         "the query point x**2 is not linear"),
        ('x = "x - learning_rate*grad(x + 1)"', "[update] x",
         "the query point x + 1 has the constant term 1"),
        ('x = "x - learning_rate*grad(x) + 1"', "[update] x",
         "has the constant term 1"),
        ('x = "x - learning_rate*abs(grad(x))"', "[update] x",
         "is not linear in the states and gradients"),
    ],
    ids=["nonlinear-query", "offset-query", "offset-update", "abs"],
)
def test_explain_nonlinear_finds_the_assignment(update, item, reason):
    text = f"""\
[parameters]
learning_rate = {{ default = 0.1, domain = "positive" }}
[state]
x = "iterate"
[update]
{update}
"""
    rule = rule_from_text(text, "r.toml")
    with pytest.raises(NotImplementedError) as info:
        closed_loop(rule)
    err = explain_nonlinear(rule, info.value)
    assert (err.source, err.line, err.item) == ("r.toml", 6, item)
    assert reason in str(err)


def test_explain_nonlinear_leaves_other_rules_alone():
    err = NotImplementedError("not linear")
    assert explain_nonlinear(get_rule("heavy-ball"), err) is err


# -- the command line (options registered here until they are wired) --------


@pytest.fixture
def rule_file_cli(monkeypatch):
    """``--rule-file`` on every command, loaded by the rulefile hook."""
    original = cli_common.add_rule_arguments

    def add_rule_arguments(parser):
        original(parser)
        try:
            parser.add_argument("--rule-file", metavar="FILE")
        except argparse.ArgumentError:
            pass  # already wired

    monkeypatch.setattr(cli_common, "add_rule_arguments", add_rule_arguments)
    monkeypatch.setattr(cli_report, "add_rule_arguments", add_rule_arguments)
    monkeypatch.setattr(cli_common, "RULE_LOADERS", [rule_file_loader])


def test_rule_from_args_uses_the_loader(rule_file_cli, tmp_path):
    path = write(tmp_path, HEAVY_BALL)
    parser = argparse.ArgumentParser()
    cli_common.add_rule_arguments(parser)
    args = parser.parse_args(["--rule-file", str(path), "--set",
                              "momentum=0.5"])
    rule = cli_common.rule_from_args(args)
    assert rule.program == get_rule("heavy-ball").program
    assert cli_common.values_from_args(rule, args)["momentum"] == \
        sympy.Rational(1, 2)
    args = parser.parse_args(["heavy-ball", "--rule-file", str(path)])
    with pytest.raises(ValueError, match="give either RULE or a rule file"):
        cli_common.rule_from_args(args)


def test_report_from_a_rule_file_matches_the_catalog(rule_file_cli,
                                                     tmp_path, capsys):
    path = write(tmp_path, HEAVY_BALL)
    common = ["--curvature", "2", "--format", "json", "--no-crosscheck"]
    assert main(["report", "heavy-ball", *common]) == 0
    theirs = json.loads(capsys.readouterr().out)
    assert main(["report", "--rule-file", str(path), *common]) == 0
    mine = json.loads(capsys.readouterr().out)
    assert mine.pop("rule") == "my-heavy-ball"
    theirs.pop("rule")
    mine.pop("conventions", None), theirs.pop("conventions", None)
    assert mine == theirs
    assert mine["verdict"] == "stable"


def test_report_with_a_bad_rule_file_is_one_line(rule_file_cli, tmp_path,
                                                 capsys):
    path = write(tmp_path, _variant("momentum*v", "momentun*v"))
    assert main(["report", "--rule-file", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f"lrcontrol: error: {path}:9: [update] v: unknown name 'momentun' "
        "(declared: k, learning_rate, momentum, v, x) at column 1.\n"
    )


def test_report_of_a_nonlinear_rule_file_fails_cleanly(rule_file_cli,
                                                       capsys):
    path = EXAMPLES / "my_normalized_gd.toml"
    assert main(["report", "--rule-file", str(path), "--curvature", "1"]) \
        == 2
    _, err = capsys.readouterr()
    assert err.startswith("lrcontrol: error: ")
    assert err.count("\n") == 1
    assert "not linear" in err


def test_nonlinear_error_names_the_line_once_wired(rule_file_cli, capsys,
                                                   monkeypatch):
    # the hook as it would sit in closedloop.closed_loop
    from lrcontrol import closedloop

    derive = closedloop._derive

    def wired(rule, *args):
        try:
            return derive(rule, *args)
        except NotImplementedError as err:
            raise explain_nonlinear(rule, err) from err

    monkeypatch.setattr(closedloop, "_derive", wired)
    path = EXAMPLES / "my_normalized_gd.toml"
    assert main(["report", "--rule-file", str(path), "--curvature", "1"]) \
        == 2
    _, err = capsys.readouterr()
    line = path.read_text().splitlines().index(
        's = "beta2*s + (1 - beta2)*g^2"') + 1
    assert err.startswith(f"lrcontrol: error: {path}:{line}: [update] s: "
                          "the closed loop is not linear here")


def test_a_byte_order_mark_is_read_as_the_editor_meant(tmp_path):
    # heavy ball saved by an editor that writes a UTF-8 byte-order mark
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + HEAVY_BALL.encode("utf-8"))
    rule = load_rule(path)
    # heavy ball: z^2 + (eta h - beta - 1) z + beta
    eta, beta = (rule.parameter(n).symbol for n in ("learning_rate",
                                                    "momentum"))
    z, h = sympy.Symbol("z"), sympy.Symbol("h", positive=True)
    expected = z**2 + (eta * h - beta - 1) * z + beta
    got = closed_loop(rule).char_poly.as_expr()
    assert sympy.expand(got - expected) == 0


def test_arithmetic_errors_name_the_line_and_item(tmp_path):
    # the division is found when the update is recorded, after parsing;
    # the message must still say where
    path = tmp_path / "div0.toml"
    path.write_text(HEAVY_BALL.replace(
        'v = "momentum*v - learning_rate*grad(x)"',
        'v = "momentum*v - learning_rate*grad(x)/0"'))
    with pytest.raises(RuleFileError, match=r"div0\.toml:9: \[update\] v: "
                       r"division by zero"):
        load_rule(path)


def test_transcendental_constants_are_analysed():
    # heavy ball with momentum exp(-1/tau): stable iff eta h < 2 (1 + beta),
    # so at tau = 2, h = 1 the largest stable learning rate is
    # 2 (1 + exp(-1/2)); SymPy cannot isolate real roots over Q(e) exactly
    text = HEAVY_BALL.replace(
        'momentum = { default = 0.9, domain = "[0, 1)" }',
        'tau = { default = 2, domain = "positive" }').replace(
        'v = "momentum*v', 'v = "exp(-1/tau)*v')
    rule = rule_from_text(text, "tau.toml")
    limit = lrcontrol.max_stable_learning_rate(rule, 1.0)
    assert limit == pytest.approx(2 * (1 + math.exp(-0.5)), rel=1e-12)
