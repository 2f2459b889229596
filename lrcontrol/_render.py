"""Renderings of a Report: text, Markdown, HTML, LaTeX, and its figures."""

from __future__ import annotations

import base64
import html
import io
import math

import numpy as np
import sympy

from ._symbols import h as _h, z as _z

__all__ = [
    "render_text",
    "render_markdown",
    "render_html",
    "render_latex",
    "report_figures",
]


def _num(value, digits=6) -> str:
    if value is None:
        return "n/a"
    value = float(value)
    if math.isinf(value):
        return "inf"
    if math.isnan(value):
        return "n/a"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.{digits}g}"


def _verdict_text(report):
    s, c = report.stability, report.curvatures
    if c.kind == "value":
        text = f"{s.verdict.upper()} at h = {_num(c.max)}"
    elif c.kind == "interval":
        text = (f"{s.verdict.upper()}: the worst over every h in "
                f"[{_num(c.min)}, {_num(c.max)}]")
    else:
        counts = {v: sum(m.verdict == v for m in s.modes)
                  for v in ("stable", "marginal", "unstable")}
        parts = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
        modes = "mode" if len(s.modes) == 1 else "modes"
        text = (f"{s.verdict.upper()}: the worst of {len(s.modes)} "
                f"{modes} ({parts})")
    if s.verdict == "unstable" and s.spectral_radius == 1.0:
        # unstable at radius 1: a repeated root on the unit circle
        text += " (a repeated root on the unit circle; the error grows)"
    return text


# below this distance from 1, a float radius has lost the digits that
# matter: say how close it is instead of printing a rounded number
_NEAR_ONE = 1e-12


def _radius(s):
    if s.verdict == "stable" and 1 - s.spectral_radius < _NEAR_ONE:
        return f"below 1 by less than {_NEAR_ONE:g}"
    return _num(s.spectral_radius, 10)


def _steps(s):
    if s.verdict == "stable" and 1 - s.spectral_radius < _NEAR_ONE:
        # rho > 1 - d gives more than ln(1e6) / d steps
        return f"more than {_num(math.log(1e6) / _NEAR_ONE, 3)}"
    return _num(s.steps_to_reduce)


def _rows(report):
    """(label, value) pairs shared by the text, Markdown and HTML forms."""
    s, m, c = report.stability, report.margins, report.curvatures
    where = f"curvature {_num(s.worst_curvature)}"
    delay = _num(m.delay_margin_steps)
    if m.delay_margin_note:
        delay += f" ({m.delay_margin_note})"
    rows = [
        ("verdict", _verdict_text(report)),
        ("spectral radius (rate per step)", f"{_radius(s)}"
                                            f" (worst mode: {where})"),
        ("steps to reduce the error 1e6-fold", _steps(s)),
        ("largest stable learning rate", _max_lr(report)),
        ("largest stable curvature", _num(report.max_curvature)),
        (f"gain margin at h = {_num(c.max)}", _gain(m)),
        ("phase margin", _phase(m)),
        ("delay margin (stale gradient, steps)", delay),
        ("noise gain E|x - x*|^2 per unit variance", _num(report.noise)),
    ]
    return rows


def _max_lr(report):
    if report.max_learning_rate is not None:
        return _num(report.max_learning_rate)
    if report.rule.learning_rate is None:
        return ("n/a (the rule names no learning-rate parameter; a rule "
                "file says which with learning_rate = \"NAME\")")
    if report.curvatures.min == 0:
        return "none (a mode with h = 0 is marginal at every learning rate)"
    return "none (no learning rate is stable here)"


def _gain(m):
    text = _num(m.gain_margin)
    if m.python_control_gain_margin is not None and m.gain_margin and \
            not math.isclose(m.python_control_gain_margin, m.gain_margin,
                             rel_tol=1e-6):
        text += (f"  (python-control 0.10 says "
                 f"{_num(m.python_control_gain_margin)}: its phase "
                 "crossover at the Nyquist frequency is missed)")
    return text


def _phase(m):
    if m.phase_margin_deg is None:
        return "n/a (loop not stable, or several queries per step)"
    text = f"{_num(m.phase_margin_deg)} deg"
    if m.crossover_frequency is not None:
        text += f" at {_num(m.crossover_frequency)} rad/step"
    return text


def _curvature_line(c):
    if c.kind == "value":
        return f"h = {_num(c.max)}"
    if c.kind == "interval":
        return f"every h in [{_num(c.min)}, {_num(c.max)}]"
    n = len(c.values)
    return (f"{n} eigenvalue{'s' if n != 1 else ''} in [{_num(c.min)}, "
            f"{_num(c.max)}] ({c.source})")


def _values_line(report):
    return ", ".join(f"{k} = {_num(v)}" for k, v in report.values.items())


def _poly_text(report):
    return _descending(report.char_poly, sympy.sstr, "*", "**")


def _poly_latex(report):
    return _descending(report.char_poly, _latex_of(report), " ", "^")


def _latex_of(report):
    """sympy.latex with the rule's own symbols (eta, beta, ...)."""
    names = {p.symbol: p.latex for p in report.rule.parameters if p.latex}

    def show(expr):
        return sympy.latex(expr, symbol_names=names)

    return show


def _descending(poly, show, times, power):
    """Terms by falling powers of z, coefficients factored."""
    n, parts = poly.degree(), []
    for i, c in enumerate(poly.all_coeffs()):
        if c == 0:
            continue
        c, k = sympy.factor(c), n - i
        zk = "" if k == 0 else "z" if k == 1 else f"z{power}{{{k}}}" \
            if power == "^" else f"z{power}{k}"
        sign = "-" if not c.is_Add and c.could_extract_minus_sign() \
            else "+"
        c = -c if sign == "-" else c
        if zk and c == 1:
            body = zk
        elif zk:
            text = show(c)
            body = (f"({text})" if c.is_Add else text) + times + zk
        else:
            body = f"({show(c)})" if c.is_Add else show(c)
        parts.append((sign, body))
    text = " ".join(f"{s} {b}" for s, b in parts)
    return text[2:] if text.startswith("+ ") else "-" + text[2:]


def _crosscheck_line(cc):
    if cc is None:
        return "not run"
    if cc.points == 0:
        return (f"nothing compared: all {cc.near_boundary} grid points lie "
                "within the boundary band")
    verdict = "AGREE" if cc.agree else f"{cc.disagreements} DISAGREE"
    return (f"{verdict}: {cc.points} grid points compared, each on "
            f"{cc.modes} mode{'s' if cc.modes != 1 else ''} "
            f"({cc.near_boundary} within the boundary band left out); "
            f"largest rate error {_num(cc.max_rate_error, 3)}")


def render_text(report) -> str:
    r = report
    out = [
        f"lrcontrol stability report: {r.rule.name}",
        "=" * 60,
        f"parameters: {_values_line(r)}",
        f"curvatures: {_curvature_line(r.curvatures)}",
        "",
        "update (in code order):",
    ]
    out += [f"  {a} = {sympy.sstr(b)}" for a, b in r.rule.equations()]
    if r.rule.conventions:
        out += ["", f"convention: {r.rule.conventions}"]
    out += ["", "characteristic polynomial:", f"  {_poly_text(r)}"]
    if r.substituted:
        out.append("  with " + ", ".join(
            f"{k} = {_num(v)}" for k, v in r.substituted.items()))
    out += ["", "stable iff (Jury):"]
    out += _conditions_text(r)
    out += [""]
    width = max(len(label) for label, _ in _rows(r))
    out += [f"{label:<{width}}  {value}" for label, value in _rows(r)]
    out += ["", f"cross-check (simulation of the rule itself): "
                f"{_crosscheck_line(r.crosscheck)}"]
    return "\n".join(out) + "\n"


def _conditions_text(r):
    if r.conditions is None:
        return ["  (too large to show; numeric Schur test used)"]
    if not r.conditions:
        return ["  always"]
    return [f"  {sympy.sstr(c)}" for c in r.conditions]


def render_markdown(report, figure_stem=None) -> str:
    r = report
    out = [f"# Stability report: `{r.rule.name}`", "",
           f"- parameters: {_values_line(r)}",
           f"- curvatures: {_curvature_line(r.curvatures)}", "",
           "## Update (in code order)", "", "```"]
    out += [f"{a} = {sympy.sstr(b)}" for a, b in r.rule.equations()]
    out += ["```", ""]
    if r.rule.conventions:
        out += [f"Convention: {r.rule.conventions}", ""]
    out += ["## Characteristic polynomial", "",
            f"$$ {_poly_latex(r)} $$", ""]
    if r.substituted:
        out += ["with " + ", ".join(f"`{k} = {_num(v)}`"
                                    for k, v in r.substituted.items()), ""]
    out += ["## Stable if and only if", ""]
    tex = _latex_of(r)
    out += ([f"- ${tex(c)}$" for c in r.conditions]
            if r.conditions else _conditions_text(r))
    out += ["", "## At these values", "", "| quantity | value |",
            "|---|---|"]
    out += [f"| {_md(label)} | {_md(value)} |" for label, value in _rows(r)]
    out += ["", "## Cross-check", "", _crosscheck_line(r.crosscheck), ""]
    if figure_stem:
        out += ["## Figures", "",
                f"![step response]({figure_stem}_step.png)", "",
                f"![stability region]({figure_stem}_region.png)", ""]
    return "\n".join(out)


def _md(text) -> str:
    """Text safe inside a Markdown table cell."""
    for ch in ("\\", "|", "*", "_"):
        text = str(text).replace(ch, "\\" + ch)
    return text


def render_html(report) -> str:
    r = report
    esc = html.escape
    rows = "".join(f"<tr><td>{esc(a)}</td><td>{esc(b)}</td></tr>"
                   for a, b in _rows(r))
    update = esc("\n".join(f"{a} = {sympy.sstr(b)}"
                           for a, b in r.rule.equations()))
    conds = "".join(f"<li><code>{esc(c)}</code></li>"
                    for c in _conditions_text(r))
    figs = "".join(
        f'<figure><img alt="{name}" src="data:image/png;base64,'
        f'{_png64(fig)}"/></figure>'
        for name, fig in report_figures(r).items()
    )
    return (
        f"<div class='lrcontrol-report'><h2>Stability report: "
        f"<code>{esc(r.rule.name)}</code></h2>"
        f"<p>parameters: {esc(_values_line(r))}<br/>"
        f"curvatures: {esc(_curvature_line(r.curvatures))}</p>"
        f"<h3>Update</h3><pre>{update}</pre>"
        f"<p>{esc(r.rule.conventions)}</p>"
        f"<h3>Characteristic polynomial</h3><pre>{esc(_poly_text(r))}</pre>"
        f"<h3>Stable if and only if</h3><ul>{conds}</ul>"
        f"<h3>At these values</h3><table>{rows}</table>"
        f"<h3>Cross-check</h3><p>{esc(_crosscheck_line(r.crosscheck))}</p>"
        f"{figs}</div>"
    )


def render_latex(report, figure_stem=None) -> str:
    r = report
    tex = _latex_of(r)
    rows = "\n".join(
        f"{_tex_escape(a)} & {_tex_escape(b)} \\\\" for a, b in _rows(r))
    conds = "\n".join(f"  \\item ${tex(c)}$" for c in r.conditions) \
        if r.conditions else "  \\item " + _tex_escape(
            _conditions_text(r)[0].strip())
    # left sides as SymPy writes them on the right (v_new -> v_{new});
    # no line break after the last line of the align
    update = " \\\\\n".join(
        f"  {tex(sympy.Symbol(a))} &\\leftarrow {tex(b)}"
        for a, b in r.rule.equations())
    figures = ""
    if figure_stem:
        figures = "\n".join(
            f"\\begin{{figure}}[h]\\centering\\includegraphics[width=0.8"
            f"\\linewidth]{{{figure_stem}_{name}.png}}\\end{{figure}}"
            for name in ("step", "region"))
    return f"""\\documentclass{{article}}
\\usepackage{{amsmath,graphicx}}
\\begin{{document}}
\\section*{{Stability report: \\texttt{{{_tex_escape(r.rule.name)}}}}}
Parameters: {_tex_escape(_values_line(r))}. \\\\
Curvatures: {_tex_escape(_curvature_line(r.curvatures))}.
\\subsection*{{Update}}
\\begin{{align*}}
{update}
\\end{{align*}}
\\subsection*{{Characteristic polynomial}}
\\[ {_poly_latex(r)} \\]
\\subsection*{{Stable if and only if}}
\\begin{{itemize}}
{conds}
\\end{{itemize}}
\\subsection*{{At these values}}
\\begin{{tabular}}{{lp{{0.55\\linewidth}}}}
{rows}
\\end{{tabular}}
\\subsection*{{Cross-check}}
{_tex_escape(_crosscheck_line(r.crosscheck))}
{figures}
\\end{{document}}
"""


def _tex_escape(text) -> str:
    text = str(text)
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"),
                 ("$", r"\$"), ("#", r"\#"), ("_", r"\_"), ("{", r"\{"),
                 ("}", r"\}"), ("~", r"\textasciitilde{}"),
                 ("^", r"\textasciicircum{}"), ("|", r"\textbar{}"),
                 ("<", r"\textless{}"), (">", r"\textgreater{}")):
        text = text.replace(a, b)
    return text


def _png64(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    _close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _close(fig):
    import matplotlib.pyplot as plt

    plt.close(fig)


def report_figures(report) -> dict:
    """The step-response and stability-region figures of a report."""
    return {"step": _step_figure(report), "region": _region_figure(report)}


def _step_figure(report):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.4))
    ax = fig.subplots()
    for h, (t, e) in report.step.items():
        ax.plot(t, e, label=f"h = {_num(h, 4)}")
    ax.axhline(0, color="0.6", lw=0.8)
    ax.set_xlabel("step k")
    ax.set_ylabel("error x[k] - x*")
    ax.set_title(f"{report.rule.name}: unit shift of the optimum at k = 0")
    ax.legend()
    fig.tight_layout()
    return fig


def _region_figure(report, num=120):
    """Rate map with the exact boundary, the current point starred."""
    from matplotlib.figure import Figure

    from .plotting import plot_rate_map
    from .regions import stability_region

    x_axis, y_axis, fixed, curvature = _region_axes(report, num)
    region = stability_region(report.rule, x_axis, y_axis, fixed,
                              curvature)
    fig = Figure(figsize=(6, 4.2))
    ax = fig.subplots()
    plot_rate_map(region, ax=ax)
    px = float(report.values[x_axis[0]])
    py = report.curvatures.max if y_axis[0] == "curvature" else \
        float(report.values[y_axis[0]])
    ax.plot([px], [py], marker="*", color="white", mec="black", ms=14,
            label="these values")
    ax.set_title(f"{report.rule.name}: rate per step (worst mode)")
    fig.tight_layout()
    return fig


def _region_axes(report, num):
    """Learning rate by the next shown parameter, else by the curvature."""
    rule = report.rule
    x_name = rule.learning_rate or rule.parameters[0].name
    others = [p for p in rule.parameters if p.name != x_name
              and not p.domain.flag and p.name not in report.substituted]
    top = report.max_learning_rate
    x_top = 1.6 * top if top and math.isfinite(top) else \
        4 * float(report.values[x_name])
    x_axis = (x_name, x_top / num, x_top, num)
    fixed = {k: v for k, v in report.values.items() if k != x_name}
    if not others:
        c = report.curvatures
        return x_axis, ("curvature", c.max / num, 2 * c.max, num), fixed, \
            None
    d = others[0].domain
    lo = float(d.low) if d.low.is_finite else 0.0
    hi = float(d.high) if d.high.is_finite else 2.0
    fixed.pop(others[0].name)
    curvature = report.curvatures
    curvature = (curvature.min, curvature.max) if curvature.kind == \
        "interval" else np.array(curvature.values)
    return x_axis, (others[0].name, lo, hi, num), fixed, curvature
