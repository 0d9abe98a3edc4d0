"""The Ray executor on a local test cluster (a head that runs no jobs and two worker nodes of one
CPU each, ``ray.cluster_utils.Cluster``), side by side with its baselines. Prints one JSON line.

    python bench/ray_executor.py [--runs 5] [--pairs 4] [--work 1.0] [--trials 8]

- a no-op training job through mlyard on Ray against the same script run by a bare ``ray.remote``
  task (``subprocess.run([python, script])`` on a worker): target at most 0.5 s added;
- a CPU-bound processing job of 8 files, ShardedByS3Key, on 2 instances (one per node) against 1,
  ``--pairs`` times each, the medians compared: target at least 1.8x; beside it, for reference,
  the same work as 1 and 2 bare ``ray.remote`` tasks (what Ray itself gets on this cluster);
- a tuning job of ``--trials`` training jobs, 2 at a time, on Ray against the same on the local
  executor (this machine's 2 cores): target within 10% of local.

Each worker node is held to one core of this machine (CPU affinity of its raylet, which every
process it starts inherits), as a node of one CPU would be: without it, a job on one node would
have the other node's core for its runner, its node's daemons and Ray's head, which a one-CPU
machine does not have (``--no-pin`` measures without). The head's daemons, the mlyard server and
this script share the machine's cores.
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
from processing import write_inputs  # noqa: E402

GIB = 1024**3
TRIAL = """
import argparse, time
p = argparse.ArgumentParser()
p.add_argument("--lr", type=float)
x = p.parse_args().lr
deadline = time.process_time() + 1.0   # a second of CPU per trial
while time.process_time() < deadline:
    pass
print(f"objective: {(x - 0.3) ** 2:.6f}", flush=True)
"""


BURN = """
import hashlib, sys, time
files, work = int(sys.argv[1]), float(sys.argv[2])
digest = b"x" * 4096
for _ in range(files):   # the processing script's work, without the job around it
    deadline = time.process_time() + work
    while time.process_time() < deadline:
        for _ in range(2000):
            digest = hashlib.sha256(digest).digest()
"""


def _cluster(pin: bool):  # type: ignore[no-untyped-def]
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "memory": GIB, "object_store_memory": 100 * 1024**2, "include_dashboard": False})
    cores = sorted(os.sched_getaffinity(0))
    for i, name in enumerate(("node-a", "node-b")):
        node = c.add_node(num_cpus=1, memory=2 * GIB, object_store_memory=100 * 1024**2, resources={name: 1})
        if pin:
            _pin(node, cores[i % len(cores)])
    return c


def _pin(node, core: int) -> None:  # type: ignore[no-untyped-def]
    """Hold a node's processes (its raylet and what it has started; what it starts later inherits
    the raylet's affinity) to one core."""
    import psutil

    for infos in node.all_processes.values():
        for info in infos:
            try:
                top = psutil.Process(info.process.pid)
                for p in [top, *top.children(recursive=True)]:
                    p.cpu_affinity([core])
            except psutil.Error:
                pass


def _quiet(fn):  # type: ignore[no-untyped-def]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return fn()


def _tuning(root: Path, trials: int) -> float:
    from mlyard.estimator import Estimator
    from mlyard.tuner import ContinuousParameter, HyperparameterTuner

    script = root / "trial.py"
    script.write_text(TRIAL)
    est = Estimator(entry_point=str(script), role="bench", instance_type="local",
                    metric_definitions=[{"Name": "objective", "Regex": "objective: ([0-9.]+)"}])
    tuner = HyperparameterTuner(est, "objective", {"lr": ContinuousParameter(0.0, 1.0)}, objective_type="Minimize",
                                strategy="Random", max_jobs=trials, max_parallel_jobs=2, random_seed=1)
    start = time.perf_counter()
    _quiet(lambda: tuner.fit(wait=True))
    return time.perf_counter() - start


def _cpu_by_process() -> dict[str, tuple[float, tuple[int, ...], str]]:
    """Each process's CPU seconds so far, the cores it may run on, and what it is (--timeline)."""
    out = {}
    tick = os.sysconf("SC_CLK_TCK")
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as fh:
                stat = fh.read()
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                what = fh.read().replace(b"\0", b" ").decode(errors="replace")
            cores = tuple(sorted(os.sched_getaffinity(int(pid))))
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        what = " ".join(part.rsplit("/", 1)[-1] for part in what.split()[:3])[:70]
        out[pid] = ((int(fields[11]) + int(fields[12])) / tick, cores, what)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--pairs", type=int, default=4, help="processing jobs on 1 node and on 2, each")
    parser.add_argument("--work", type=float, default=1.0, help="CPU-seconds of work per processing file")
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--no-pin", action="store_true", help="let every node use every core")
    parser.add_argument("--timeline", action="store_true",
                        help="print (to stderr) where each processing job's time went: its status changes, "
                             "in seconds after the SDK's call")
    parser.add_argument("--skip-tuning", action="store_true", help="measure the jobs only")
    args = parser.parse_args()
    import ray

    from mlyard.estimator import Estimator
    from mlyard.processing import ProcessingInput, ProcessingOutput, ScriptProcessor

    out: dict[str, object] = {"benchmark": "ray_executor", "nodes": "head (0 CPU) + 2 x 1 CPU",
                              "nodes_pinned_to_a_core": not args.no_pin}
    with tempfile.TemporaryDirectory(prefix="mlyard-bench-") as tmp:
        root = Path(tmp)
        raw, transform, noop = write_inputs(root)

        # Tuning on the local executor first, with the machine to itself.
        local_tuning = float("nan")
        if not args.skip_tuning:
            with isolated_home(root / "local"):
                local_tuning = _tuning(root, args.trials)

        burn = root / "burn.py"
        burn.write_text(BURN)
        cluster = _cluster(pin=not args.no_pin)
        try:
            ray.init(address=cluster.address, log_to_driver=False, logging_level="WARNING")
            os.environ["MLYARD_EXECUTOR"] = "ray"
            os.environ["RAY_ADDRESS"] = cluster.address

            @ray.remote(num_cpus=1)
            def bare(script: str, *arguments: str) -> int:
                return subprocess.run([sys.executable, script, *arguments], capture_output=True).returncode

            def bare_shards(count: int) -> float:
                ray.get([bare.remote(str(burn), "0", "0") for _ in range(2)])  # a warm worker on each node
                start = time.perf_counter()
                ray.get([bare.remote(str(burn), str(8 // count), str(args.work)) for _ in range(count)])
                return time.perf_counter() - start

            def via_ray() -> float:
                start = time.perf_counter()
                ray.get(bare.remote(str(noop)))
                return time.perf_counter() - start

            with isolated_home(root / "ray"):
                def job() -> float:
                    est = Estimator(entry_point=str(noop), role="bench", instance_type="local")
                    start = time.perf_counter()
                    _quiet(lambda: est.fit(logs=False))
                    assert est.latest_training_job.describe()["TrainingJobStatus"] == "Completed"
                    return time.perf_counter() - start

                def processing(count: int) -> float:
                    p = ScriptProcessor(command=["python3"], instance_type="local", instance_count=count,
                                        role="bench")
                    before = _cpu_by_process() if args.timeline else {}
                    start = time.perf_counter()
                    _quiet(lambda: p.run(
                        code=str(transform), arguments=[str(args.work)],
                        inputs=[ProcessingInput(source=str(raw), destination="/opt/ml/processing/data",
                                                s3_data_distribution_type="ShardedByS3Key")],
                        outputs=[ProcessingOutput(source="/opt/ml/processing/output",
                                                  destination=str(root / "out" / f"{count}-{time.time_ns()}"))]))
                    desc = p.jobs[-1].describe()
                    assert desc["ProcessingJobStatus"] == "Completed"
                    took = time.perf_counter() - start
                    if args.timeline:
                        t0 = time.time() - took
                        marks = [(t["StartTime"].timestamp() - t0, t["Status"]) for t in
                                 desc.get("SecondaryStatusTransitions") or []]
                        end = desc["ProcessingEndTime"].timestamp() - t0
                        logs = b"".join(p.sagemaker_session.client.job_logs(p.jobs[-1].job_name)).decode()
                        hosts = " ".join(f"{w.split()[0].rstrip(':') if count > 1 else 'host'}:"
                                         f"{w.split()[-2]}@{float(w.split()[-1]) - t0:.2f}"
                                         for w in logs.splitlines() if w.split()[-2:-1] in (["began"], ["ended"]))
                        print(f"processing on {count}: {took:.2f}s | "
                              + " ".join(f"{s}@{at:.2f}" for at, s in marks) + f" | end@{end:.2f} | {hosts}",
                              file=sys.stderr)
                        after = _cpu_by_process()
                        used: dict[str, float] = {}
                        for pid, (cpu, cores, what) in after.items():
                            spent = cpu - before.get(pid, (0.0, (), ""))[0]
                            if spent >= 0.02 and "transform.py" not in what:
                                key = f"cores {','.join(map(str, cores))}: {what}"
                                used[key] = used.get(key, 0.0) + spent
                        for key, spent in sorted(used.items(), key=lambda kv: -kv[1])[:8]:
                            print(f"    {spent:6.2f} s CPU  {key}", file=sys.stderr)
                    return took

                # The processing jobs first, before any bare task has run: Ray keeps a finished
                # task's worker idle, later kills it and starts another for the next task (about
                # 0.6 s of CPU each, on its node's one core), which lands in whatever job runs then.
                job()  # warm: the server started
                processing(2)  # warm, as bare_shards warms its workers: both nodes have started a job
                ones, twos, bare_ones, bare_twos = [], [], [], []
                for _ in range(max(1, args.pairs)):
                    ones.append(processing(1))
                    twos.append(processing(2))
                via_ray()  # warm: workers up
                jobs, bares = [], []
                for _ in range(args.runs):
                    jobs.append(job())
                    bares.append(via_ray())
                for _ in range(max(1, args.pairs)):
                    bare_ones.append(bare_shards(1))
                    bare_twos.append(bare_shards(2))
                ray_tuning = float("nan") if args.skip_tuning else _tuning(root, args.trials)
        finally:
            ray.shutdown()
            cluster.shutdown()
    job_s, bare_s = statistics.median(jobs), statistics.median(bares)
    one, two = statistics.median(ones), statistics.median(twos)
    out.update({
        "noop_job_median_s": round(job_s, 3), "bare_ray_task_median_s": round(bare_s, 3),
        "added_s": round(job_s - bare_s, 3), "target_added_s": 0.5,
        "processing_one_node_s": round(one, 2), "processing_two_nodes_s": round(two, 2),
        "processing_speedup": round(one / two, 2), "target_speedup": 1.8,
        "processing_runs_s": {"one_node": [round(t, 2) for t in ones], "two_nodes": [round(t, 2) for t in twos]},
        "bare_ray_one_node_s": round(statistics.median(bare_ones), 2),
        "bare_ray_two_nodes_s": round(statistics.median(bare_twos), 2),
        "bare_ray_speedup": round(statistics.median(bare_ones) / statistics.median(bare_twos), 2),
        "tuning_trials": args.trials, "tuning_local_s": round(local_tuning, 2), "tuning_ray_s": round(ray_tuning, 2),
        "tuning_ratio": round(ray_tuning / local_tuning, 3), "target_tuning_ratio": 1.1,
    })
    out["met"] = (job_s - bare_s <= 0.5 and one / two >= 1.8 and ray_tuning / local_tuning <= 1.1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
