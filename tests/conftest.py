"""Shared fixtures: canonical rules, the Agg backend, closed figures."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

import lrcontrol  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def gradient_descent():
    return lrcontrol.get_rule("gradient-descent")


@pytest.fixture
def heavy_ball():
    return lrcontrol.get_rule("heavy-ball")
