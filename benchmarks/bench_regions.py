"""Benchmarks of the vectorized region engine against per-point loops.

Run by hand from the repository root (not collected by pytest)::

    python benchmarks/bench_regions.py            # everything, about 6 minutes
    python benchmarks/bench_regions.py --quick    # smaller grids

Measured in one run on one machine, reported as ratios:

1. Verdict map of heavy ball on an N x N grid (default 1000 x 1000)
   against the loop a user writes today: build ``control.ss(A, B, C, D,
   dt=True)`` and take ``control.poles`` at each point (timed on a
   random sample of points and scaled).  Verdicts are compared on the
   sample and, on the whole grid, against batched eigenvalues of the
   state matrix A, off a band |rho - 1| <= 1e-9.
2. Spectral-radius map on the same grid against a per-point
   ``numpy.roots`` loop (whole grid), values compared to 1e-12.
3. Degree 6: heavy ball with a 4-step gradient delay (degree 6, one
   root at 0 that the engine deflates) and Nesterov with a 4-step delay
   (degree 6, no root at 0): time per grid point, and the peak resident
   memory of a separate process that sweeps 10^7 points.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import control
import sympy

from lrcontrol import classify, closed_loop, exact, get_rule
from lrcontrol._region_grid import evaluate_grid
from lrcontrol.regions import (
    CHUNK_SIZE,
    VERDICTS,
    stability_region,
)

BAND = 1e-9
AXES = (("learning_rate", 0.0, 4.0), ("momentum", -1.0, 1.0))


def best_of(fn, repeat=3):
    """Best time of `repeat` runs (other processes share the machine)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def load():
    """The 1-minute load average, to judge how busy the machine was."""
    return float(Path("/proc/loadavg").read_text().split()[0])


def verdict_of(rho):
    return np.where(rho < 1 - BAND, 0, np.where(rho <= 1 + BAND, 1, 2))


def state_matrix(rule_name, delay=0):
    """A(eta, beta) at h = 1 as a numpy function, as a user would do."""
    rule = get_rule(rule_name)
    loop = closed_loop(rule, 1, delay=delay)
    eta, beta = (rule.parameter(n).symbol for n in
                 ("learning_rate", "momentum"))
    return sympy.lambdify((eta, beta), loop.A, "numpy"), loop


def coefficients(eta, beta):
    """Heavy ball at h = 1, exact: z^2 + (eta - 1 - beta) z + beta."""
    eta, beta = exact(float(eta)), exact(float(beta))
    return [1, eta - 1 - beta, beta]


def grid(n):
    (_, x0, x1), (_, y0, y1) = AXES
    return np.linspace(x0, x1, n), np.linspace(y0, y1, n)


def region(rule, n, radius, delay=0, backend="numpy"):
    return stability_region(
        rule, x=(AXES[0][0], AXES[0][1], AXES[0][2], n),
        y=(AXES[1][0], AXES[1][1], AXES[1][2], n), curvature=1.0,
        radius=radius, boundaries=False, delay=delay, backend=backend)


def interleaved(loop, count, engine, region_call, rounds):
    """Speed-ups measured round by round, the loop and the engine in turn.

    Other processes share the machine and its load drifts; timing both
    sides in each round and taking the median ratio cancels most of it.
    """
    ratios, per_points, engines, regions = [], [], [], []
    for chunk in np.array_split(np.arange(count), rounds):
        start = time.perf_counter()
        loop(chunk)
        per_points.append((time.perf_counter() - start) / len(chunk))
        engines.append(best_of(engine, repeat=3)[0])
        regions.append(best_of(region_call, repeat=3)[0])
        ratios.append(per_points[-1] / engines[-1])
    return {
        "rounds": rounds,
        "per_point_loop_us_median": float(np.median(per_points)) * 1e6,
        "engine_s_median": float(np.median(engines)),
        "stability_region_warm_s_median": float(np.median(regions)),
        "per_round_ratio_loop_point_to_engine": ratios,
        "speedup_engine_median": None,
        "speedup_stability_region_warm_median": None,
    }, per_points, engines, regions


def bench_verdicts(n, sample, rounds=7):
    x, y = grid(n)
    cold, r = best_of(lambda: region("heavy-ball", n, False), repeat=1)
    problem = r._problem
    _, (codes, _) = best_of(
        lambda: evaluate_grid(problem, x, y, BAND, False, CHUNK_SIZE,
                              "numpy"),
        repeat=1)

    # the per-point loop, on a random sample of grid points
    A_of, loop = state_matrix("heavy-ball")
    B = np.zeros((2, 1))
    C = np.array(loop.C.tolist(), dtype=float)
    D = np.zeros((1, 1))
    rng = np.random.default_rng(0)
    idx = rng.choice(n * n, size=sample, replace=False)
    iy, ix = np.divmod(idx, n)
    rho_ref = np.empty(sample)

    def per_point_loop(chunk):
        for k in chunk:
            i, j = iy[k], ix[k]
            system = control.ss(np.array(A_of(x[j], y[i]), dtype=float), B,
                                C, D, dt=True)
            rho_ref[k] = np.abs(control.poles(system)).max()

    out, per_points, engines, regions = interleaved(
        per_point_loop, sample,
        lambda: evaluate_grid(problem, x, y, BAND, False, CHUNK_SIZE,
                              "numpy"),
        lambda: region("heavy-ball", n, False), rounds)
    ratios = [p * n * n / e for p, e in zip(per_points, engines)]
    out["per_round_ratio_loop_point_to_engine"] = ratios
    out["speedup_engine_median"] = float(np.median(ratios))
    out["speedup_engine_min"] = float(np.min(ratios))
    out["speedup_stability_region_warm_median"] = float(np.median(
        [p * n * n / w for p, w in zip(per_points, regions)]))
    out["speedup_stability_region_cold"] = float(
        np.median(per_points) * n * n / cold)
    off = np.abs(rho_ref - 1) > BAND
    ours = codes[iy, ix]
    sample_mismatch = int(np.sum(ours[off] != verdict_of(rho_ref)[off]))

    # the whole grid against batched eigenvalues of A itself
    X, Y = np.meshgrid(x, y)
    A = np.moveaxis(np.array(A_of(X, Y), dtype=float), (0, 1), (-2, -1))
    rho_eig = np.abs(np.linalg.eigvals(A)).max(axis=-1)
    off_all = np.abs(rho_eig - 1) > BAND
    wrong = np.argwhere(off_all & (codes != verdict_of(rho_eig)))
    # where the two disagree, ask the exact test (rational arithmetic)
    exact_sides_with_engine = int(sum(
        VERDICTS.index(classify(coefficients(x[j], y[i])).verdict)
        == codes[i, j] for i, j in wrong))
    return {
        "grid": f"{n} x {n}",
        **out,
        "stability_region_cold_s": cold,
        "sample_points": sample,
        "sample_mismatches_off_band": sample_mismatch,
        "grid_mismatches_off_band_vs_eig(A)": len(wrong),
        "of_which_exact_verdict_agrees_with_engine": exact_sides_with_engine,
        "grid_points_in_band": int(np.sum(~off_all)),
    }


def bench_radii(n, full, rounds=7):
    x, y = grid(n)
    _, r = best_of(lambda: region("heavy-ball", n, True), repeat=1)
    problem = r._problem
    _, (_, rho) = best_of(
        lambda: evaluate_grid(problem, x, y, BAND, True, CHUNK_SIZE,
                              "numpy"),
        repeat=1)
    coeffs = sympy.lambdify(problem.args, list(problem.coeffs), "numpy")
    count = n * n if full else min(n * n, 50_000)
    idx = np.random.default_rng(1).choice(n * n, size=count, replace=False)
    iy, ix = np.divmod(idx, n)
    ref = np.empty(count)

    def per_point_loop(chunk):
        for k in chunk:
            c = [float(v) for v in coeffs(x[ix[k]], y[iy[k]], 1.0)]
            ref[k] = np.abs(np.roots(c)).max()

    out, per_points, engines, regions = interleaved(
        per_point_loop, count,
        lambda: evaluate_grid(problem, x, y, BAND, True, CHUNK_SIZE,
                              "numpy"),
        lambda: region("heavy-ball", n, True), rounds)
    ratios = [p * n * n / e for p, e in zip(per_points, engines)]
    out["per_round_ratio_loop_point_to_engine"] = ratios
    out["speedup_engine_median"] = float(np.median(ratios))
    out["speedup_engine_min"] = float(np.min(ratios))
    out["speedup_stability_region_warm_median"] = float(np.median(
        [p * n * n / w for p, w in zip(per_points, regions)]))
    diff = np.abs(rho[iy, ix] - ref)
    return {
        "grid": f"{n} x {n}",
        "compared_points": count,
        **out,
        "max_abs_difference": float(diff.max()),
        "points_differing_more_than_1e-12": int(np.sum(diff > 1e-12)),
    }


def bench_degree6(n):
    out = {}
    for name, delay in [("heavy-ball", 4), ("nesterov", 4)]:
        poly = closed_loop(get_rule(name), delay=delay).char_poly
        t, r = best_of(lambda name=name, delay=delay:
                       region(name, n, True, delay=delay), repeat=2)
        out[f"{name}, delay {delay}"] = entry = {
            "degree": poly.degree(),
            "degree_evaluated": r.char_poly.degree(),
            "grid": f"{n} x {n}",
            "us_per_point_numpy": t / (n * n) * 1e6,
        }
        if importlib.util.find_spec("dask") is None:
            entry["dask"] = "not installed (pip install dask)"
            continue
        td, rd = best_of(lambda name=name, delay=delay:
                         region(name, n, True, delay=delay,
                                backend="dask"), repeat=1)
        entry["us_per_point_dask_threads"] = td / (n * n) * 1e6
        entry["dask_identical"] = bool(
            np.array_equal(r.codes, rd.codes)
            and np.array_equal(r.spectral_radius, rd.spectral_radius))
    return out


# ru_maxrss survives exec (it would report the parent's size), so the
# sweep reads its own high-water mark VmHWM from /proc instead
SWEEP = """
import sys, time
sys.path.insert(0, {root!r})
from lrcontrol.regions import stability_region
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
base = hwm()
start = time.perf_counter()
r = stability_region({rule!r}, x=("learning_rate", 0.0, 4.0, {n}),
                     y=("momentum", -1.0, 1.0, {n}), delay=4)
elapsed = time.perf_counter() - start
print(base, hwm(), elapsed, r.codes.size, len(r.boundaries))
"""


def bench_sweep(points, rule):
    n = int(np.ceil(np.sqrt(points)))
    code = SWEEP.format(root=str(ROOT), rule=rule, n=n)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, check=True).stdout.split()
    base, peak, elapsed, size, curves = out
    return {
        "rule": f"{rule}, delay 4",
        "points": int(size),
        "seconds": float(elapsed),
        "us_per_point": float(elapsed) / int(size) * 1e6,
        "peak_rss_after_imports_MiB": int(base) / 1024,
        "peak_rss_MiB": int(peak) / 1024,
        "boundary_curves": int(curves),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="smaller grids and samples")
    parser.add_argument("--json", metavar="FILE",
                        help="also write the results as JSON")
    parser.add_argument("--only", choices=("verdict", "radius", "degree6",
                                           "sweep"),
                        help="run one part only")
    args = parser.parse_args()
    n, sample = (300, 500) if args.quick else (1000, 3000)
    parts = {
        "verdict_map": lambda: bench_verdicts(n, sample),
        "spectral_radius_map": lambda: bench_radii(n, full=not args.quick),
        "degree_6": lambda: bench_degree6(300 if args.quick else 1000),
        "sweep_1e7": lambda: [
            bench_sweep(10**6 if args.quick else 10**7, rule)
            for rule in ("heavy-ball", "nesterov")],
    }
    keys = {"verdict": "verdict_map", "radius": "spectral_radius_map",
            "degree6": "degree_6", "sweep": "sweep_1e7"}
    results = {"load_average_start": load()}
    for key, run in parts.items():
        if args.only is None or keys[args.only] == key:
            print(f"running {key} ...", file=sys.stderr, flush=True)
            start = time.perf_counter()
            results[key] = run()
            print(f"  {key} done in {time.perf_counter() - start:.0f} s",
                  file=sys.stderr, flush=True)
    results["load_average_end"] = load()
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
