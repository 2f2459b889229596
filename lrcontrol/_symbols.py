"""Symbols shared by every module, created once with their assumptions."""

import sympy

__all__ = ["z", "h", "k", "RESERVED_NAMES"]

#: Shift variable of the characteristic polynomial.
z = sympy.Symbol("z")

#: Curvature of one mode of the quadratic model (an eigenvalue of H).
h = sympy.Symbol("h", positive=True)

#: Step index, for parameters that change with the step.
k = sympy.Symbol("k", integer=True, nonnegative=True)

#: Names a rule may not give to its parameters or states.
RESERVED_NAMES = frozenset({"z", "h", "k", "grad", "x_star", "noise"})
