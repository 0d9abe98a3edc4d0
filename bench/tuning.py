"""Automatic model tuning: sample efficiency and parallel efficiency. Prints one JSON line.

    python bench/tuning.py [--seeds 5] [--parallel-jobs 20] [--burn 1.0]

Every trial is a real training job through the scheduler; its "training" evaluates a standard
test function (Branin, 2-D; Hartmann-6, 6-D; both minimized) and prints the value as a log line.

- Sample efficiency: for each function and seed, the Bayesian strategy's best after 15 jobs
  against random search's best after 45 jobs (median over seeds). ``random_jobs_to_match`` is how
  many of random search's jobs it took to reach Bayesian's 15-job best (46 when it never did);
  target: 45 or more, i.e. >= 3x fewer jobs.
- Parallel efficiency: 20 jobs that each burn 1 s of CPU, max_parallel_jobs=2 on this 2-core
  machine. ``slot_busy_share``: the jobs' summed run time over 2 x the tuning job's wall time
  (target >= 0.9); ``overhead_per_trial_s``: from a job's end to the start of the job that takes
  its slot (target <= 0.3 s). Baseline: the same 20 runs of the script with ``python``, 2 at a time.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from home import isolated_home  # noqa: E402

TRIAL = r'''
import json, math, os, sys, time

hp = json.loads(os.environ["SM_HPS"]) if "SM_HPS" in os.environ else json.loads(sys.argv[1])
fn = hp["fn"]
if fn == "branin":
    x1, x2 = hp["x1"], hp["x2"]
    value = ((x2 - 5.1 / (4 * math.pi ** 2) * x1 ** 2 + 5 / math.pi * x1 - 6) ** 2
             + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10)
elif fn == "hartmann6":
    A = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
    P = [[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
         [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]]
    alpha = [1.0, 1.2, 3.0, 3.2]
    x = [hp[f"x{i}"] for i in range(1, 7)]
    value = -sum(alpha[i] * math.exp(-sum(A[i][j] * (x[j] - P[i][j] * 1e-4) ** 2 for j in range(6)))
                 for i in range(4))
else:  # burn: CPU work for a fixed time
    end = time.perf_counter() + float(hp["burn"])
    n = 0
    while time.perf_counter() < end:
        n += 1
    value = float(hp["x1"])
print(f"objective: {value:.9f}", flush=True)
'''
METRICS = [{"Name": "objective", "Regex": r"objective: (-?[0-9\.eE+-]+)"}]


def _seconds(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--parallel-jobs", type=int, default=20)
    parser.add_argument("--burn", type=float, default=1.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlyard-bench-") as tmp, isolated_home(Path(tmp)):
        src = Path(tmp) / "src"
        src.mkdir()
        (src / "trial.py").write_text(TRIAL)

        from mlyard.estimator import Estimator
        from mlyard.tuner import ContinuousParameter, HyperparameterTuner

        def tune(fn: str, ranges: dict[str, Any], strategy: str, jobs: int, parallel: int, seed: int,
                 **static: Any) -> tuple[HyperparameterTuner, float]:
            est = Estimator(entry_point="trial.py", source_dir=str(src), instance_type="local", role="bench",
                            hyperparameters={"fn": fn, **static}, metric_definitions=METRICS)
            tuner = HyperparameterTuner(est, "objective", ranges, strategy=strategy, objective_type="Minimize",
                                        max_jobs=jobs, max_parallel_jobs=parallel, random_seed=seed)
            start = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                tuner.fit()
            return tuner, time.perf_counter() - start

        def values(tuner: HyperparameterTuner) -> list[float]:
            """Objective values in the order the jobs were created (NaN for none)."""
            summaries = tuner.sagemaker_session.client.tuning_training_jobs(tuner.latest_tuning_job.name)
            return [s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
                    if s.get("FinalHyperParameterTuningJobObjectiveMetric") else float("nan") for s in summaries]

        functions = {
            "branin": {"x1": ContinuousParameter(-5, 10, "Linear"), "x2": ContinuousParameter(0, 15, "Linear")},
            "hartmann6": {f"x{i}": ContinuousParameter(0, 1, "Linear") for i in range(1, 7)},
        }
        tune("branin", functions["branin"], "Random", 2, 2, 0)  # starts the server: a one-off
        efficiency: dict[str, Any] = {}
        for fn, ranges in functions.items():
            bayes, rand, to_match, ask_walls = [], [], [], []
            for seed in range(args.seeds):
                tuner, wall = tune(fn, ranges, "Bayesian", 15, 1, seed)
                best_bo = min(values(tuner))
                ask_walls.append(wall / 15)
                tuner, _ = tune(fn, ranges, "Random", 45, 2, seed)
                trajectory = values(tuner)
                best_rs = min(trajectory)
                running, needed = float("inf"), 46
                for i, v in enumerate(trajectory):
                    running = min(running, v)
                    if running <= best_bo:
                        needed = i + 1
                        break
                bayes.append(best_bo)
                rand.append(best_rs)
                to_match.append(needed)
            efficiency[fn] = {
                "bayesian_15_best_median": round(statistics.median(bayes), 4),
                "random_45_best_median": round(statistics.median(rand), 4),
                "bayesian_wins": sum(b <= r for b, r in zip(bayes, rand, strict=True)),
                "seeds": args.seeds,
                "random_jobs_to_match_median": statistics.median(to_match),
                "jobs_ratio_median": round(statistics.median(to_match) / 15, 2),
                "bayesian_seconds_per_job": round(statistics.median(ask_walls), 3),
                "met": statistics.median(bayes) <= statistics.median(rand),
            }

        # Parallel efficiency: two slots, CPU-bound jobs.
        burn = {"x1": ContinuousParameter(0, 1, "Linear")}
        tuner, fit_wall = tune("burn", burn, "Random", args.parallel_jobs, 2, 0, burn=args.burn)
        desc = tuner.describe()
        wall = (desc["HyperParameterTuningEndTime"] - desc["CreationTime"]).total_seconds()
        summaries = tuner.sagemaker_session.client.tuning_training_jobs(tuner.latest_tuning_job.name)
        starts = sorted(_seconds(s["TrainingStartTime"]) for s in summaries)
        ends = sorted(_seconds(s["TrainingEndTime"]) for s in summaries)
        busy = sum(e - s for s, e in zip(starts, ends, strict=True))
        gaps = [s - e for s, e in zip(starts[2:], ends[:-2], strict=True)]

        def direct(i: int) -> None:
            hp = json.dumps({"fn": "burn", "burn": args.burn, "x1": i / args.parallel_jobs})
            subprocess.run([sys.executable, str(src / "trial.py"), hp], check=True, capture_output=True)

        start = time.perf_counter()
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(direct, range(args.parallel_jobs)))
        baseline_wall = time.perf_counter() - start
    share = busy / (2 * wall)
    overhead = statistics.median(gaps)
    print(json.dumps({
        "benchmark": "tuning",
        "sample_efficiency": efficiency,
        "parallel": {
            "jobs": args.parallel_jobs, "burn_s": args.burn, "tuning_wall_s": round(wall, 2),
            "fit_wall_s": round(fit_wall, 2), "python_pool_wall_s": round(baseline_wall, 2),
            "ratio": round(wall / baseline_wall, 3), "slot_busy_share": round(share, 3),
            "overhead_per_trial_s": round(overhead, 3), "overhead_per_trial_max_s": round(max(gaps), 3),
            "target_busy_share": 0.9, "target_overhead_s": 0.3, "met": share >= 0.9 and overhead <= 0.3,
        },
    }))


if __name__ == "__main__":
    main()
