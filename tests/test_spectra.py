"""Tests for lrcontrol.spectra: bundled data, file loading, validation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lrcontrol.spectra import (
    bundled_spectrum,
    bundled_spectrum_info,
    load_spectrum,
    validate_spectrum,
)

# ---------------------------------------------------------------------------
# Bundled diabetes spectrum
# ---------------------------------------------------------------------------


def test_bundled_diabetes_identities():
    eig = bundled_spectrum("diabetes")
    assert eig.dtype == np.float64
    assert eig.shape == (10,)
    # Correlation matrix: the trace, hence the eigenvalue sum, is d = 10.
    assert abs(eig.sum() - 10.0) < 1e-9
    assert np.all(eig > 0.0)
    assert np.all(np.diff(eig) >= 0.0)


def test_bundled_default_name_is_diabetes():
    np.testing.assert_array_equal(
        bundled_spectrum(), bundled_spectrum("diabetes")
    )


def test_bundled_returns_fresh_copy():
    first = bundled_spectrum()
    first[:] = -1.0
    assert np.all(bundled_spectrum() > 0.0)


def test_bundled_matches_independent_recomputation():
    datasets = pytest.importorskip("sklearn.datasets")
    X, _ = datasets.load_diabetes(return_X_y=True, scaled=False)
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    assert (n, d) == (442, 10)
    Z = (X - X.mean(axis=0)) / X.std(axis=0, ddof=0)
    H = Z.T @ Z / n
    # Independent check of the construction: H is the correlation matrix.
    np.testing.assert_allclose(
        H, np.corrcoef(X, rowvar=False), rtol=0, atol=1e-12
    )
    expected = np.linalg.eigvalsh(H)
    np.testing.assert_allclose(
        bundled_spectrum(), expected, rtol=1e-10, atol=1e-12
    )
    assert abs(np.trace(H) - expected.sum()) < 1e-9


def test_bundled_info_consistent_with_values():
    info = bundled_spectrum_info()
    eig = bundled_spectrum()
    assert info["n_samples"] == 442
    assert info["n_features"] == eig.size == 10
    assert info["regenerate"] == "python scripts/make_diabetes_spectrum.py"
    assert "load_diabetes" in info["source"]["loader"]
    assert "Least Angle Regression" in info["source"]["original_reference"]
    assert "ddof=0" in info["preprocessing"]
    assert info["scikit_learn_version"]
    assert info["eigenvalue_min"] == pytest.approx(eig.min(), rel=1e-12)
    assert info["eigenvalue_max"] == pytest.approx(eig.max(), rel=1e-12)
    assert info["condition_number"] == pytest.approx(
        eig.max() / eig.min(), rel=1e-12
    )
    # A fresh dict each call, and JSON-serializable.
    info["n_samples"] = 0
    assert bundled_spectrum_info()["n_samples"] == 442
    json.dumps(bundled_spectrum_info())


@pytest.mark.parametrize("func", [bundled_spectrum, bundled_spectrum_info])
@pytest.mark.parametrize("bad", ["foo", "Diabetes", "", 3])
def test_bundled_unknown_name(func, bad):
    expected = f"`name` must be one of ['diabetes'], got {bad!r}."
    with pytest.raises(ValueError) as excinfo:
        func(bad)
    assert str(excinfo.value) == expected


# ---------------------------------------------------------------------------
# load_spectrum: round trips
# ---------------------------------------------------------------------------


@pytest.fixture
def values():
    rng = np.random.default_rng(20240601)
    vals = rng.lognormal(mean=0.0, sigma=2.0, size=17)
    vals[3] = 0.0  # zero curvature is allowed
    return vals


@pytest.mark.parametrize("shape", [(17,), (17, 1), (1, 17)])
def test_load_npy_round_trip(tmp_path, values, shape):
    path = tmp_path / "eig.npy"
    np.save(path, values.reshape(shape))
    got = load_spectrum(path)
    assert got.dtype == np.float64 and got.shape == (17,)
    np.testing.assert_array_equal(got, values)


def test_load_npy_integer_dtype(tmp_path):
    path = tmp_path / "eig.npy"
    np.save(path, np.array([0, 1, 4], dtype=np.int32))
    got = load_spectrum(str(path))
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, [0.0, 1.0, 4.0])


@pytest.mark.parametrize("ext", [".csv", ".txt", ".CSV"])
@pytest.mark.parametrize("sep", ["\n", ",", ", ", " ", "\t", ",\n"])
def test_load_text_round_trip(tmp_path, values, ext, sep):
    path = tmp_path / f"eig{ext}"
    body = sep.join(repr(float(v)) for v in values)
    path.write_text(f"# eigenvalues\n{body}\n", encoding="utf-8")
    got = load_spectrum(path)
    assert got.dtype == np.float64 and got.shape == (17,)
    np.testing.assert_array_equal(got, values)


def test_load_text_savetxt_column(tmp_path, values):
    path = tmp_path / "eig.txt"
    np.savetxt(path, values, header="Hessian eigenvalues")
    np.testing.assert_allclose(load_spectrum(path), values, rtol=1e-15)


def test_load_text_comments_blank_lines_and_ragged_wrap(tmp_path):
    path = tmp_path / "eig.csv"
    path.write_text(
        "# header\n\n  1.5, 2e-3,\n# middle comment\n"
        "7  8 9   # trailing comment\n1E2\n",
        encoding="utf-8",
    )
    np.testing.assert_array_equal(
        load_spectrum(path), [1.5, 2e-3, 7.0, 8.0, 9.0, 100.0]
    )


def test_bundled_csv_readable_by_load_spectrum(tmp_path):
    path = tmp_path / "copy.csv"
    lines = ["# copy"] + [repr(float(v)) for v in bundled_spectrum()]
    path.write_text("\n".join(lines), encoding="utf-8")
    np.testing.assert_array_equal(load_spectrum(path), bundled_spectrum())


# ---------------------------------------------------------------------------
# load_spectrum: bad files
# ---------------------------------------------------------------------------


def test_load_missing_file(tmp_path):
    path = tmp_path / "missing.csv"
    with pytest.raises(
        ValueError,
        match=r"^`spectrum` file '.*missing\.csv' could not be read: "
        r"\[Errno 2\] No such file or directory\.$",
    ):
        load_spectrum(path)


def test_load_directory_is_unreadable(tmp_path):
    path = tmp_path / "dir.txt"
    path.mkdir()
    with pytest.raises(
        ValueError, match="`spectrum` file .*could not be read"
    ):
        load_spectrum(path)


def test_load_corrupt_npy(tmp_path):
    path = tmp_path / "eig.npy"
    path.write_bytes(b"not a numpy file at all")
    with pytest.raises(
        ValueError, match="`spectrum` file .*could not be read"
    ):
        load_spectrum(path)


def test_load_npy_object_array_not_unpickled(tmp_path):
    path = tmp_path / "eig.npy"
    np.save(path, np.array([1.0, "x"], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="could not be read.*allow_pickle"):
        load_spectrum(path)


def test_load_npz_archive_renamed_npy(tmp_path):
    path = tmp_path / "eig.npy"
    with open(path, "wb") as fh:
        np.savez(fh, eig=np.ones(3))
    with pytest.raises(ValueError, match="could not be read.*archive"):
        load_spectrum(path)


def test_load_non_utf8_text(tmp_path):
    path = tmp_path / "eig.txt"
    path.write_bytes(b"1.0\n\xff\xfe\n")
    with pytest.raises(
        ValueError, match="`spectrum` file .*could not be read"
    ):
        load_spectrum(path)


@pytest.mark.parametrize("name", ["eig.json", "eig.npz", "eig", "eig.csv.gz"])
def test_load_unknown_extension(tmp_path, name):
    path = tmp_path / name
    path.write_text("1.0\n", encoding="utf-8")
    with pytest.raises(
        ValueError,
        match=r"`spectrum` file .* must have extension \.npy, \.csv or "
        r"\.txt, got",
    ):
        load_spectrum(path)


@pytest.mark.parametrize(
    ("text", "token", "line"),
    [
        ("1.0\n2.0\nabc\n", "abc", 3),
        ("eigenvalue\n1.0\n", "eigenvalue", 1),
        ("1.0, 2.0; 3.0\n", "2.0;", 1),
        ("1.0\n\n__import__('os')\n", "__import__('os')", 3),
        ("1.0\n0x10\n", "0x10", 2),
    ],
)
def test_load_bad_token(tmp_path, text, token, line):
    path = tmp_path / "eig.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError) as excinfo:
        load_spectrum(path)
    msg = str(excinfo.value)
    assert msg.startswith("`spectrum` file ")
    assert "must contain only numbers" in msg
    assert f"got {token!r} on line {line}." in msg


def test_load_empty_field(tmp_path):
    path = tmp_path / "eig.csv"
    path.write_text("1.0,,2.0\n", encoding="utf-8")
    with pytest.raises(ValueError, match="empty field .* on line 1"):
        load_spectrum(path)


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_load_empty_text(tmp_path, text):
    path = tmp_path / "eig.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(
        ValueError, match="`spectrum` file .*at least one eigenvalue.*empty"
    ):
        load_spectrum(path)


def test_load_empty_npy(tmp_path):
    path = tmp_path / "eig.npy"
    np.save(path, np.array([], dtype=np.float64))
    with pytest.raises(ValueError, match="at least one eigenvalue.*empty"):
        load_spectrum(path)


@pytest.mark.parametrize(
    ("text", "count", "index"),
    [
        ("1.0\nnan\n2.0\n", 1, 1),
        ("inf\n1.0\n-inf\nNaN\n", 3, 0),
    ],
)
def test_load_nonfinite_text(tmp_path, text, count, index):
    path = tmp_path / "eig.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(
        ValueError,
        match=rf"only finite values, got {count} NaN or infinite "
        rf"values? \(first at index {index}",
    ):
        load_spectrum(path)


def test_load_nonfinite_npy(tmp_path):
    vals = np.ones(5)
    vals[2] = np.nan
    vals[4] = np.inf
    path = tmp_path / "eig.npy"
    np.save(path, vals)
    with pytest.raises(
        ValueError, match=r"got 2 NaN or infinite values \(first at index 2"
    ):
        load_spectrum(path)


def test_load_negative(tmp_path):
    path = tmp_path / "eig.csv"
    path.write_text("0.5\n-0.1\n3\n-2.5\n", encoding="utf-8")
    with pytest.raises(
        ValueError,
        match=r"`spectrum` file .* must be non-negative .*got 2 negative "
        r"values, the most negative being -2\.5 at index 3\.",
    ):
        load_spectrum(path)


@pytest.mark.parametrize("ext", [".csv", ".txt"])
def test_load_text_matrix_rejected(tmp_path, ext):
    rng = np.random.default_rng(7)
    A = rng.standard_normal((4, 4))
    path = tmp_path / f"hessian{ext}"
    np.savetxt(path, A @ A.T, delimiter="," if ext == ".csv" else " ")
    with pytest.raises(ValueError, match=r"1-D .*shape \(4, 4\)"):
        load_spectrum(path)


def test_load_npy_matrix_rejected(tmp_path):
    rng = np.random.default_rng(11)
    path = tmp_path / "hessian.npy"
    np.save(path, rng.random((3, 5)))
    with pytest.raises(
        ValueError, match=r"`spectrum` file .*1-D .*shape \(3, 5\)"
    ):
        load_spectrum(path)


def test_load_npy_3d_rejected(tmp_path):
    path = tmp_path / "eig.npy"
    np.save(path, np.ones((2, 1, 2)))
    with pytest.raises(ValueError, match=r"shape \(2, 1, 2\)"):
        load_spectrum(path)


# ---------------------------------------------------------------------------
# validate_spectrum
# ---------------------------------------------------------------------------


def test_validate_accepts_vectors_and_copies(values):
    got = validate_spectrum(values)
    np.testing.assert_array_equal(got, values)
    assert got is not values and not np.shares_memory(got, values)
    np.testing.assert_array_equal(validate_spectrum(values[:, None]), values)
    np.testing.assert_array_equal(validate_spectrum(values[None, :]), values)
    np.testing.assert_array_equal(
        validate_spectrum([0, 1, 2]), [0.0, 1.0, 2.0]
    )
    np.testing.assert_array_equal(validate_spectrum([[5.0]]), [5.0])


def test_validate_zero_allowed():
    np.testing.assert_array_equal(validate_spectrum(np.zeros(3)), 0.0)


def test_validate_matrix_rejected():
    rng = np.random.default_rng(3)
    H = rng.standard_normal((3, 3))
    with pytest.raises(
        ValueError, match=r"^`spectrum` must be a 1-D .*shape \(3, 3\)\.$"
    ):
        validate_spectrum(H @ H.T)


def test_validate_scalar_rejected():
    with pytest.raises(ValueError, match=r"1-D .*shape \(\)"):
        validate_spectrum(2.0)


def test_validate_uses_name():
    with pytest.raises(ValueError, match="^`curvature` must be non-negative"):
        validate_spectrum([1.0, -1.0], name="curvature")


def test_validate_empty():
    with pytest.raises(
        ValueError, match="^`spectrum` must contain at least one eigenvalue"
    ):
        validate_spectrum([])


def test_validate_nonfinite():
    with pytest.raises(
        ValueError, match=r"got 1 NaN or infinite value \(first at index 0"
    ):
        validate_spectrum([np.nan, 1.0])


def test_validate_negative_reports_most_negative():
    rng = np.random.default_rng(5)
    vals = rng.uniform(0.0, 1.0, size=20)
    vals[[4, 9, 13]] = [-0.5, -3.0, -1e-17]
    with pytest.raises(
        ValueError,
        match=r"got 3 negative values, the most negative being -3\.0 at "
        r"index 9\.$",
    ):
        validate_spectrum(vals)


@pytest.mark.parametrize(
    "bad",
    [
        ["1.0", "2.0"],
        np.array([1.0, "x"], dtype=object),
        [1.0 + 0.5j, 2.0],
        [True, False],
        [[1.0, 2.0], [3.0]],
        {"a": 1.0},
    ],
)
def test_validate_non_numeric(bad):
    with pytest.raises(ValueError, match="^`spectrum` must "):
        validate_spectrum(bad)
