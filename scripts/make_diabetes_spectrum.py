"""Regenerate the bundled diabetes curvature spectrum.

Loads scikit-learn's diabetes data with raw (unscaled) features,
standardizes every feature column to zero mean and unit population
standard deviation (``ddof=0``), forms the Hessian of the mean-squared
least-squares loss ``f(w) = 1/(2n) ||X w - y||^2``, which is
``H = X^T X / n``, and writes its eigenvalues together with a provenance
record to ``lrcontrol/data/``.

Because the columns are standardized with the population standard
deviation, ``H`` is exactly the feature correlation matrix, so its
eigenvalues must sum to the number of features (10).

Run from the repository root::

    python scripts/make_diabetes_spectrum.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import sklearn
from sklearn.datasets import load_diabetes

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "lrcontrol" / "data"
CSV_PATH = DATA_DIR / "diabetes_spectrum.csv"
JSON_PATH = DATA_DIR / "diabetes_spectrum.json"
REGENERATE = "python scripts/make_diabetes_spectrum.py"


def compute_spectrum() -> tuple[np.ndarray, int, int]:
    """Return the ascending Hessian eigenvalues, ``n`` and ``d``."""
    X, _ = load_diabetes(return_X_y=True, scaled=False)
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    if (n, d) != (442, 10):
        raise RuntimeError(f"expected a 442 x 10 design, got {n} x {d}")
    Z = (X - X.mean(axis=0)) / X.std(axis=0, ddof=0)
    H = Z.T @ Z / n
    eig = np.linalg.eigvalsh(H)  # ascending, float64
    # Trace of a correlation matrix equals the number of features.
    assert abs(eig.sum() - d) < 1e-9, eig.sum()
    assert abs(np.trace(H) - d) < 1e-9, np.trace(H)
    assert np.all(eig > 0), eig
    assert np.all(np.diff(eig) >= 0), eig
    return eig, n, d


def main() -> None:
    """Compute the spectrum and write the CSV and JSON files."""
    eig, n, d = compute_spectrum()
    DATA_DIR.mkdir(parents=True, exist_ok=True)

    lines = [
        (
            "# Eigenvalues (ascending) of H = X^T X / n, the Hessian of "
            "f(w) = 1/(2n) ||X w - y||^2 on scikit-learn's diabetes data "
            f"(n={n}, d={d}, standardized columns); regenerate with "
            f"`{REGENERATE}`."
        )
    ]
    lines += [repr(float(v)) for v in eig]
    CSV_PATH.write_text("\n".join(lines) + "\n", encoding="utf-8")

    lam_min = float(eig[0])
    lam_max = float(eig[-1])
    info = {
        "name": "diabetes",
        "description": (
            "Eigenvalues (ascending) of the Hessian of the mean-squared "
            "least-squares loss on the standardized diabetes regression "
            "data."
        ),
        "file": "diabetes_spectrum.csv",
        "source": {
            "dataset": "Diabetes (442 patients, 10 baseline variables)",
            "loader": (
                "sklearn.datasets.load_diabetes(scaled=False) "
                "(raw, unscaled features)"
            ),
            "original_reference": (
                "Bradley Efron, Trevor Hastie, Iain Johnstone and Robert "
                "Tibshirani (2004). Least Angle Regression. Annals of "
                "Statistics 32(2), 407-499."
            ),
            "doi": "10.1214/009053604000000067",
        },
        "preprocessing": (
            "Each feature column standardized: subtract the column mean "
            "and divide by the population standard deviation (ddof=0). "
            "The target y does not enter the Hessian."
        ),
        "formula": "H = X^T X / n, the Hessian of f(w) = 1/(2n) ||X w - y||^2",
        "eigen_solver": "numpy.linalg.eigvalsh (ascending, float64)",
        "n_samples": int(n),
        "n_features": int(d),
        "trace": float(eig.sum()),
        "trace_note": (
            "H is the feature correlation matrix, so its eigenvalues sum "
            "to n_features."
        ),
        "eigenvalue_min": lam_min,
        "eigenvalue_max": lam_max,
        "condition_number": lam_max / lam_min,
        "scikit_learn_version": sklearn.__version__,
        "numpy_version": np.__version__,
        "regenerate": REGENERATE,
    }
    JSON_PATH.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {CSV_PATH.relative_to(REPO_ROOT)} ({d} eigenvalues)")
    print(f"wrote {JSON_PATH.relative_to(REPO_ROOT)}")
    print(f"min={lam_min!r} max={lam_max!r} condition={lam_max / lam_min!r}")


if __name__ == "__main__":
    main()
