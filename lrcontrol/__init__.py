"""lrcontrol: optimizers and learning-rate rules as closed loops."""

from .catalog import get_rule, list_rules, register
from .closedloop import ClosedLoop, characteristic_polynomial, closed_loop
from .rules import Assign, Domain, Parameter, Query, Rule, State, exact

__version__ = "0.1.0"

__all__ = [
    "Assign",
    "ClosedLoop",
    "Domain",
    "Parameter",
    "Query",
    "Rule",
    "State",
    "characteristic_polynomial",
    "closed_loop",
    "exact",
    "get_rule",
    "list_rules",
    "register",
]
