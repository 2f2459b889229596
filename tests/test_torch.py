"""Against a real implementation: torch.optim.SGD (skipped without torch).

The largest stable learning rate that lrcontrol predicts for a setting of
torch.optim.SGD must match bisection on real torch.optim runs on the same
quadratic within 1%.
"""

import numpy as np
import pytest

import lrcontrol

torch = pytest.importorskip("torch")

SPECTRUM = np.array([0.05, 0.4, 1.0, 2.5])


def _diverges(lr, settings, num_steps=1500):
    """Run torch.optim.SGD on f(x) = 1/2 sum h_i x_i^2; does |x| grow?"""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(len(SPECTRUM), generator=gen, dtype=torch.float64)
    x0 = float(x.norm())
    x.requires_grad_(True)
    h = torch.tensor(SPECTRUM, dtype=torch.float64)
    opt = torch.optim.SGD([x], lr=lr, **settings)
    for _ in range(num_steps):
        opt.zero_grad()
        loss = 0.5 * (h * x * x).sum()
        loss.backward()
        opt.step()
        norm = float(x.detach().norm())
        if not np.isfinite(norm) or norm > 1e6 * x0:
            return True
    return float(x.detach().norm()) > x0


def _bisect(settings, low, high, iterations=30):
    assert not _diverges(low, settings) and _diverges(high, settings)
    for _ in range(iterations):
        mid = 0.5 * (low + high)
        if _diverges(mid, settings):
            high = mid
        else:
            low = mid
    return 0.5 * (low + high)


@pytest.mark.parametrize(
    "settings",
    [
        dict(momentum=0.0),
        dict(momentum=0.9),
        dict(momentum=0.9, dampening=0.5),
        dict(momentum=0.8, nesterov=True),
        dict(momentum=0.5, weight_decay=0.3),
        dict(momentum=0.0, dampening=0.7),
    ],
    ids=["sgd", "momentum", "dampening", "nesterov", "weight-decay",
         "dampening-without-momentum"],
)
def test_max_stable_lr_matches_torch_bisection(settings):
    values = {k: (int(v) if isinstance(v, bool) else v)
              for k, v in settings.items()}
    predicted = lrcontrol.max_stable_learning_rate(
        "torch-sgd", SPECTRUM.tolist(), values
    )
    measured = _bisect(settings, 0.01 * predicted, 3 * predicted)
    assert measured == pytest.approx(predicted, rel=0.01)
