"""The TensorFlow 2 workflow as a SageMaker pipeline (``sagemaker.workflow`` with mlyard's imports).

    python examples/tf2_workflow/pipeline.py      (make demo runs it as its last step)

Process on 2 instances -> train -> create the model -> batch scoring -> score the predictions ->
a quality gate on the scored MSE (a ConditionStep reading the score's JSON with JsonGet): a model
that passes is registered in the model registry as Approved (RegisterModel, with its metrics); one
over the threshold fails the execution with a FailStep. The pipeline is started twice: the second
run reuses the first's processing step from the cache, and a third run with too strict a threshold
fails at the gate. Then the newest approved version is deployed from the registry
(``ModelPackage(...).deploy()``) and asked for predictions.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from prepare_data import prepare  # noqa: E402

import mlyard  # noqa: E402
from mlyard import get_execution_role  # noqa: E402
from mlyard.errors import ConflictError, MlyardWarning, UnexpectedStatusException  # noqa: E402
from mlyard.inputs import TrainingInput  # noqa: E402
from mlyard.model import ModelPackage  # noqa: E402
from mlyard.model_metrics import MetricsSource, ModelMetrics  # noqa: E402
from mlyard.processing import ProcessingInput, ProcessingOutput, ScriptProcessor  # noqa: E402
from mlyard.sklearn.processing import SKLearnProcessor  # noqa: E402
from mlyard.tensorflow import TensorFlow  # noqa: E402
from mlyard.tensorflow.model import TensorFlowModel  # noqa: E402
from mlyard.transformer import Transformer  # noqa: E402
from mlyard.workflow.condition_step import ConditionStep  # noqa: E402
from mlyard.workflow.conditions import ConditionLessThanOrEqualTo  # noqa: E402
from mlyard.workflow.execution_variables import ExecutionVariables  # noqa: E402
from mlyard.workflow.fail_step import FailStep  # noqa: E402
from mlyard.workflow.functions import Join, JsonGet  # noqa: E402
from mlyard.workflow.model_step import ModelStep  # noqa: E402
from mlyard.workflow.parameters import ParameterFloat, ParameterInteger  # noqa: E402
from mlyard.workflow.pipeline import Pipeline  # noqa: E402
from mlyard.workflow.pipeline_context import PipelineSession  # noqa: E402
from mlyard.workflow.properties import PropertyFile  # noqa: E402
from mlyard.workflow.step_collections import RegisterModel  # noqa: E402
from mlyard.workflow.steps import CacheConfig, ProcessingStep, TrainingStep, TransformStep  # noqa: E402

GROUP = "tf2-diabetes"


def build_pipeline(raw_s3: str, bucket: str, name: str) -> Pipeline:
    session = PipelineSession()
    role = get_execution_role()
    processing_count = ParameterInteger("ProcessingInstanceCount", default_value=2)
    training_count = ParameterInteger("TrainingInstanceCount", default_value=1)
    epochs = ParameterInteger("Epochs", default_value=20)
    max_mse = ParameterFloat("MseThreshold", default_value=6000.0)
    cache = CacheConfig(enable_caching=True, expire_after="P30D")

    processor = SKLearnProcessor(framework_version="1.5", role=role, instance_type="ml.m5.xlarge",
                                 instance_count=processing_count, sagemaker_session=session)
    process = ProcessingStep("Process", cache_config=cache, step_args=processor.run(
        code=str(HERE / "preprocessing.py"),
        inputs=[ProcessingInput(source=raw_s3, destination="/opt/ml/processing/input",
                                s3_data_distribution_type="ShardedByS3Key")],
        outputs=[ProcessingOutput(output_name=out, source=f"/opt/ml/processing/{out}")
                 for out in ("train", "test", "batch")],
        arguments=["--clip", "5"]))
    outputs = process.properties.ProcessingOutputConfig.Outputs

    estimator = TensorFlow(entry_point="train.py", source_dir=str(HERE / "train_model"), role=role,
                           instance_type="local", instance_count=training_count, framework_version="2.21",
                           py_version="py3", sagemaker_session=session,
                           hyperparameters={"epochs": epochs, "batch_size": 32, "learning_rate": 0.01})
    train = TrainingStep("Train", step_args=estimator.fit({
        "train": TrainingInput(outputs["train"].S3Output.S3Uri),
        "test": TrainingInput(outputs["test"].S3Output.S3Uri)}))

    model = TensorFlowModel(model_data=train.properties.ModelArtifacts.S3ModelArtifacts, role=role,
                            framework_version="2.21", sagemaker_session=session)
    create_model = ModelStep("CreateModel", step_args=model.create())

    transformer = Transformer(model_name=create_model.properties.ModelName, instance_count=1,
                              instance_type="local", accept="text/csv", assemble_with="Line",
                              output_path=Join(on="/", values=[f"s3://{bucket}/tf2-pipeline",
                                                               ExecutionVariables.PIPELINE_EXECUTION_ID, "scores"]),
                              sagemaker_session=session)
    transform = TransformStep("BatchScore", step_args=transformer.transform(
        data=outputs["batch"].S3Output.S3Uri, content_type="text/csv", split_type="Line"))

    scorer = ScriptProcessor(command=["python3"], role=role, instance_type="local", instance_count=1,
                             sagemaker_session=session)
    report = PropertyFile(name="evaluation", output_name="evaluation", path="evaluation.json")
    score = ProcessingStep("Score", property_files=[report], step_args=scorer.run(
        code=str(HERE / "score.py"),
        inputs=[ProcessingInput(source=transform.properties.TransformOutput.S3OutputPath,
                                destination="/opt/ml/processing/scores"),
                ProcessingInput(source=outputs["test"].S3Output.S3Uri, destination="/opt/ml/processing/test")],
        outputs=[ProcessingOutput(output_name="evaluation", source="/opt/ml/processing/evaluation")]))

    mse = JsonGet(step_name=score.name, property_file=report, json_path="regression_metrics.mse.value")
    too_high = FailStep("MseTooHigh", error_message=Join(on=" ", values=["the test MSE is above", max_mse]))
    metrics = ModelMetrics(model_statistics=MetricsSource(
        content_type="application/json",
        s3_uri=Join(on="/", values=[score.properties.ProcessingOutputConfig.Outputs["evaluation"].S3Output.S3Uri,
                                    "evaluation.json"])))
    register = RegisterModel("Register", model=model, content_types=["text/csv", "application/json"],
                             response_types=["application/json"], inference_instances=["local"],
                             transform_instances=["local"], model_package_group_name=GROUP,
                             approval_status="Approved", model_metrics=metrics,
                             description="passed the pipeline's quality gate")
    gate = ConditionStep("QualityGate", conditions=[ConditionLessThanOrEqualTo(mse, max_mse)],
                         if_steps=[register], else_steps=[too_high])
    return Pipeline(name=name, parameters=[processing_count, training_count, epochs, max_mse],
                    steps=[process, train, create_model, transform, score, gate], sagemaker_session=session)


def report(execution: mlyard.workflow.pipeline._PipelineExecution, took: float) -> None:
    desc = execution.describe()
    print(f"execution {execution.arn.rsplit('/', 1)[-1]}: {desc['PipelineExecutionStatus']} in {took:.1f}s")
    for s in reversed(execution.list_steps()):
        cached = s.get("CacheHitResult")
        registered = (s.get("Metadata") or {}).get("RegisterModel")
        if cached:
            note = f"cache hit (from {cached['SourcePipelineExecutionArn'].rsplit('/', 1)[-1]})"
        elif registered:
            note = f"registered {registered['Arn'].split(':model-package/', 1)[-1]}"
        elif s.get("StepType") in ("Condition", "Fail"):
            note = s.get("FailureReason") or json.dumps(s.get("Metadata", {}).get("Condition") or "")
        else:
            note = ""
        print(f"  {s['StepName']:<22} {s.get('StepType', ''):<13} {s['StepStatus']:<10} {note}")


def run(raw_s3: str | None = None) -> None:
    sess = mlyard.Session()
    try:
        sess.create_model_package_group(GROUP, "the TF2 workflow's models that passed its quality gate")
    except ConflictError:
        pass  # made by an earlier run
    if raw_s3 is None:
        data = prepare(HERE / "data", channels=False)
        raw_s3 = sess.upload_data(path=str(data / "raw"), key_prefix="tf-2-workflow/data/raw")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MlyardWarning)  # ml.m5.xlarge x 2 is scaled down to this machine
        pipeline = build_pipeline(raw_s3, sess.default_bucket(), "TF2Workflow")
    steps = json.loads(pipeline.definition())["Steps"]
    print("steps: " + " -> ".join(f"{s['Name']} ({s['Type']})" for s in steps))
    pipeline.upsert(role_arn=get_execution_role())
    for run_name, parameters in (("first run", {}), ("second run, nothing changed", {}),
                                 ("a strict threshold", {"MseThreshold": 1.0})):
        print(f"\n{run_name}:")
        started = time.monotonic()
        execution = pipeline.start(parameters=parameters)
        try:
            execution.wait(delay=2, max_attempts=600)
        except UnexpectedStatusException:
            pass  # the strict threshold fails at the gate, as it should
        report(execution, time.monotonic() - started)

    (latest, *_) = sess.list_model_packages(GROUP, "Approved")
    desc = sess.describe_model_package(latest["ModelPackageArn"])
    print(f"\nregistry: {GROUP} version {desc['ModelPackageVersion']} {desc['ModelApprovalStatus']} by "
          f"{desc['LastModifiedBy']['UserProfileName']}, metrics in "
          f"{desc['ModelMetrics']['ModelQuality']['Statistics']['S3Uri']}")
    predictor = ModelPackage(role=get_execution_role(), model_package_arn=desc["ModelPackageArn"],
                             sagemaker_session=sess).deploy(initial_instance_count=1, instance_type="local")
    try:
        print(f"deployed from the registry to {predictor.endpoint_name}: "
              f"{predictor.predict([[0.0] * 10])['predictions']} for an all-average row")
    finally:
        predictor.delete_endpoint()


if __name__ == "__main__":
    run()
