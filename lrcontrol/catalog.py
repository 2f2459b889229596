r"""Built-in rules, written with the same public API users have.

Each rule states its convention; known results are derived and tested,
not assumed (see ``tests/test_stability.py`` and ``tests/test_closedloop.py``).
"""

from __future__ import annotations

import sympy

from .rules import Parameter, Rule

__all__ = ["get_rule", "list_rules", "register"]

_LR = Parameter(
    "learning_rate", 0.1, "positive", r"\eta", "step size"
)
_MOMENTUM = Parameter(
    "momentum", 0.9, "[0, 1)", r"\beta", "momentum coefficient"
)


def _gradient_descent(s, p, grad):
    s.x = s.x - p.learning_rate * grad(s.x)


def _heavy_ball(s, p, grad):
    s.v = p.momentum * s.v - p.learning_rate * grad(s.x)
    s.x = s.x + s.v


def _nesterov(s, p, grad):
    # Sutskever et al. (2013): the gradient is taken at the look-ahead point
    s.v = p.momentum * s.v - p.learning_rate * grad(s.x + p.momentum * s.v)
    s.x = s.x + s.v


def _ema_momentum(s, p, grad):
    # Adam's first moment, preconditioner frozen (absorbed into h)
    s.m = p.beta1 * s.m + (1 - p.beta1) * grad(s.x)
    s.x = s.x - p.learning_rate * s.m


def _torch_sgd(s, p, grad):
    # torch.optim.SGD, maximize=False, after the first step (see conventions)
    g = grad(s.x) + p.weight_decay * s.x
    # PyTorch skips the buffer when momentum == 0, so dampening is ignored
    # there: sign(0) = 0 makes the buffer equal to g.
    s.buf = p.momentum * s.buf + (1 - p.dampening * sympy.sign(p.momentum)) * g
    step = p.nesterov * (g + p.momentum * s.buf) + (1 - p.nesterov) * s.buf
    s.x = s.x - p.lr * step


def _torch_sgd_check(values):
    # torch.optim.SGD raises for these; so do we
    if values["nesterov"] and (values["momentum"] <= 0
                               or values["dampening"] != 0):
        raise ValueError(
            "torch-sgd with nesterov=1 needs momentum > 0 and dampening = 0 "
            "(as torch.optim.SGD requires), got momentum="
            f"{float(values['momentum'])!r}, dampening="
            f"{float(values['dampening'])!r}."
        )


def _build():
    return {
        "gradient-descent": Rule(
            "gradient-descent",
            [_LR],
            {"x": "iterate"},
            _gradient_descent,
            "x <- x - eta grad f(x)",
            references=["Cauchy (1847)"],
        ),
        "heavy-ball": Rule(
            "heavy-ball",
            [_LR, _MOMENTUM],
            {"x": "iterate", "v": 0},
            _heavy_ball,
            "Polyak's heavy ball: v <- beta v - eta grad f(x); x <- x + v",
            references=[
                "B. T. Polyak, Some methods of speeding up the convergence "
                "of iteration methods, USSR Comput. Math. Math. Phys. (1964)"
            ],
        ),
        "nesterov": Rule(
            "nesterov",
            [_LR, _MOMENTUM],
            {"x": "iterate", "v": 0},
            _nesterov,
            "Nesterov momentum: gradient at the look-ahead x + beta v",
            conventions=(
                "Sutskever form; the reported iterate is x, not the "
                "look-ahead point x + beta v where the gradient is taken. "
                "PyTorch's nesterov=True returns the look-ahead sequence "
                "(rule torch-sgd): same characteristic polynomial, other "
                "step response and noise gain."
            ),
            references=[
                "Y. Nesterov (1983); I. Sutskever, J. Martens, G. Dahl, "
                "G. Hinton, On the importance of initialization and "
                "momentum in deep learning, ICML (2013)"
            ],
        ),
        "ema-momentum": Rule(
            "ema-momentum",
            [_LR, Parameter("beta1", 0.9, "[0, 1)", r"\beta_1",
                            "first-moment decay")],
            {"x": "iterate", "m": 0},
            _ema_momentum,
            "Adam's first moment with a frozen preconditioner",
            conventions=(
                "m <- beta1 m + (1 - beta1) g; x <- x - eta m. No bias "
                "correction (it fades after a few 1/(1 - beta1) steps); the "
                "preconditioner 1/(sqrt(v) + eps) is frozen and absorbed "
                "into the curvature h."
            ),
            references=[
                "D. P. Kingma, J. Ba, Adam: A method for stochastic "
                "optimization, ICLR (2015)"
            ],
        ),
        "torch-sgd": Rule(
            "torch-sgd",
            [
                Parameter("lr", 0.1, "positive", r"\eta", "learning rate"),
                Parameter("momentum", 0.9, "nonnegative", r"\mu",
                          "momentum factor"),
                Parameter("dampening", 0, "[0, 1]", r"\tau",
                          "dampening for momentum"),
                Parameter("nesterov", 0, "bool", r"\nu",
                          "1 for Nesterov momentum"),
                Parameter("weight_decay", 0, "nonnegative", r"\lambda",
                          "L2 penalty added to the gradient"),
            ],
            {"x": "iterate", "buf": 0},
            _torch_sgd,
            "torch.optim.SGD semantics with PyTorch's parameter names",
            conventions=(
                "g = grad + weight_decay * x (the decay is coupled and "
                "multiplied by lr); buf <- momentum buf + (1 - dampening) g; "
                "step = g + momentum buf if nesterov else buf; "
                "x <- x - lr step. PyTorch starts the buffer at g on the "
                "first step instead of (1 - dampening) g: that changes one "
                "transient step, not stability or rates."
            ),
            references=["PyTorch documentation, torch.optim.SGD"],
            check=_torch_sgd_check,
        ),
    }


_CATALOG: dict[str, Rule] = {}


def _catalog():
    if not _CATALOG:
        _CATALOG.update(_build())
    return _CATALOG


def list_rules() -> list[str]:
    """Names of the built-in and registered rules.

    Examples
    --------
    >>> "heavy-ball" in list_rules()
    True
    """
    return list(_catalog())


def get_rule(name) -> Rule:
    """The rule called `name`, or `name` itself if it is a Rule.

    Raises
    ------
    ValueError
        For an unknown name; the message lists the known ones.

    Examples
    --------
    >>> get_rule("heavy-ball").learning_rate
    'learning_rate'
    """
    if isinstance(name, Rule):
        return name
    rules = _catalog()
    if name not in rules:
        raise ValueError(
            f"`rule` must be one of {list(rules)}, got {name!r}."
        )
    return rules[name]


def register(rule: Rule, replace: bool = False) -> Rule:
    """Add `rule` to the catalog under its name."""
    rules = _catalog()
    if not isinstance(rule, Rule):
        raise TypeError(f"`rule` must be a Rule, got {type(rule).__name__}.")
    if rule.name in rules and not replace:
        raise ValueError(
            f"a rule named {rule.name!r} exists; pass replace=True."
        )
    rules[rule.name] = rule
    return rule
