r"""Plots (matplotlib): regions, rate maps, simulations, loci, loops.

Every function takes ``ax=None`` (a new figure is made when None),
draws, and returns a :class:`Drawn`: the axes and the artists, by role.
Nothing is shown; call ``matplotlib.pyplot.show()`` or save the figure.

- :func:`plot_region`: verdict map with the exact boundary curves.
- :func:`plot_rate_map`: spectral-radius map with contour lines.
- :func:`plot_simulation`: markers where iterating the rule converged
  or diverged, over a region.
- :func:`plot_root_locus`: the roots as the curvature sweeps a range.
- :func:`plot_step_response`: the error after a unit shift of the
  optimum.
- :func:`plot_bode`, :func:`plot_nyquist`: the loop gain
  :math:`L(z) = -h\,C_q (zI - A_s)^{-1} A_u` through python-control.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import sympy
from matplotlib.colors import FuncNorm, ListedColormap, Normalize

from ._schur import all_roots, stack_coefficients
from ._symbols import h as _h
from .catalog import get_rule
from .closedloop import closed_loop
from .regions import SimulationOverlay, StabilityRegion
from .rules import Rule

__all__ = [
    "Drawn",
    "plot_bode",
    "plot_nyquist",
    "plot_rate_map",
    "plot_region",
    "plot_root_locus",
    "plot_simulation",
    "plot_step_response",
]

#: Colours of the verdicts stable, marginal, unstable.
VERDICT_COLORS = ("#9ecae1", "#fdae6b", "#f2f2f2")

#: Colours of the boundary kinds.
BOUNDARY_STYLES = {
    "z=1": {"color": "#08519c", "label": "root at z = 1"},
    "z=-1": {"color": "#a50f15", "label": "root at z = -1"},
    "complex": {"color": "#006d2c", "label": r"pair at $e^{\pm i\omega}$"},
}


@dataclass(frozen=True, eq=False)
class Drawn:
    """What a plot function drew.

    Attributes
    ----------
    ax : matplotlib.axes.Axes or tuple of Axes
        Where it was drawn.
    artists : dict
        Artists by role (``"map"``, ``"boundaries"``, ``"contours"``,
        ...); a role maps to one artist or a list.
    """

    ax: object
    artists: dict


def _axes(ax):
    if ax is None:
        _, ax = plt.subplots()
    return ax


def _check_region(region):
    if not isinstance(region, StabilityRegion):
        raise TypeError(
            "`region` must be a StabilityRegion, got "
            f"{type(region).__name__}."
        )


def _label_axes(ax, region):
    ax.set_xlabel(region.x_axis.name)
    ax.set_ylabel(region.y_axis.name)
    ax.set_xscale("log" if region.x_axis.log else "linear")
    ax.set_yscale("log" if region.y_axis.log else "linear")
    ax.set_xlim(region.x_axis.low, region.x_axis.high)
    ax.set_ylim(region.y_axis.low, region.y_axis.high)


def _draw_boundaries(ax, region, labels=True):
    lines, seen = [], set()
    for curve in region.boundaries:
        style = dict(BOUNDARY_STYLES[curve.kind])
        if not labels or curve.kind in seen:
            style.pop("label")
        seen.add(curve.kind)
        # clip_on=False: pieces on the window's edge stay visible
        (line,) = ax.plot(curve.x, curve.y, lw=2, clip_on=False, zorder=3,
                          **style)
        lines.append(line)
    return lines


def _draw_domain(ax, region):
    if region.in_domain.all():
        return None
    outside = (~region.in_domain).astype(float)
    return ax.contourf(region.x, region.y, outside, levels=[0.5, 1.5],
                       colors="none", hatches=["///"])


def plot_region(
    region: StabilityRegion,
    ax=None,
    *,
    boundaries: bool = True,
    domain: bool = True,
    legend: bool = True,
) -> Drawn:
    """Draw the verdict map and the exact boundary curves.

    Stable points are blue, marginal ones orange, unstable ones light
    grey; the boundary is drawn as curves (one colour per kind of root
    crossing), and points outside the rule's declared domains hatched.

    Examples
    --------
    >>> from lrcontrol.regions import stability_region
    >>> r = stability_region("gradient-descent",
    ...                      y=("curvature", 0.5, 2, 20),
    ...                      x=("learning_rate", 0, 4, 20))
    >>> drawn = plot_region(r)
    >>> sorted(drawn.artists)
    ['boundaries', 'domain', 'legend', 'map']
    """
    _check_region(region)
    ax = _axes(ax)
    cmap = ListedColormap(list(VERDICT_COLORS))
    mesh = ax.pcolormesh(region.x, region.y, region.codes, cmap=cmap,
                         vmin=-0.5, vmax=2.5, shading="nearest")
    artists = {"map": mesh, "boundaries": [], "domain": None,
               "legend": None}
    if boundaries:
        artists["boundaries"] = _draw_boundaries(ax, region)
    if domain:
        artists["domain"] = _draw_domain(ax, region)
    _label_axes(ax, region)
    ax.set_title(f"{region.rule.name}: stability region")
    if legend and artists["boundaries"]:
        artists["legend"] = ax.legend(loc="best", fontsize="small")
    return Drawn(ax, artists)


def plot_rate_map(
    region: StabilityRegion,
    ax=None,
    *,
    scale: str = "auto",
    levels=None,
    boundaries: bool = True,
    colorbar: bool = True,
) -> Drawn:
    r"""Draw the spectral radius (rate per step) with contour lines.

    Points with a radius of 1 or more are grey, and the boundary curves
    mark where the rate reaches 1.

    Parameters
    ----------
    region : StabilityRegion
        A region computed with ``radius=True``.
    ax : matplotlib.axes.Axes, optional
    scale : {"auto", "linear", "log"}
        ``"linear"`` spans rates 0 to 1.  ``"log"`` spaces the colours by
        the digits of :math:`1 - 
ho` (0.9, 0.99, 0.999, ...), which is
        what tells slow rates apart: with an ill-conditioned spectrum
        every stable rate is close to 1.  ``"auto"`` takes ``"log"`` when
        every stable rate is above 0.9.
    levels : sequence of float, optional
        Contour levels; by default 0.5, 0.8, 0.9, 0.95, 0.99 on the
        linear scale and :math:`1 - 10^{-j}` within the map's range on
        the log scale.
    boundaries, colorbar : bool

    Examples
    --------
    >>> from lrcontrol.regions import stability_region
    >>> r = stability_region("heavy-ball", x=("learning_rate", 0, 4, 30),
    ...                      y=("momentum", 0, 0.99, 30))
    >>> drawn = plot_rate_map(r, scale="linear")
    >>> len(drawn.artists["contours"].levels)
    5
    """
    _check_region(region)
    if region.spectral_radius is None:
        raise ValueError(
            "`region` must have a spectral-radius map; compute it with "
            "radius=True."
        )
    if scale not in ("auto", "linear", "log"):
        raise ValueError(
            f"`scale` must be 'auto', 'linear' or 'log', got {scale!r}."
        )
    rho = region.spectral_radius
    stable = rho[rho < 1]
    if scale == "auto":
        scale = "log" if stable.size and stable.min() > 0.9 else "linear"
    if scale == "log" and not stable.size:
        scale = "linear"

    ax = _axes(ax)
    norm, levels, ticks = _rate_scale(stable, scale, levels)
    cmap = plt.get_cmap("viridis").with_extremes(over="#d9d9d9",
                                                 bad="#d9d9d9")
    shown = rho if scale == "linear" else np.where(rho < 1, rho, np.nan)
    mesh = ax.pcolormesh(region.x, region.y, shown, cmap=cmap, norm=norm,
                         shading="nearest")
    contours = None
    if len(levels):
        contours = ax.contour(region.x, region.y, rho, levels=levels,
                              colors="white", linewidths=0.8)
        ax.clabel(contours, fontsize="x-small", fmt="%.10g")
    artists = {"map": mesh, "contours": contours, "boundaries": [],
               "colorbar": None, "scale": scale}

    if boundaries:
        artists["boundaries"] = _draw_boundaries(ax, region, labels=False)
    if colorbar:
        artists["colorbar"] = ax.figure.colorbar(
            mesh, ax=ax, extend="max", ticks=ticks,
            label="spectral radius (rate per step)")
        if ticks is not None:
            artists["colorbar"].ax.set_yticklabels(
                [f"{t:.10g}" for t in ticks])
    _label_axes(ax, region)
    ax.set_title(f"{region.rule.name}: rate map")
    return Drawn(ax, artists)


def _rate_scale(stable, scale, levels):
    """Colour norm, contour levels and colourbar ticks for a rate map."""
    if scale == "linear":
        levels = (0.5, 0.8, 0.9, 0.95, 0.99) if levels is None else levels
        return Normalize(0.0, 1.0), sorted(levels), None

    # colour by the digits of 1 - rho: t = -log10(1 - rho)
    def forward(r):
        return -np.log10(np.clip(1 - np.asarray(r, float), 1e-16, None))

    def inverse(t):
        return 1 - 10.0 ** -np.asarray(t, float)

    low, high = float(stable.min()), float(stable.max())
    if forward(high) - forward(low) < 1e-3:
        low, high = inverse(forward(low) - 0.5), inverse(forward(high) + 0.5)
    digits = [1 - 10.0**-j for j in range(1, 17)]
    inside = [d for d in digits if low <= d <= high]
    if levels is None:
        levels = inside
    return FuncNorm((forward, inverse), low, high), sorted(levels), \
        inside or None


def plot_simulation(
    region: StabilityRegion | SimulationOverlay,
    ax=None,
    *,
    overlay: StabilityRegion | None = None,
    points=(8, 8),
    num_steps: int = 600,
) -> Drawn:
    """Mark where iterating the rule itself converged or diverged.

    `region` is a :class:`StabilityRegion` (its rule is then simulated
    at a subgrid of in-domain points, see
    :meth:`StabilityRegion.simulate`) or an already computed
    :class:`SimulationOverlay`.  Circles: measured rate below 1; crosses:
    not.  Draw it over :func:`plot_region` to compare.

    Examples
    --------
    >>> from lrcontrol.regions import stability_region
    >>> r = stability_region("gradient-descent",
    ...                      x=("learning_rate", 0.1, 3, 20),
    ...                      y=("curvature", 0.5, 1.5, 20))
    >>> drawn = plot_simulation(r, points=(3, 3), num_steps=200)
    >>> len(drawn.artists["converged"].get_offsets())
    6
    >>> sim = drawn.artists["overlay"]
    >>> bool(((sim.predicted == 0) == sim.converged).all())
    True
    """
    if isinstance(region, StabilityRegion):
        sim = region.simulate(points=points, num_steps=num_steps)
    elif isinstance(region, SimulationOverlay):
        sim = region
    else:
        raise TypeError(
            "`region` must be a StabilityRegion or a SimulationOverlay, got "
            f"{type(region).__name__}."
        )
    ax = _axes(ax)
    ok = sim.converged
    converged = ax.scatter(sim.x[ok], sim.y[ok], marker="o",
                           facecolors="none", edgecolors="black",
                           label="simulation converged")
    diverged = ax.scatter(sim.x[~ok], sim.y[~ok], marker="x", color="black",
                          label="simulation did not converge")
    return Drawn(ax, {"converged": converged, "diverged": diverged,
                      "overlay": sim})


def _numeric_poly(rule, values, delay):
    rule = get_rule(rule)
    values = rule.values(values or {})
    poly = closed_loop(rule, None, values, delay=delay).char_poly
    return sympy.lambdify(_h, poly.all_coeffs(), "numpy")


def _curvature_range(curvature, points):
    if isinstance(curvature, tuple) and len(curvature) == 2:
        low, high = (float(v) for v in curvature)
        if not 0 <= low < high:
            raise ValueError(
                f"`curvature` must be a range (low, high) with 0 <= low < "
                f"high, got {curvature!r}."
            )
        return np.linspace(low, high, points)
    values = np.atleast_1d(np.asarray(curvature, dtype=float))
    if values.ndim != 1 or np.any(values < 0) or not values.size:
        raise ValueError(
            "`curvature` must be a range (low, high) or non-negative "
            f"values, got {curvature!r}."
        )
    return values


def plot_root_locus(
    rule: Rule | str,
    curvature=(0.0, 4.0),
    values: Mapping | None = None,
    ax=None,
    *,
    points: int = 400,
    delay: int = 0,
    colorbar: bool = True,
) -> Drawn:
    """Draw the roots of the characteristic polynomial as ``h`` sweeps.

    Each root is coloured by its curvature; the unit circle is drawn so
    that the crossing curvatures can be read off.

    Examples
    --------
    >>> drawn = plot_root_locus("heavy-ball", (0.0, 4.0),
    ...                         {"learning_rate": 1.0, "momentum": 0.5})
    >>> drawn.artists["roots"].get_offsets().shape
    (800, 2)
    """
    fn = _numeric_poly(rule, values, delay)
    hs = _curvature_range(curvature, points)
    a = stack_coefficients(fn(hs), (hs,))
    roots = all_roots(a)
    ax = _axes(ax)
    t = np.linspace(0, 2 * np.pi, 361)
    (circle,) = ax.plot(np.cos(t), np.sin(t), color="grey", lw=0.8)
    colors = np.repeat(hs, roots.shape[1])
    scatter = ax.scatter(roots.real.ravel(), roots.imag.ravel(), c=colors,
                         s=6, cmap="plasma")
    bar = ax.figure.colorbar(scatter, ax=ax, label="curvature h") \
        if colorbar else None
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("Re z")
    ax.set_ylabel("Im z")
    ax.set_title(f"{get_rule(rule).name}: root locus in h")
    return Drawn(ax, {"roots": scatter, "circle": circle, "colorbar": bar})


def _modes(curvature):
    if isinstance(curvature, tuple) and len(curvature) == 2:
        low, high = (float(v) for v in curvature)
        return [low, float(np.sqrt(low * high)), high] if low > 0 \
            else [low, 0.5 * (low + high), high]
    return [float(v) for v in np.atleast_1d(curvature)][:12]


def plot_step_response(
    rule: Rule | str,
    curvature=1.0,
    values: Mapping | None = None,
    ax=None,
    *,
    num_steps: int | None = None,
) -> Drawn:
    """Draw the error ``x - x_star`` after a unit shift of the optimum.

    One line per curvature: the given one, the ends and the geometric
    middle of an interval, or up to 12 values of a spectrum.  The
    horizon comes from the pole moduli unless `num_steps` is given (see
    :func:`lrcontrol.loops.step_response`).

    Examples
    --------
    >>> drawn = plot_step_response("gradient-descent", 1.0,
    ...                            {"learning_rate": 0.5}, num_steps=10)
    >>> drawn.artists["lines"][0].get_ydata()[:3].tolist()
    [-1.0, -0.5, -0.25]
    """
    from .loops import step_response

    ax = _axes(ax)
    lines = []
    for h in _modes(curvature):
        resp = step_response(rule, h, values, num_steps=num_steps)
        (line,) = ax.plot(resp.time, np.ravel(resp.outputs), marker=".",
                          drawstyle="steps-post", label=f"h = {h:g}")
        lines.append(line)
    ax.axhline(0.0, color="grey", lw=0.8)
    ax.set_xlabel("step k")
    ax.set_ylabel("error x - x*")
    ax.set_title(f"{get_rule(rule).name}: step response")
    legend = ax.legend(fontsize="small")
    return Drawn(ax, {"lines": lines, "legend": legend})


def _frequencies(omega):
    if omega is None:
        return np.geomspace(1e-3, np.pi, 600)
    omega = np.asarray(omega, dtype=float)
    if omega.ndim != 1 or np.any(omega <= 0) or np.any(omega > np.pi):
        raise ValueError(
            "`omega` must be frequencies in (0, pi] rad/step, got "
            f"{omega!r}."
        )
    return omega


def _response(rule, curvature, values, omega):
    """Frequencies, magnitude and unwrapped phase of the loop gain."""
    import control

    from .loops import loop_gain

    w = _frequencies(omega)
    L = loop_gain(rule, curvature, values)
    resp = control.frequency_response(L, w)
    return w, np.ravel(resp.magnitude), np.unwrap(np.ravel(resp.phase))


def plot_bode(
    rule: Rule | str,
    curvature=1.0,
    values: Mapping | None = None,
    ax=None,
    *,
    omega=None,
) -> Drawn:
    r"""Draw the Bode diagram of the loop gain :math:`L(e^{i\omega})`.

    `ax` is None or a pair of axes (magnitude, phase).  The magnitude is
    in dB, the phase in degrees, the frequency in rad/step up to the
    Nyquist frequency :math:`\pi`.

    Examples
    --------
    >>> drawn = plot_bode("gradient-descent", 1.0, {"learning_rate": 0.5})
    >>> len(drawn.ax)
    2
    """
    if ax is None:
        _, ax = plt.subplots(2, 1, sharex=True)
    if len(ax) != 2:
        raise ValueError(
            f"`ax` must be a pair of axes (magnitude, phase), got {ax!r}."
        )
    w, mag, phase = _response(rule, curvature, values, omega)
    (m,) = ax[0].semilogx(w, 20 * np.log10(mag))
    (p,) = ax[1].semilogx(w, np.degrees(phase))
    ax[0].axhline(0.0, color="grey", lw=0.8)
    ax[1].axhline(-180.0, color="grey", lw=0.8)
    ax[0].set_ylabel("|L| (dB)")
    ax[1].set_ylabel("phase (deg)")
    ax[1].set_xlabel("frequency (rad/step)")
    ax[0].set_title(f"{get_rule(rule).name}: loop gain, h = {curvature:g}")
    return Drawn(tuple(ax), {"magnitude": m, "phase": p})


def plot_nyquist(
    rule: Rule | str,
    curvature=1.0,
    values: Mapping | None = None,
    ax=None,
    *,
    omega=None,
) -> Drawn:
    r"""Draw the Nyquist plot of the loop gain, with the point -1.

    The closed loop's poles are the roots of :math:`1 + L(z)`; the curve
    :math:`L(e^{i\omega})` for :math:`\omega \in (0, \pi]` and its mirror
    image are drawn.

    Examples
    --------
    >>> drawn = plot_nyquist("heavy-ball", 1.0)
    >>> sorted(drawn.artists)
    ['critical', 'curve', 'mirror']
    """
    ax = _axes(ax)
    _, mag, phase = _response(rule, curvature, values, omega)
    L = mag * np.exp(1j * phase)
    (curve,) = ax.plot(L.real, L.imag, color="#08519c")
    (mirror,) = ax.plot(L.real, -L.imag, color="#08519c", ls="--")
    (critical,) = ax.plot([-1.0], [0.0], "r+", ms=12, mew=2)
    ax.set_xlabel("Re L")
    ax.set_ylabel("Im L")
    ax.set_title(f"{get_rule(rule).name}: Nyquist, h = {curvature:g}")
    return Drawn(ax, {"curve": curve, "mirror": mirror,
                      "critical": critical})
