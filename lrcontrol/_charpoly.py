r"""Steps shared by regions and tuning on a rule's characteristic polynomial.

Both :func:`lrcontrol.regions.stability_region` and
:func:`lrcontrol.tuning.optimal_tuning` hold some of a rule's parameters
fixed, substitute them into the characteristic polynomial :math:`p(z)`
and evaluate the rest numerically over sampled curvatures :math:`h`.
The steps they share live here, so that both read the names and values
they are given in the same way and sample an interval of curvatures on
the same grids.
"""

from __future__ import annotations

import numpy as np
import sympy

from .rules import exact

__all__ = [
    "check_parameter_name",
    "fixed_values",
    "sampled_curvatures",
    "substitute_fixed",
]


def check_parameter_name(rule, name, argument):
    """Raise unless `name` is a parameter of `rule`.

    Parameters
    ----------
    rule : Rule
        The rule.
    name : str
        The name given.
    argument : str
        The caller's argument that gave it, for the message (``"fixed"``,
        ``"over"``).

    Raises
    ------
    ValueError
        When `rule` has no parameter `name`.
    """
    known = [p.name for p in rule.parameters]
    if name not in known:
        raise ValueError(
            f"`{argument}` must name parameters of rule {rule.name!r} "
            f"({', '.join(known)}), got {name!r}."
        )


def fixed_values(rule, fixed, free, role, *, check_domain=False):
    """Exact values of the parameters of `rule` that are not in `free`.

    Parameters
    ----------
    rule : Rule
        The rule.
    fixed : mapping or None
        Values given for some parameters; defaults fill the rest.
    free : collection of str
        The parameters that vary (axes of a region, tuned parameters);
        `fixed` must not give them.
    role : str
        What the free parameters are, for the message: ``"an axis"`` or
        ``"tuned"``.
    check_domain : bool
        Whether each value must lie in its parameter's declared domain.

    Returns
    -------
    dict of str to sympy.Expr
        Exact values, in the order of the rule's parameters.

    Raises
    ------
    ValueError
        For an unknown or free name, a parameter with neither a value nor
        a default, or (with `check_domain`) a value outside its domain.
    """
    fixed = dict(fixed or {})
    for name in fixed:
        check_parameter_name(rule, name, "fixed")
        if name in free:
            raise ValueError(
                f"`fixed` must not give {name!r}, which is {role}."
            )
    out = {}
    for p in rule.parameters:
        if p.name in free:
            continue
        value = fixed.get(p.name, p.default)
        if value is None:
            raise ValueError(
                f"`fixed` must give a value for {p.name!r}; it has no "
                "default."
            )
        value = exact(value, p.name)
        if check_domain and not p.domain.contains(value):
            raise ValueError(
                f"`{p.name}` must lie in {p.domain.describe()}, got "
                f"{float(value)!r}."
            )
        out[p.name] = value
    return out


def substitute_fixed(rule, coeffs, fixed):
    """Coefficients of :math:`p(z)` with the `fixed` values substituted.

    Parameters
    ----------
    rule : Rule
        The rule whose parameters `fixed` names.
    coeffs : sequence of sympy.Expr
        Coefficients of the characteristic polynomial, highest power
        first.
    fixed : mapping of str to sympy.Expr
        Exact values, as from :func:`fixed_values`.

    Returns
    -------
    list of sympy.Expr
        The expanded coefficients, without trailing zeros.
    """
    params = {p.name: p.symbol for p in rule.parameters}
    subs = {params[n]: v for n, v in fixed.items()}
    coeffs = [sympy.expand(c.xreplace(subs)) for c in coeffs]
    # roots at z = 0 never reach the unit circle: deflate them
    while len(coeffs) > 1 and coeffs[-1] == 0:
        coeffs.pop()
    return coeffs


def sampled_curvatures(mu, top, samples):
    """Curvatures sampled on an interval [mu, L], sorted and distinct.

    The union of `samples` equally spaced values and `samples`
    geometrically spaced ones from ``max(mu, 1e-6 * L)``, so that small
    curvatures, where rates are often worst, are sampled densely too.
    """
    grids = [np.linspace(mu, top, samples),
             np.geomspace(max(mu, top * 1e-6), top, samples)]
    return np.unique(np.concatenate(grids))
