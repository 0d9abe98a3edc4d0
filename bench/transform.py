"""Batch transform: a transform job (``Transformer.transform``, MultiRecord, CSV split by line, on
1 and on 2 local instances) over the tf2_workflow example's Keras model, against a per-record
``/invocations`` loop (one request per row to a model server of the same model, with a kept-alive
connection: what a user without batch transform writes). Target: the job >= 10x faster.

The loop is timed on ``--loop-rows`` rows (a full 100k-row loop takes minutes) and its rate is
scaled to all the rows; the transform job is timed from the call to its return (create, start
its model servers, send the records, assemble the outputs). Also reported: a hand-written numpy
script that predicts each whole file in one call, the floor for this work. Median of N runs,
interleaved; outputs are checked to agree. Prints one JSON line.

    python bench/transform.py [--runs 3] [--rows 100000] [--files 4] [--loop-rows 3000]
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
import tarfile
import tempfile
import time
from pathlib import Path

BASELINE = '''
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import tensorflow as tf

src, dst, model_dir = sys.argv[1:4]
infer = tf.saved_model.load(model_dir).signatures["serving_default"]
for name in sorted(os.listdir(src)):
    rows = np.loadtxt(os.path.join(src, name), delimiter=",", dtype="float32", ndmin=2)
    predictions = next(iter(infer(tf.constant(rows)).values())).numpy()
    np.savetxt(os.path.join(dst, name + ".out"), predictions, delimiter=",", fmt="%.7g")
'''


def write_inputs(root: Path, rows: int, files: int) -> Path:
    """``files`` CSV files of 10 standardized features a row: the example's test rows, jittered."""
    import numpy as np

    base = np.load(root / "data" / "test" / "x_test.npy")
    rng = np.random.default_rng(0)
    data = base[rng.integers(0, len(base), rows)] + rng.normal(0, 0.05, (rows, base.shape[1])).astype("float32")
    out = root / "transform-input"
    out.mkdir()
    for i, part in enumerate(np.array_split(data, files)):
        np.savetxt(out / f"part-{i:02d}.csv", part, delimiter=",", fmt="%.6f")
    return out


def read_predictions(text: str) -> list[float]:
    return [float(line.split(",")[0]) for line in text.split()]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--loop-rows", type=int, default=3000)
    parser.add_argument("--files", type=int, default=4)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from home import isolated_home
    from serving import Server, build_model  # the example's data and model, as bench/serving.py builds them

    with tempfile.TemporaryDirectory(prefix="mlyard-bench-") as tmp, isolated_home(Path(tmp)):
        root = Path(tmp)
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
        model_dir = build_model(root)
        inputs = write_inputs(root, args.rows, args.files)
        script = root / "baseline_transform.py"
        script.write_text(BASELINE)

        from mlyard.model import Model
        from mlyard.store import read_bytes

        # A model.tar.gz, as a training job leaves it.
        archive = root / "model.tar.gz"
        with tarfile.open(archive, "w:gz") as tar:
            tar.add(model_dir / "1", arcname="1")
        model = Model(model_data=str(archive), role="bench")
        outputs: dict[str, list[float]] = {}

        def job(instances: int) -> float:
            transformer = model.transformer(instance_count=instances, instance_type="local",
                                            strategy="MultiRecord", assemble_with="Line", accept="text/csv")
            start = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                transformer.transform(data=str(inputs), content_type="text/csv", split_type="Line", logs=False)
            took = time.perf_counter() - start
            outputs[f"mlyard{instances}"] = [
                v for p in sorted(inputs.iterdir())
                for v in read_predictions(read_bytes(f"{transformer.output_path}/{p.name}.out").decode())]
            return took

        def direct() -> float:
            out = root / "baseline-output"
            out.mkdir(exist_ok=True)
            start = time.perf_counter()
            subprocess.run([sys.executable, str(script), str(inputs), str(out), str(model_dir / "1")],
                           check=True, capture_output=True)
            took = time.perf_counter() - start
            outputs["baseline"] = [v for p in sorted(inputs.iterdir())
                                   for v in read_predictions((out / f"{p.name}.out").read_text())]
            return took

        def per_record_loop() -> float:
            """Seconds for all the rows at the rate of a one-request-per-row loop."""
            import httpx

            # No batching window for the loop: a lone request must not wait for batch-mates.
            server = Server("loop", [sys.executable, "-m", "mlyard", "serve", str(model_dir), "--port", "0",
                                     "--max-latency-ms", "0"],
                            root / "loop-server.log", dict(os.environ))
            try:
                port = server.wait_ready()
                rows = [line for p in sorted(inputs.iterdir()) for line in p.read_text().split()]
                rows = rows[: args.loop_rows]
                with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
                    for row in rows[:50]:  # warm up
                        http.post("/invocations", content=row, headers={"Content-Type": "text/csv"})
                    start = time.perf_counter()
                    for row in rows:
                        r = http.post("/invocations", content=row, headers={"Content-Type": "text/csv"})
                        r.raise_for_status()
                    took = time.perf_counter() - start
            finally:
                server.stop()
            return took * args.rows / len(rows)

        job(1)  # the first call starts the local server: a one-off, not per-job time
        direct()
        loop_s = per_record_loop()
        times: dict[str, list[float]] = {"mlyard1": [], "mlyard2": [], "baseline": []}
        for _ in range(args.runs):  # interleaved, so drift in the machine's load hits all alike
            times["mlyard1"].append(job(1))
            times["mlyard2"].append(job(2))
            times["baseline"].append(direct())
        for name in ("mlyard1", "mlyard2"):
            got, want = outputs[name], outputs["baseline"]
            if len(got) != args.rows or any(abs(a - b) > 1e-3 * max(1.0, abs(b)) for a, b in zip(got, want,
                                                                                                strict=True)):
                raise RuntimeError(f"{name}: the transform job's predictions differ from the script's")
    med = {k: statistics.median(v) for k, v in times.items()}
    print(json.dumps({
        "benchmark": "transform", "runs": args.runs, "rows": args.rows, "files": args.files, "cpus": os.cpu_count(),
        "per_record_loop_s_scaled": round(loop_s, 2), "loop_rows_timed": args.loop_rows,
        "speedup_vs_loop_1_instance": round(loop_s / med["mlyard1"], 1), "target_speedup": 10,
        "met": loop_s / med["mlyard1"] >= 10,
        "mlyard_1_instance_median_s": round(med["mlyard1"], 3), "mlyard_2_instances_median_s": round(med["mlyard2"], 3),
        "script_median_s": round(med["baseline"], 3),
        "added_s_1_instance": round(med["mlyard1"] - med["baseline"], 3),
        "ratio_1_instance": round(med["mlyard1"] / med["baseline"], 2),
        "ratio_2_instances": round(med["mlyard2"] / med["baseline"], 2),
        "rows_per_s": {"mlyard_1_instance": round(args.rows / med["mlyard1"]),
                       "mlyard_2_instances": round(args.rows / med["mlyard2"]),
                       "script": round(args.rows / med["baseline"])},
    }))


if __name__ == "__main__":
    main()
