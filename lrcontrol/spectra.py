"""Curvature spectra: bundled real-problem data and user-supplied files.

A *curvature spectrum* is the set of Hessian eigenvalues of a quadratic
objective. For gradient-type optimizers on a quadratic, each eigenvalue
gives one scalar closed loop, so the spectrum is all the analysis needs
to know about the problem.

This module provides

- :func:`bundled_spectrum` and :func:`bundled_spectrum_info`, the
  eigenvalues and provenance of spectra shipped in ``lrcontrol/data/``;
- :func:`load_spectrum`, which reads a spectrum from a ``.npy``,
  ``.csv`` or ``.txt`` file;
- :func:`validate_spectrum`, which checks an in-memory array-like.

All functions return a new one-dimensional ``float64`` array and raise
:class:`ValueError` with a one-sentence message naming the offending
argument when the input is not a valid spectrum.

Examples
--------
>>> eig = bundled_spectrum("diabetes")
>>> eig.shape
(10,)
>>> bool(abs(eig.sum() - 10.0) < 1e-9)
True
>>> bool(eig.min() > 0.0)
True
"""

from __future__ import annotations

import json
import os
import pathlib
from importlib import resources
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "bundled_spectrum",
    "bundled_spectrum_info",
    "load_spectrum",
    "validate_spectrum",
]

# name -> (eigenvalue file, provenance file), both in lrcontrol/data/.
_BUNDLED = {
    "diabetes": ("diabetes_spectrum.csv", "diabetes_spectrum.json"),
}

_EXTENSIONS = (".npy", ".csv", ".txt")


def _data_file(filename: str) -> Any:
    """Return a traversable handle to ``lrcontrol/data/<filename>``."""
    if __package__:
        return resources.files(__package__).joinpath("data").joinpath(filename)
    # Imported as a top-level module (e.g. by a rootdir-less doctest
    # collector): fall back to the directory next to this file.
    here = pathlib.Path(__file__).resolve().parent  # pragma: no cover
    return here / "data" / filename  # pragma: no cover


def _check_name(name: str) -> tuple[str, str]:
    """Return the data file names for bundled spectrum ``name``."""
    if not isinstance(name, str) or name not in _BUNDLED:
        raise ValueError(
            f"`name` must be one of {sorted(_BUNDLED)}, got {name!r}."
        )
    return _BUNDLED[name]


def _parse_text(text: str, label: str) -> np.ndarray:
    """Parse numbers separated by commas and/or whitespace.

    Text from ``#`` to the end of a line is a comment. A trailing comma
    at the end of a line is ignored, an empty field between two commas
    is an error. If every data line holds the same number ``k > 1`` of
    values and there is more than one data line, the text is a table and
    is returned with shape ``(lines, k)`` so that the caller can reject
    a genuine matrix; otherwise the values are returned in reading
    order as a 1-D array.
    """
    text = text.lstrip("\ufeff")  # a byte-order mark from spreadsheets
    rows: list[list[float]] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split(",")
        if len(fields) > 1 and not fields[-1].strip():
            fields = fields[:-1]
        row: list[float] = []
        for field in fields:
            tokens = field.split()
            if not tokens:
                raise ValueError(
                    f"{label} must contain only numbers separated by "
                    f"commas or whitespace, got an empty field between "
                    f"two commas on line {lineno}."
                )
            for token in tokens:
                try:
                    row.append(float(token))
                except ValueError:
                    raise ValueError(
                        f"{label} must contain only numbers, got "
                        f"{token!r} on line {lineno}."
                    ) from None
        rows.append(row)
    widths = {len(row) for row in rows}
    if len(rows) > 1 and len(widths) == 1 and widths.pop() > 1:
        return np.array(rows, dtype=np.float64)
    return np.array([v for row in rows for v in row], dtype=np.float64)


def _reason(exc: BaseException) -> str:
    """Describe why a file could not be read, without a final period."""
    if isinstance(exc, OSError) and exc.strerror:
        if exc.errno is not None:
            text = f"[Errno {exc.errno}] {exc.strerror}"
        else:
            text = exc.strerror
    else:
        text = str(exc) or type(exc).__name__
    return text.rstrip(". ")


def _validate(values: Any, label: str) -> np.ndarray:
    """Check ``values`` as a spectrum; ``label`` starts each message."""
    try:
        arr = np.asarray(values)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{label} must be an array-like of real numbers, got a "
            f"{type(values).__name__} that numpy cannot convert "
            f"({_reason(exc)})."
        ) from None
    kind = arr.dtype.kind
    if kind == "c":
        raise ValueError(
            f"{label} must contain real eigenvalues, got an array of "
            f"complex dtype {arr.dtype}."
        )
    if kind == "O":
        bad = [v for v in arr.flat if isinstance(v, (str, bytes))]
        if bad:
            raise ValueError(
                f"{label} must contain only numbers, got the string "
                f"{bad[0]!r}."
            )
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"{label} must contain only real numbers, got values "
                f"that cannot be converted to float ({_reason(exc)})."
            ) from None
    elif kind not in "iuf":
        raise ValueError(
            f"{label} must contain real numbers, got an array of dtype "
            f"{arr.dtype}."
        )

    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    elif arr.ndim != 1:
        raise ValueError(
            f"{label} must be a 1-D array of eigenvalues (or a 2-D array "
            f"with one dimension of size 1), got an array of shape "
            f"{arr.shape}."
        )
    arr = np.array(arr, dtype=np.float64)  # always a fresh copy

    if arr.size == 0:
        raise ValueError(
            f"{label} must contain at least one eigenvalue, got an empty "
            f"array."
        )
    nonfinite = np.flatnonzero(~np.isfinite(arr))
    if nonfinite.size:
        count = nonfinite.size
        plural = "value" if count == 1 else "values"
        raise ValueError(
            f"{label} must contain only finite values, got {count} NaN "
            f"or infinite {plural} (first at index {nonfinite[0]}: "
            f"{arr[nonfinite[0]]!r})."
        )
    negative = np.flatnonzero(arr < 0.0)
    if negative.size:
        count = negative.size
        plural = "value" if count == 1 else "values"
        worst = int(np.argmin(arr))
        raise ValueError(
            f"{label} must be non-negative (the curvature spectrum of a "
            f"minimized quadratic has eigenvalues >= 0), got {count} "
            f"negative {plural}, the most negative being "
            f"{float(arr[worst])!r} at index {worst}."
        )
    return arr


def validate_spectrum(values: ArrayLike, name: str = "spectrum") -> np.ndarray:
    """Check an in-memory curvature spectrum and return it as float64.

    Parameters
    ----------
    values : array_like
        Hessian eigenvalues. A 1-D sequence, or a 2-D array one of whose
        dimensions is 1 (a row or column vector), which is flattened.
    name : str, default "spectrum"
        Argument name used in error messages.

    Returns
    -------
    numpy.ndarray
        A new 1-D ``float64`` array with the same values, in the same
        order.

    Raises
    ------
    ValueError
        If ``values`` is not numeric, is complex, is not a vector, is
        empty, contains NaN or infinite values, or contains negative
        values. Zero is allowed.

    See Also
    --------
    load_spectrum : Read and validate a spectrum stored in a file.

    Notes
    -----
    No tolerance is applied to negative values: eigenvalues of a
    singular positive semi-definite matrix computed in floating point
    can come out as tiny negative numbers such as ``-1e-17``; clip them
    explicitly (``numpy.clip(eig, 0.0, None)``) if that is intended.

    Examples
    --------
    >>> validate_spectrum([[0.5], [2.0]])
    array([0.5, 2. ])
    >>> validate_spectrum([0.0, 1.0])
    array([0., 1.])
    >>> validate_spectrum([1.0, -0.25])
    Traceback (most recent call last):
        ...
    ValueError: `spectrum` must be non-negative (the curvature spectrum \
of a minimized quadratic has eigenvalues >= 0), got 1 negative value, \
the most negative being -0.25 at index 1.
    """
    return _validate(values, f"`{name}`")


def load_spectrum(path: str | os.PathLike[str]) -> np.ndarray:
    r"""Read a curvature spectrum from a ``.npy``, ``.csv`` or ``.txt`` file.

    Parameters
    ----------
    path : str or os.PathLike
        File to read. The extension (case-insensitive) selects the
        format:

        ``.npy``
            A NumPy array file, read with ``numpy.load`` and
            ``allow_pickle=False``.
        ``.csv``, ``.txt``
            Plain text holding numbers separated by commas and/or
            whitespace and newlines. Text from ``#`` to the end of a line
            is a comment. Numbers are parsed with :class:`float`, never
            evaluated. A table with more than one row and more than one
            column (every data line holding the same number of values)
            is treated as a matrix and rejected.

    Returns
    -------
    numpy.ndarray
        1-D ``float64`` array of eigenvalues in file order. A 2-D array
        is accepted only if one of its dimensions is 1.

    Raises
    ------
    ValueError
        If the file is missing or unreadable, has another extension,
        contains a token that is not a number, holds a genuine matrix,
        is empty, or contains NaN, infinite or negative values. The
        message names the argument ``spectrum``.

    See Also
    --------
    validate_spectrum : The same checks for an in-memory array.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = pathlib.Path(tmp) / "eig.csv"
    ...     _ = path.write_text("# Hessian eigenvalues\n0.5, 2\n10\n")
    ...     load_spectrum(path)
    array([ 0.5,  2. , 10. ])
    >>> load_spectrum("eig.json")  # doctest: +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
        ...
    ValueError: `spectrum` file 'eig.json' must have extension .npy,
    .csv or .txt, got '.json'.
    """
    shown = os.fspath(path)
    label = f"`spectrum` file {shown!r}"
    suffix = pathlib.Path(shown).suffix
    if suffix.lower() not in _EXTENSIONS:
        got = repr(suffix) if suffix else "no extension"
        raise ValueError(
            f"{label} must have extension .npy, .csv or .txt, got {got}."
        )
    try:
        if suffix.lower() == ".npy":
            loaded = np.load(path, allow_pickle=False)
            if not isinstance(loaded, np.ndarray):
                if hasattr(loaded, "close"):
                    loaded.close()
                raise ValueError(
                    "it holds an archive of arrays, not a single array"
                )
            values: Any = loaded
        else:
            text = pathlib.Path(shown).read_text(encoding="utf-8")
    except (OSError, ValueError, EOFError) as exc:
        raise ValueError(
            f"{label} could not be read: {_reason(exc)}."
        ) from None
    if suffix.lower() != ".npy":
        values = _parse_text(text, label)
    return _validate(values, label)


def bundled_spectrum(name: str = "diabetes") -> np.ndarray:
    """Return the eigenvalues of a curvature spectrum shipped with lrcontrol.

    Parameters
    ----------
    name : str, default "diabetes"
        Which spectrum. Available:

        ``"diabetes"``
            The 10 eigenvalues of ``H = X^T X / n`` for scikit-learn's
            diabetes regression data (Efron et al., 2004, "Least Angle
            Regression", Annals of Statistics) with standardized
            features, i.e. the Hessian of the mean-squared least-squares
            loss ``f(w) = 1/(2n) ||X w - y||^2``. ``H`` is the feature
            correlation matrix, so the eigenvalues sum to 10. The
            condition number is about 470.

    Returns
    -------
    numpy.ndarray
        A new 1-D ``float64`` array of eigenvalues in ascending order.

    Raises
    ------
    ValueError
        If ``name`` is not one of the bundled spectra.

    See Also
    --------
    bundled_spectrum_info : Provenance of the bundled spectrum.

    Examples
    --------
    >>> eig = bundled_spectrum()
    >>> len(eig), bool(abs(eig.sum() - 10.0) < 1e-9)
    (10, True)
    >>> bool(abs(eig.max() / eig.min() - 470.078) < 1e-3)
    True
    >>> bundled_spectrum("foo")
    Traceback (most recent call last):
        ...
    ValueError: `name` must be one of ['diabetes'], got 'foo'.
    """
    csv_name, _ = _check_name(name)
    text = _data_file(csv_name).read_text(encoding="utf-8")
    label = f"bundled spectrum {name!r}"
    return _validate(_parse_text(text, label), label)


def bundled_spectrum_info(name: str = "diabetes") -> dict[str, Any]:
    """Return the provenance record of a bundled curvature spectrum.

    Parameters
    ----------
    name : str, default "diabetes"
        Which spectrum; see :func:`bundled_spectrum`.

    Returns
    -------
    dict
        A new dictionary parsed from ``lrcontrol/data/<name>_spectrum
        .json``: source dataset and reference, preprocessing, formula,
        ``n_samples``, ``n_features``, the scikit-learn version used,
        ``eigenvalue_min``, ``eigenvalue_max``, ``condition_number`` and
        the ``regenerate`` command.

    Raises
    ------
    ValueError
        If ``name`` is not one of the bundled spectra.

    Examples
    --------
    >>> info = bundled_spectrum_info()
    >>> info["n_samples"], info["n_features"]
    (442, 10)
    >>> info["regenerate"]
    'python scripts/make_diabetes_spectrum.py'
    """
    _, json_name = _check_name(name)
    text = _data_file(json_name).read_text(encoding="utf-8")
    info: dict[str, Any] = json.loads(text)
    return info
