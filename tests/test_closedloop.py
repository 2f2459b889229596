"""Closed loops of the catalog rules against hand derivations."""

import numpy as np
import pytest
import sympy

import lrcontrol
from lrcontrol._symbols import h, z

eta = sympy.Symbol("learning_rate", positive=True)
beta = sympy.Symbol("momentum", nonnegative=True)
beta1 = sympy.Symbol("beta1", nonnegative=True)

# Hand derivations (x* = 0, g = h x at the query point):
# gradient descent  x' = (1 - eta h) x                 -> z - 1 + eta h
# heavy ball        v' = beta v - eta h x, x' = x + v'
#                   -> z^2 - (1 + beta - eta h) z + beta
# Nesterov          v' = beta v - eta h (x + beta v), x' = x + v'
#                   -> z^2 - (1 + beta)(1 - eta h) z + beta (1 - eta h)
# EMA momentum      m' = b m + (1 - b) h x, x' = x - eta m'
#                   -> z^2 - (1 + b - eta (1 - b) h) z + b
HAND = {
    "gradient-descent": z - 1 + eta * h,
    "heavy-ball": z**2 - (1 + beta - eta * h) * z + beta,
    "nesterov": z**2 - (1 + beta) * (1 - eta * h) * z
    + beta * (1 - eta * h),
    "ema-momentum": z**2 - (1 + beta1 - eta * (1 - beta1) * h) * z + beta1,
}


@pytest.mark.parametrize("name", list(HAND), ids=list(HAND))
def test_characteristic_polynomial_matches_hand_derivation(name):
    poly = lrcontrol.closed_loop(lrcontrol.get_rule(name)).char_poly
    assert isinstance(poly, sympy.Poly)
    assert poly.gens == (z,)
    assert sympy.expand(poly.as_expr() - HAND[name]) == 0


def test_torch_sgd_reduces_to_heavy_ball_with_coupled_decay():
    # PyTorch: buf' = mu buf + (h + wd) x, x' = x - lr buf'; a change of
    # variables v = -lr buf gives heavy ball at curvature h + wd
    wd = sympy.Rational(1, 100)
    poly = lrcontrol.closed_loop(
        lrcontrol.get_rule("torch-sgd"), weight_decay=wd, dampening=0, nesterov=0
    ).char_poly
    lr = sympy.Symbol("lr", positive=True)
    mu = sympy.Symbol("momentum", nonnegative=True)
    expected = z**2 - (1 + mu - lr * (h + wd)) * z + mu
    assert sympy.expand(poly.as_expr() - expected) == 0


def test_torch_sgd_without_momentum_ignores_dampening():
    # PyTorch skips the buffer when momentum == 0
    poly = lrcontrol.closed_loop(
        lrcontrol.get_rule("torch-sgd"), lr=0.5, momentum=0, dampening=0.5,
        nesterov=0, weight_decay=0,
    ).char_poly
    assert sympy.expand(poly.as_expr() - z * (z - 1 + h / 2)) == 0


def test_poles_match_numpy_eigenvalues_and_python_control(heavy_ball):
    import control

    loop = lrcontrol.closed_loop(
        heavy_ball, 3.0, learning_rate=0.2, momentum=0.7
    )
    A, B, _, C, D = loop.numeric()
    roots = np.roots([float(c) for c in loop.char_poly.all_coeffs()])
    np.testing.assert_allclose(
        np.sort_complex(roots), np.sort_complex(np.linalg.eigvals(A)),
        rtol=1e-12,
    )
    poles = control.poles(control.ss(A, B, C, D, dt=True))
    np.testing.assert_allclose(
        np.sort_complex(poles), np.sort_complex(roots), rtol=1e-12
    )


def test_delay_line_gives_known_polynomial(gradient_descent):
    # stale by d steps: x[k+1] = x[k] - eta h x[k-d] -> z^(d+1) - z^d + eta h
    for d in range(4):
        poly = lrcontrol.closed_loop(gradient_descent, delay=d).char_poly
        expected = z ** (d + 1) - z**d + eta * h
        assert sympy.expand(poly.as_expr() - expected) == 0


def test_matrix_curvature_couples_modes(heavy_ball):
    # H with eigenvalues 1 and 3: the product of the two per-mode
    # polynomials, since the rule acts the same on every coordinate
    H = np.array([[2.0, 1.0], [1.0, 2.0]])
    values = dict(learning_rate=0.1, momentum=0.5)
    poly = lrcontrol.closed_loop(heavy_ball, H, values).char_poly
    per_mode = [
        lrcontrol.closed_loop(heavy_ball, m, values).char_poly.as_expr()
        for m in (1, 3)
    ]
    assert sympy.expand(poly.as_expr() - per_mode[0] * per_mode[1]) == 0


def test_noise_and_shift_inputs(gradient_descent):
    # e' = (1 - eta h) e - eta n + ... : B_noise = -eta, error output C=1
    loop = lrcontrol.closed_loop(gradient_descent, 2, learning_rate=0.25)
    A, B_shift, B_noise, C, D = loop.numeric()
    np.testing.assert_allclose(A, [[0.5]])
    np.testing.assert_allclose(B_noise, [[-0.25]])
    np.testing.assert_allclose(B_shift, [[0.5]])  # eta h x*
    np.testing.assert_allclose(C, [[1.0]])
    np.testing.assert_allclose(D, [[-1.0]])


def test_nonlinear_rule_is_refused_clearly():
    def normalized(s, p, grad):
        g = grad(s.x)
        s.x = s.x - p.learning_rate * g * g

    rule = lrcontrol.Rule(
        "squared", [lrcontrol.Parameter("learning_rate", 0.1, "positive")],
        {"x": "iterate"}, normalized,
    )
    with pytest.raises(NotImplementedError, match="not linear"):
        lrcontrol.closed_loop(rule)


def test_value_outside_domain_is_refused(heavy_ball):
    with pytest.raises(ValueError, match=r"`momentum` must lie in \[0, 1\)"):
        lrcontrol.closed_loop(heavy_ball, momentum=1.5)
    with pytest.raises(ValueError, match="has no parameter 'lr'"):
        lrcontrol.closed_loop(heavy_ball, lr=0.1)


def test_temporary_read_before_reassignment_keeps_the_old_value():
    # heavy ball through the previous iterate:
    #   x+ = x - a h x + b (x - x_prev),  x_prev+ = x
    # -> z^2 - (1 + b - a h) z + b, the same as heavy ball
    def update(s, p, grad):
        x_next = s.x - p.alpha * grad(s.x) + p.beta * (s.x - s.x_prev)
        s.x_prev = s.x
        s.x = x_next

    rule = lrcontrol.Rule(
        "two-step",
        [lrcontrol.Parameter("alpha", 0.1, "positive"),
         lrcontrol.Parameter("beta", 0.9, "[0, 1)")],
        {"x": "iterate", "x_prev": 0},
        update,
        learning_rate="alpha",
    )
    a = sympy.Symbol("alpha", positive=True)
    b = sympy.Symbol("beta", nonnegative=True)
    poly = lrcontrol.closed_loop(rule).char_poly
    assert sympy.expand(poly.as_expr() - (z**2 - (1 + b - a * h) * z + b)) \
        == 0
    # the simulation follows Python's semantics too: a hand-written loop
    x, x_prev = 1.0, 0.0
    xs = [x]
    for _ in range(30):
        x, x_prev = x - 0.1 * 2.0 * x + 0.9 * (x - x_prev), x
        xs.append(x)
    traj = lrcontrol.simulate(rule, 2.0, 30, x0=1.0)
    np.testing.assert_allclose(np.ravel(traj.x), xs, rtol=1e-12)
