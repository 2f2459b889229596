"""lrcontrol: optimizers and learning-rate rules as discrete-time closed loops.

Every rule is written once, in code order; SymPy derives its closed loop
with a quadratic model, exact stability follows from the characteristic
polynomial, python-control gives margins and responses, and a simulation
of the rule itself cross-checks the answers.
"""

from . import spectra
from ._version import __version__
from .analysis import (
    Stability,
    max_stable,
    max_stable_curvature,
    max_stable_learning_rate,
    stability_over,
    stable_values,
)
from .catalog import get_rule, list_rules, register
from .closedloop import ClosedLoop, characteristic_polynomial, closed_loop
from .curvature import Curvatures, as_curvatures
from .errors import LRControlWarning
from .expressions import ExpressionError, parse_expression
from .loops import (
    Margins,
    delay_margin,
    loop_gain,
    margins,
    noise_gain,
    state_space,
    step_response,
)
from .regions import (
    Axis,
    BoundaryCurve,
    SimulationOverlay,
    StabilityRegion,
    stability_region,
)
from .reports import Report, report
from .rulefile import RuleFileError, load_rule
from .rules import Assign, Domain, Parameter, Query, Rule, State, exact
from .simulation import CrossCheck, Trajectory, crosscheck, empirical_rate
from .simulation import simulate
from .stability import Verdict, classify, jury_conditions, spectral_radius
from .tuning import Tuning, optimal_tuning, worst_case_radius

__all__ = [
    "Assign",
    "Axis",
    "BoundaryCurve",
    "ClosedLoop",
    "CrossCheck",
    "Curvatures",
    "Domain",
    "ExpressionError",
    "LRControlWarning",
    "Margins",
    "Parameter",
    "Query",
    "Report",
    "Rule",
    "RuleFileError",
    "SimulationOverlay",
    "Stability",
    "StabilityRegion",
    "State",
    "Trajectory",
    "Tuning",
    "Verdict",
    "as_curvatures",
    "characteristic_polynomial",
    "classify",
    "closed_loop",
    "crosscheck",
    "delay_margin",
    "empirical_rate",
    "exact",
    "get_rule",
    "jury_conditions",
    "list_rules",
    "load_rule",
    "loop_gain",
    "margins",
    "max_stable",
    "max_stable_curvature",
    "max_stable_learning_rate",
    "noise_gain",
    "optimal_tuning",
    "parse_expression",
    "register",
    "report",
    "simulate",
    "spectra",
    "spectral_radius",
    "stability_over",
    "stability_region",
    "stable_values",
    "state_space",
    "step_response",
    "worst_case_radius",
]
