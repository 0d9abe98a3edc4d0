"""Per-job overhead: a no-op training job, ``fit()`` call to return, against running the same
script with ``python`` directly. Median of N runs each (default 10). Prints one JSON line.

    python bench/job_overhead.py [--runs 10]

Target: at most 0.3 s added per job.
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from home import isolated_home  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlyard-bench-") as tmp, isolated_home(Path(tmp)):
        root = Path(tmp)
        script = root / "noop.py"
        script.write_text("print('done')\n")

        from mlyard.estimator import Estimator

        def job() -> float:
            est = Estimator(entry_point=str(script), instance_type="local", role="bench")
            start = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                est.fit()
            return time.perf_counter() - start

        def direct() -> float:
            start = time.perf_counter()
            subprocess.run([sys.executable, str(script)], check=True, capture_output=True)
            return time.perf_counter() - start

        job()  # the first call starts the local server; that is a one-off, not per-job overhead
        direct()
        jobs, directs = [], []
        for _ in range(args.runs):  # interleaved, so drift in the machine's load hits both alike
            jobs.append(job())
            directs.append(direct())
    job_s, direct_s = statistics.median(jobs), statistics.median(directs)
    print(json.dumps({
        "benchmark": "job_overhead", "runs": args.runs,
        "mlyard_fit_median_s": round(job_s, 4), "python_direct_median_s": round(direct_s, 4),
        "added_s": round(job_s - direct_s, 4), "ratio": round(job_s / direct_s, 2), "target_added_s": 0.3,
        "met": job_s - direct_s <= 0.3,
    }))


if __name__ == "__main__":
    main()
