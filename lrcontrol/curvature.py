"""Which curvatures a question is about: one value, an interval, a spectrum.

A number is one mode.  A pair ``(mu, L)`` (a tuple) is every curvature
in the closed interval, as in the analysis of a ``mu``-strongly convex,
``L``-smooth quadratic.  An array (or list) is a spectrum: the finitely
many eigenvalues of a real problem's Hessian.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .spectra import bundled_spectrum, validate_spectrum

__all__ = ["Curvatures", "as_curvatures"]


@dataclass(frozen=True)
class Curvatures:
    """Curvatures of the modes a result covers.

    Attributes
    ----------
    kind : str
        ``"value"``, ``"interval"`` or ``"spectrum"``.
    values : tuple of float
        ``(h,)``, ``(mu, L)`` or the eigenvalues (ascending).
    source : str
        Where they came from, for reports.
    """

    kind: str
    values: tuple
    source: str = "given"

    @property
    def min(self) -> float:
        return float(min(self.values))

    @property
    def max(self) -> float:
        return float(max(self.values))

    @property
    def modes(self) -> tuple:
        """Curvatures whose modes exist: the ends of an interval."""
        if self.kind == "interval":
            return (self.min, self.max)
        return tuple(sorted(set(self.values)))

    def to_dict(self) -> dict:
        return {"kind": self.kind, "min": self.min, "max": self.max,
                "source": self.source}


def as_curvatures(curvature=None, source: str | None = None) -> Curvatures:
    """Read `curvature` as one value, an interval (a tuple) or a spectrum.

    None means the bundled spectrum of least squares on the diabetes
    data.

    Examples
    --------
    >>> as_curvatures((0.1, 10)).kind
    'interval'
    >>> as_curvatures(2.0).values
    (2.0,)
    """
    if isinstance(curvature, Curvatures):
        return curvature
    if curvature is None:
        values = bundled_spectrum("diabetes")
        return Curvatures(
            "spectrum", tuple(float(v) for v in values),
            source or "bundled: least squares on the diabetes data",
        )
    if isinstance(curvature, tuple):
        if len(curvature) != 2:
            raise ValueError(
                "`curvature` as a tuple must be an interval (mu, L), got "
                f"{len(curvature)} items."
            )
        mu, top = (_number(v) for v in curvature)
        if not 0 <= mu < top:
            raise ValueError(
                f"`curvature` interval must satisfy 0 <= mu < L, got "
                f"({mu!r}, {top!r})."
            )
        return Curvatures("interval", (mu, top), source or "interval")
    if isinstance(curvature, (list, np.ndarray)):
        values = validate_spectrum(curvature, "curvature")
        return Curvatures(
            "spectrum", tuple(float(v) for v in np.sort(values)),
            source or "spectrum",
        )
    value = _number(curvature)
    if value < 0:
        raise ValueError(f"`curvature` must be >= 0, got {value!r}.")
    return Curvatures("value", (value,), source or "value")


def _number(value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(
            f"`curvature` must be a number, got {value!r}."
        ) from None
    if not math.isfinite(number):
        raise ValueError(f"`curvature` must be finite, got {number!r}.")
    return number
