"""Processing: a CPU-bound transformation of 8 input files, ShardedByS3Key, on 2 instances
against 1 (target speed-up >= 1.8x on a 2-core machine); plus the per-job overhead of a no-op
processing job against running the same script with ``python``. Prints one JSON line.

    python bench/processing.py [--runs 3] [--work 1.0]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from home import isolated_home  # noqa: E402

TRANSFORM = """
import hashlib, os, sys, time
print(f"began {time.time():.3f}", flush=True)
work = float(sys.argv[1])
src, dst = "/opt/ml/processing/data", "/opt/ml/processing/output"
for name in sorted(os.listdir(src)):
    data = open(os.path.join(src, name), "rb").read()
    digest = data
    deadline = time.process_time() + work      # CPU-bound: hash chains for `work` CPU-seconds per file
    rounds = 0
    while time.process_time() < deadline:
        for _ in range(2000):
            digest = hashlib.sha256(digest).digest()
        rounds += 2000
    with open(os.path.join(dst, name + ".out"), "w") as fh:
        fh.write(f"{digest.hex()} {rounds}\\n")
print(f"ended {time.time():.3f}", flush=True)
"""


def write_inputs(root: Path) -> tuple[Path, Path, Path]:
    """The 8 input files (``raw/``), the CPU-bound script and a no-op one, under ``root``."""
    raw = root / "raw"
    raw.mkdir()
    for i in range(8):
        (raw / f"part-{i}.bin").write_bytes(os.urandom(4096))
    script = root / "transform.py"
    script.write_text(TRANSFORM)
    noop = root / "noop.py"
    noop.write_text("print('done')\n")
    return raw, script, noop


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--work", type=float, default=1.0, help="CPU-seconds of work per file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlyard-bench-") as tmp, isolated_home(Path(tmp)):
        root = Path(tmp)
        raw, script, noop = write_inputs(root)

        from mlyard.processing import ProcessingInput, ProcessingOutput, ScriptProcessor

        def run(count: int, code: Path, arguments: list[str]) -> float:
            p = ScriptProcessor(command=["python3"], instance_type="local", instance_count=count, role="bench")
            start = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                p.run(code=str(code), arguments=arguments,
                      inputs=[ProcessingInput(source=str(raw), destination="/opt/ml/processing/data",
                                              s3_data_distribution_type="ShardedByS3Key")],
                      outputs=[ProcessingOutput(source="/opt/ml/processing/output",
                                                destination=str(root / "out" / f"{count}-{time.time_ns()}"))]
                      if code == script else [])
            return time.perf_counter() - start

        def direct() -> float:
            start = time.perf_counter()
            subprocess.run([sys.executable, str(noop)], check=True, capture_output=True)
            return time.perf_counter() - start

        run(1, noop, [])  # starts the local server: a one-off
        ones, twos = [], []
        for _ in range(args.runs):
            ones.append(run(1, script, [str(args.work)]))
            twos.append(run(2, script, [str(args.work)]))
        jobs, directs = [], []
        for _ in range(10):
            jobs.append(run(1, noop, []))
            directs.append(direct())
    one, two = statistics.median(ones), statistics.median(twos)
    job_s, direct_s = statistics.median(jobs), statistics.median(directs)
    print(json.dumps({
        "benchmark": "processing", "files": 8, "cpu_s_per_file": args.work, "runs": args.runs,
        "one_instance_median_s": round(one, 3), "two_instances_median_s": round(two, 3),
        "speedup": round(one / two, 2), "target_speedup": 1.8, "met": one / two >= 1.8,
        "noop_job_median_s": round(job_s, 4), "python_direct_median_s": round(direct_s, 4),
        "overhead_added_s": round(job_s - direct_s, 4),
    }))


if __name__ == "__main__":
    main()
