"""A SageMaker pipeline of 6 job steps (processing and training, real jobs on a local server),
started twice with nothing changed: the second run's steps are all cache hits. Prints one JSON line.

    python bench/pipeline.py [--sleep 1.0]

Subject: the second execution, start to end (target at most 1 s); baseline: the first execution,
which ran every job (each script sleeps ``--sleep`` seconds, as a small real job's work would
take). The ratio is second / first.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from home import isolated_home  # noqa: E402


def build(root: Path, sleep: float) -> Any:
    from mlyard.estimator import Estimator
    from mlyard.inputs import TrainingInput
    from mlyard.processing import ProcessingOutput, ScriptProcessor
    from mlyard.workflow.pipeline import Pipeline
    from mlyard.workflow.pipeline_context import PipelineSession
    from mlyard.workflow.steps import CacheConfig, ProcessingStep, TrainingStep

    (root / "prepare.py").write_text(
        f"import os, time\ntime.sleep({sleep})\nos.makedirs('/opt/ml/processing/out', exist_ok=True)\n"
        "open('/opt/ml/processing/out/rows.csv', 'w').write('1,2\\n3,4\\n')\n")
    (root / "train.py").write_text(
        f"import os, time\ntime.sleep({sleep})\n"
        "open(os.path.join(os.environ['SM_MODEL_DIR'], 'model.txt'), 'w').write('m')\n")
    session = PipelineSession()
    cache = CacheConfig(enable_caching=True, expire_after="PT1H")
    steps: list[Any] = []
    for name in ("PrepareA", "PrepareB"):
        processor = ScriptProcessor(command=["python3"], role="r", instance_type="local", sagemaker_session=session)
        steps.append(ProcessingStep(name, cache_config=cache, step_args=processor.run(
            code=str(root / "prepare.py"), outputs=[ProcessingOutput(output_name="out",
                                                                     source="/opt/ml/processing/out")])))
    for name, data in (("TrainA", steps[0]), ("TrainB", steps[1]), ("TrainC", steps[0]), ("TrainD", steps[1])):
        estimator = Estimator(entry_point=str(root / "train.py"), role="r", instance_type="local",
                              sagemaker_session=session, hyperparameters={"run": name})
        steps.append(TrainingStep(name, cache_config=cache, step_args=estimator.fit({"train": TrainingInput(
            data.properties.ProcessingOutputConfig.Outputs["out"].S3Output.S3Uri)})))
    return Pipeline("bench-six-steps", steps=steps, sagemaker_session=session)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sleep", type=float, default=1.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlyard-bench-") as tmp, isolated_home(Path(tmp)):
        pipeline = build(Path(tmp), args.sleep)
        pipeline.upsert()
        times = []
        executions = []
        for _ in range(2):
            started = time.perf_counter()
            execution = pipeline.start()
            execution.wait(delay=1, max_attempts=600)
            times.append(time.perf_counter() - started)
            executions.append(execution)
        second = executions[1].list_steps()
        hits = sum(1 for s in second if s.get("CacheHitResult"))
        print(json.dumps({
            "steps": len(second), "first_run_s": round(times[0], 3), "second_run_s": round(times[1], 3),
            "cache_hits": hits, "ratio_second_to_first": round(times[1] / times[0], 3),
            "target": "second run, all steps cache hits, at most 1 s",
            "met": hits == len(second) == 6 and times[1] <= 1.0}))


if __name__ == "__main__":
    main()
