"""The TensorFlow 2 workflow, step by step, on your own machine.

    python examples/tf2_workflow/workflow.py      (or: make demo)

1. Prepare data: the diabetes data set as raw .npy arrays, uploaded to the session's default
   bucket (a local bucket in mlyard's store: s3:// URIs work with no AWS account).
2. Process: preprocessing.py standardizes them on 2 instances, the raw files sharded between them.
3. Train in local mode: a script-mode Keras script, run as a SageMaker training job would run it,
   on the processing job's train and test outputs.
4. Tune learning rate, epochs and batch size: 6 training jobs, 2 at a time, Bayesian search.
5. Deploy the best model to a local endpoint (2 instances) and predict 10 test rows.
6. Batch transform the whole test set with the best model, then delete the endpoint.
7. Automate it as a Step Functions workflow (TrainingPipeline: train -> model -> endpoint).
8. Retrain with a quality gate: a workflow whose judge is a registered Python function.
9. The same as a SageMaker pipeline (pipeline.py), started three times: cached processing, a gate.

With MLYARD_EXECUTOR=ray the jobs run on a Ray cluster: RAY_ADDRESS's, else one the example starts
here (a head and two worker nodes of two CPUs each, shut down at the end), with a control plane of
its own; each job's description then says which node each of its hosts ran on, and the endpoint's
which node each instance runs on.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
from prepare_data import prepare  # noqa: E402
from quality_gate import quality_gate  # noqa: E402

import mlyard  # noqa: E402
from mlyard import get_execution_role  # noqa: E402
from mlyard.errors import MlyardWarning  # noqa: E402
from mlyard.processing import ProcessingInput, ProcessingOutput, ScriptProcessor  # noqa: E402
from mlyard.s3 import S3Downloader  # noqa: E402
from mlyard.sklearn.processing import SKLearnProcessor  # noqa: E402
from mlyard.stepfunctions import functions  # noqa: E402
from mlyard.stepfunctions.inputs import ExecutionInput  # noqa: E402
from mlyard.stepfunctions.steps import Chain, Choice, ChoiceRule, Fail, LambdaStep  # noqa: E402
from mlyard.stepfunctions.steps.sagemaker import (  # noqa: E402
    EndpointConfigStep,
    EndpointStep,
    ModelStep,
    ProcessingStep,
    TrainingStep,
)
from mlyard.stepfunctions.template.pipeline import TrainingPipeline  # noqa: E402
from mlyard.stepfunctions.workflow import Workflow  # noqa: E402
from mlyard.tensorflow import TensorFlow  # noqa: E402
from mlyard.tensorflow.model import TensorFlowPredictor  # noqa: E402
from mlyard.tuner import ContinuousParameter, HyperparameterTuner, IntegerParameter  # noqa: E402


def step(title: str) -> None:
    print(f"\n=== {title} ===", flush=True)


def placement(desc: dict[str, Any]) -> str:
    """Where the job's hosts ran, when an executor placed them on a cluster's nodes."""
    placed = desc.get("MlyardPlacement") or []
    return ", ".join(f"{p['Host']} on node {str(p['Node'])[:8]} ({p['NodeAddress']})" for p in placed)


@contextlib.contextmanager
def executor() -> Iterator[None]:
    """MLYARD_EXECUTOR=ray without RAY_ADDRESS: a local Ray cluster of 2 worker nodes for the run, and
    a control plane of its own (a home in a temporary folder) that runs its jobs there."""
    if os.environ.get("MLYARD_EXECUTOR", "local") != "ray" or os.environ.get("RAY_ADDRESS"):
        yield
        return
    from ray.cluster_utils import Cluster

    gib = 1024**3
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "memory": gib, "object_store_memory": 100 * 1024**2, "include_dashboard": False})
    for _ in range(2):
        # 2 CPUs a node: the endpoint's 2 instances hold one each while the transform job runs.
        cluster.add_node(num_cpus=2, memory=8 * gib, object_store_memory=100 * 1024**2)
    home = Path(tempfile.mkdtemp(prefix="mlyard-ray-demo-"))
    os.environ.update(RAY_ADDRESS=cluster.address, MLYARD_HOME=str(home))
    print(f"Ray cluster at {cluster.address}: a head and 2 worker nodes of 2 CPUs; mlyard home {home}")
    try:
        yield
    finally:
        info = home / "server.json"
        if info.exists():
            with contextlib.suppress(OSError, ValueError):
                os.kill(json.loads(info.read_text())["pid"], signal.SIGTERM)
                time.sleep(2)
        cluster.shutdown()
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    step("1. Prepare data")
    data = prepare(HERE / "data", channels=False)
    sess = mlyard.Session()
    bucket = sess.default_bucket()
    s3_prefix = "tf-2-workflow"
    raw_s3 = sess.upload_data(path=str(data / "raw"), key_prefix=f"{s3_prefix}/data/raw")
    print(f"raw arrays under {data / 'raw'}, uploaded to {raw_s3}")

    step("2. Process: standardize the features on 2 instances (ShardedByS3Key)")
    processor = SKLearnProcessor(framework_version="1.5", role=get_execution_role(),
                                 instance_type="ml.m5.xlarge", instance_count=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MlyardWarning)  # ml.m5.xlarge x 2 is scaled down to this machine
        output_destination = f"s3://{bucket}/{s3_prefix}/data"
        processor.run(code=str(HERE / "preprocessing.py"),
                      inputs=[ProcessingInput(source=raw_s3, destination="/opt/ml/processing/input",
                                              s3_data_distribution_type="ShardedByS3Key")],
                      outputs=[ProcessingOutput(output_name="train", source="/opt/ml/processing/train",
                                                destination=f"{output_destination}/train"),
                               ProcessingOutput(output_name="test", source="/opt/ml/processing/test",
                                                destination=f"{output_destination}/test")],
                      arguments=["--clip", "5"])
    outputs = {o["OutputName"]: o["S3Output"]["S3Uri"]
               for o in processor.jobs[-1].describe()["ProcessingOutputConfig"]["Outputs"]}
    print(f"processing job {processor.jobs[-1].job_name}: train -> {outputs['train']}")
    print(f"{'':15}test  -> {outputs['test']}")
    if placement(processor.jobs[-1].describe()):
        print(f"{'':15}ran {placement(processor.jobs[-1].describe())}")

    step("3. Train in local mode")
    metric_definitions = [{"Name": "loss", "Regex": " loss: ([0-9\\.]+)"},
                          {"Name": "val_loss", "Regex": " val_loss: ([0-9\\.]+)"}]
    estimator = TensorFlow(entry_point="train.py", source_dir=str(HERE / "train_model"),
                           role=get_execution_role(), instance_type="local", instance_count=1,
                           framework_version="2.21", py_version="py3",
                           hyperparameters={"epochs": 30, "batch_size": 32, "learning_rate": 0.01},
                           metric_definitions=metric_definitions)
    started = time.monotonic()
    estimator.fit({"train": outputs["train"], "test": outputs["test"]})
    job = estimator.latest_training_job
    assert job is not None
    desc = job.describe()
    final = {m["MetricName"]: m["Value"] for m in desc["FinalMetricDataList"]}
    print(f"\ntraining job  {job.name}: {desc['TrainingJobStatus']} in {time.monotonic() - started:.1f}s")
    print(f"model         {estimator.model_data}")
    if placement(desc):
        print(f"ran           {placement(desc)}")
    print(f"final val_loss {final['val_loss']:.2f}")
    df = estimator.training_job_analytics.dataframe()
    series = df[df.metric_name == "val_loss"]["value"]
    print(f"val_loss went from {series.iloc[0]:.1f} to {series.iloc[-1]:.1f} over {len(series)} epochs")

    step("4. Tune: 6 training jobs, 2 at a time, Bayesian search")
    ranges = {"learning_rate": ContinuousParameter(0.001, 0.2, scaling_type="Logarithmic"),
              "epochs": IntegerParameter(10, 50), "batch_size": IntegerParameter(64, 256)}
    tuner = HyperparameterTuner(estimator, "val_loss", ranges, metric_definitions, max_jobs=6, max_parallel_jobs=2,
                                objective_type="Minimize", random_seed=7)
    started = time.monotonic()
    tuner.fit({"train": outputs["train"], "test": outputs["test"]})
    tuning = tuner.describe()
    best = tuning["BestTrainingJob"]
    print(f"\ntuning job {tuner.latest_tuning_job.name if tuner.latest_tuning_job else ''}: "
          f"{tuning['HyperParameterTuningJobStatus']} in {time.monotonic() - started:.1f}s, "
          f"{tuning['TrainingJobStatusCounters']['Completed']} jobs completed")
    print(f"best job   {best['TrainingJobName']}: val_loss "
          f"{best['FinalHyperParameterTuningJobObjectiveMetric']['Value']:.2f} with {best['TunedHyperParameters']}")
    df = tuner.analytics().dataframe().sort_values("FinalObjectiveValue")
    print(df[["learning_rate", "epochs", "batch_size", "FinalObjectiveValue", "TrainingElapsedTimeSeconds"]]
          .to_string(index=False))

    step("5. Deploy the best model to a local endpoint and predict")
    test_dir = HERE / "data" / "test-processed"
    S3Downloader.download(outputs["test"], str(test_dir))
    x_test, y_test = np.load(test_dir / "x_test.npy"), np.load(test_dir / "y_test.npy")
    predictor = tuner.deploy(initial_instance_count=2, instance_type="local")
    print(f"endpoint {predictor.endpoint_name} at {predictor.endpoint_url}")
    instances = predictor.describe()["Instances"]
    if any(i.get("node") for i in instances):
        print("instances " + ", ".join(f"{i['variant']}/{i['index'] + 1} on node {str(i['node'])[:8]} "
                                       f"({i['address']}:{i['port']})" for i in instances))
    predictions = predictor.predict(x_test[:10])["predictions"]
    print(f"{'prediction':>12} {'label':>8}")
    for (p,), label in zip(predictions, y_test[:10], strict=True):
        print(f"{p:12.1f} {label:8.1f}")

    step("6. Batch transform the test set with the best model, then delete the endpoint")
    csv_dir = HERE / "data" / "transform-input"
    csv_dir.mkdir(parents=True, exist_ok=True)
    np.savetxt(csv_dir / "x_test.csv", x_test, delimiter=",", fmt="%.6f")
    transformer = tuner.best_estimator().transformer(instance_count=2, instance_type="local",
                                                     strategy="MultiRecord", assemble_with="Line", accept="text/csv")
    csv_s3 = sess.upload_data(path=str(csv_dir), key_prefix=f"{s3_prefix}/data/csv-test")
    transformer.transform(data=csv_s3, content_type="text/csv", split_type="Line", logs=False)
    out = S3Downloader.read_file(f"{transformer.output_path}/x_test.csv.out").split()
    mse = float(np.mean((np.array(out, dtype=float) - y_test) ** 2))
    print(f"transform job {transformer.latest_transform_job.job_name}: {len(out)} predictions in "
          f"{transformer.output_path}, MSE {mse:.1f}")
    sess.delete_endpoint(predictor.endpoint_name)
    print(f"endpoint {predictor.endpoint_name} deleted")

    step("7. Automate: a TrainingPipeline workflow (train -> create model -> configure endpoint -> deploy)")
    pipeline_estimator = TensorFlow(entry_point="train.py", source_dir=str(HERE / "train_model"),
                                    role=get_execution_role(), instance_type="local", instance_count=1,
                                    framework_version="2.21", py_version="py3",
                                    hyperparameters={"epochs": 20, "batch_size": 32, "learning_rate": 0.01},
                                    metric_definitions=metric_definitions)
    pipeline = TrainingPipeline(estimator=pipeline_estimator, role=get_execution_role(),
                                inputs={"train": outputs["train"], "test": outputs["test"]}, s3_bucket=bucket,
                                pipeline_name=f"tf2-training-pipeline-{int(time.time())}")
    states = json.loads(pipeline.workflow.definition.to_json())["States"]
    print("states: " + " -> ".join(f"{name} ({state['Resource'].rsplit(':', 1)[1]})" for name, state in states.items()))
    graph = pipeline.render_graph().save(HERE / "data" / "training-pipeline.html")
    print(f"graph (self-contained SVG) in {graph}")
    pipeline.create()
    started = time.monotonic()
    execution = pipeline.execute(job_name=f"tf2-pipeline-{int(time.time())}")
    execution.get_output(wait=True)
    print(f"execution {execution.name}: {execution.status} in {time.monotonic() - started:.1f}s")
    for event in execution.list_events():
        details = next((v for k, v in event.items() if k.endswith("EventDetails")), {}) or {}
        if event["type"] in ("TaskSubmitted", "TaskSucceeded", "TaskFailed") or event["type"].startswith("Execution"):
            print(f"  {event['id']:3d} {event['type']:<20} {details.get('name', '')}")
    progress = execution.render_progress().save(HERE / "data" / "training-pipeline-progress.html")
    print(f"progress in {progress}")
    endpoint = json.loads(execution.describe()["input"])["Deploy"]["EndpointName"]
    sess.wait_for_endpoint(endpoint, poll=1)
    deployed = TensorFlowPredictor(endpoint, sagemaker_session=sess)
    print(f"endpoint {endpoint} (made by the workflow) predicts {deployed.predict(x_test[:3])['predictions']} "
          f"for labels {[float(v) for v in y_test[:3]]}")

    step("8. Retrain with a quality gate: process -> train -> evaluate -> judge (a Python function) -> deploy "
         "only if it passes")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MlyardWarning)  # scikit-learn 1.5 asked for: the installed one runs
        retraining = retraining_workflow(raw_s3, output_destination, metric_definitions, endpoint)
    retraining.create()
    for run, max_mse in (("passes", 100000), ("forced-fail", 1)):
        stamp = f"{int(time.time())}-{run}"
        execution = retraining.execute(name=f"retrain-{stamp}", inputs={
            "PreprocessingJobName": f"retrain-prep-{stamp}", "TrainingJobName": f"retrain-train-{stamp}",
            "EvaluationJobName": f"retrain-eval-{stamp}", "ModelName": f"retrain-model-{stamp}",
            "EndpointConfigName": f"retrain-config-{stamp}", "MaxMSE": max_mse})
        execution.get_output(wait=True)
        desc = execution.describe()
        verdict = next((json.loads(e["stateExitedEventDetails"]["output"])["gate"]["verdict"]
                        for e in execution.list_events(max_items=1000) if e["type"] == "TaskStateExited"
                        and e["stateExitedEventDetails"]["name"] == "Judge"), {"reason": "no verdict"})
        page = execution.render_progress().save(HERE / "data" / f"retraining-{run}.html")
        print(f"run {run:<12} judged in a job: {verdict['reason']} -> {desc['status']}"
              + (f" ({desc['error']}: {desc['cause']})" if desc.get("error") else
                 f", endpoint {endpoint} now serves {json.loads(desc['input'])['ModelName']}")
              + f"; progress in {page}")
    sess.delete_endpoint(endpoint)
    print(f"endpoint {endpoint} deleted")

    step("9. The same as a SageMaker pipeline: process -> train -> create model -> batch score -> score -> "
         "quality gate -> register (Approved), started three times (the processing step cached after the first); "
         "then deploy the approved version from the model registry")
    import pipeline as sagemaker_pipeline

    sagemaker_pipeline.run(raw_s3)


def retraining_workflow(raw_s3: str, data_s3: str, metric_definitions: list[dict[str, str]],
                        endpoint: str) -> Workflow:
    """Processing -> training -> evaluation -> Choice on the test MSE -> update the endpoint, or fail."""
    names = ExecutionInput(schema={"PreprocessingJobName": str, "TrainingJobName": str, "EvaluationJobName": str,
                                   "ModelName": str, "EndpointConfigName": str, "MaxMSE": float})
    role = get_execution_role()
    processor = SKLearnProcessor(framework_version="1.5", role=role, instance_type="local", instance_count=1)
    preprocess = ProcessingStep(
        "Preprocess", processor, job_name=names["PreprocessingJobName"],
        inputs=[ProcessingInput(source=raw_s3, destination="/opt/ml/processing/input"),
                ProcessingInput(source=str(HERE / "preprocessing.py"), destination="/opt/ml/processing/input/code")],
        outputs=[ProcessingOutput(source="/opt/ml/processing/train", destination=f"{data_s3}/retrain/train"),
                 ProcessingOutput(source="/opt/ml/processing/test", destination=f"{data_s3}/retrain/test")],
        container_entrypoint=["python3", "/opt/ml/processing/input/code/preprocessing.py"],
        result_path="$.preprocessing")
    estimator = TensorFlow(entry_point="train.py", source_dir=str(HERE / "train_model"), role=role,
                           instance_type="local", instance_count=1, framework_version="2.21", py_version="py3",
                           hyperparameters={"epochs": 20, "batch_size": 32, "learning_rate": 0.01},
                           metric_definitions=metric_definitions)
    train = TrainingStep("Train", estimator, job_name=names["TrainingJobName"],
                         data={"train": f"{data_s3}/retrain/train", "test": f"{data_s3}/retrain/test"})
    evaluator = ScriptProcessor(command=["python3"], role=role, instance_type="local", instance_count=1,
                                metric_definitions=[{"Name": "test_mse", "Regex": "test_mse: ([0-9.]+)"}])
    evaluate = ProcessingStep(
        "Evaluate", evaluator, job_name=names["EvaluationJobName"],
        inputs=[ProcessingInput(source="s3://model-of-the-training-step/model.tar.gz",
                                destination="/opt/ml/processing/model"),
                ProcessingInput(source=f"{data_s3}/retrain/test", destination="/opt/ml/processing/test"),
                ProcessingInput(source=str(HERE / "evaluate.py"), destination="/opt/ml/processing/input/code")],
        container_entrypoint=["python3", "/opt/ml/processing/input/code/evaluate.py"],
        result_selector={"mse.$": "States.ArrayGetItem($.FinalMetricDataList[?(@.MetricName == 'test_mse')].Value, 0)"},
        result_path="$.evaluation")
    # the model is what the training step made: read from its output when the workflow runs
    evaluate.fields["parameters"]["ProcessingInputs"][0]["S3Input"]["S3Uri"] = \
        train.output()["ModelArtifacts"]["S3ModelArtifacts"]
    # The gate's rule is a Python function (quality_gate.py), registered with the server and run in a job
    functions.register(quality_gate)
    judge = LambdaStep("Judge", parameters={"FunctionName": "quality_gate", "Payload": {
        "mse.$": "$.evaluation.mse", "max_mse": names["MaxMSE"]}}, result_selector={"verdict.$": "$.Payload"},
        result_path="$.gate")
    model = ModelStep("Create Model", train.get_expected_model(), model_name=names["ModelName"])
    config = EndpointConfigStep("Configure Endpoint", endpoint_config_name=names["EndpointConfigName"],
                                model_name=names["ModelName"], initial_instance_count=1, instance_type="local")
    deploy = EndpointStep("Update Endpoint", endpoint_name=endpoint, endpoint_config_name=names["EndpointConfigName"],
                          update=True)
    gate = Choice("MSE Gate")
    gate.add_choice(ChoiceRule.BooleanEquals(variable="$.gate.verdict.passed", value=True),
                    Chain([model, config, deploy]).steps[0])
    gate.default_choice(Fail("Quality Gate Failed", error="QualityGate",
                             cause="the retrained model's test MSE is above MaxMSE: the endpoint keeps its model"))
    return Workflow(f"tf2-retraining-{int(time.time())}", Chain([preprocess, train, evaluate, judge, gate]), role,
                    execution_input=names)


if __name__ == "__main__":
    with executor():
        main()
