"""The SDK's SageMaker surface: names reachable as ``sagemaker.`` offers them, ``image_uris``,
old version strings, cloud-only arguments, SageMaker's spellings and positional orders,
``mlyard.exceptions``, ``mlyard.local`` and the inputs."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from conftest import bwrap_usable, write_script

import mlyard
from mlyard import compat, image_uris
from mlyard.errors import MlyardError, MlyardWarning, ValidationError

ROOT = Path(__file__).resolve().parent.parent
PY = f"py{sys.version_info.major}{sys.version_info.minor}"

# What SageMaker notebooks reach through ``sagemaker.`` (SDK v2) and mlyard provides.
SAGEMAKER_NAMES = [
    "Session", "LocalSession", "get_execution_role", "Estimator", "Framework", "Model", "FrameworkModel",
    "Predictor", "PipelineModel", "pipeline.PipelineModel", "Processor", "ScriptProcessor", "ProcessingInput",
    "ProcessingOutput", "TrainingInput",
    "Transformer", "TrainingJobAnalytics", "HyperparameterTuningJobAnalytics", "HyperparameterTuner",
    "ContinuousParameter", "IntegerParameter", "CategoricalParameter", "DataCaptureConfig", "__version__",
    "container_def", "production_variant", "s3_input", "network.NetworkConfig",
    "serverless.ServerlessInferenceConfig", "tensorflow.serving.Model", "tensorflow.serving.Predictor",
    "session.Session", "session.get_execution_role", "estimator.Estimator", "estimator.Framework",
    "model.Model", "model.FrameworkModel", "predictor.Predictor", "processing.Processor",
    "processing.ScriptProcessor", "processing.FrameworkProcessor", "processing.ProcessingInput",
    "processing.ProcessingOutput", "processing.ProcessingJob", "inputs.TrainingInput", "inputs.FileSystemInput",
    "inputs.TransformInput", "inputs.CreateModelInput", "tuner.HyperparameterTuner", "tuner.ContinuousParameter",
    "tuner.IntegerParameter", "tuner.CategoricalParameter", "tuner.WarmStartConfig", "tuner.WarmStartTypes",
    "tuner.TuningJobCompletionCriteriaConfig", "tuner.HyperbandStrategyConfig", "tuner.StrategyConfig",
    "transformer.Transformer", "analytics.TrainingJobAnalytics", "analytics.HyperparameterTuningJobAnalytics",
    "model_monitor.DataCaptureConfig", "tensorflow.TensorFlow", "tensorflow.TensorFlowModel",
    "tensorflow.TensorFlowPredictor", "tensorflow.TensorFlowProcessor", "tensorflow.estimator.TensorFlow",
    "tensorflow.model.TensorFlowModel", "tensorflow.processing.TensorFlowProcessor", "pytorch.PyTorch",
    "pytorch.PyTorchModel", "pytorch.PyTorchPredictor", "pytorch.PyTorchProcessor", "pytorch.estimator.PyTorch",
    "pytorch.model.PyTorchModel", "pytorch.processing.PyTorchProcessor", "sklearn.SKLearn", "sklearn.SKLearnModel",
    "sklearn.SKLearnPredictor", "sklearn.SKLearnProcessor", "sklearn.estimator.SKLearn",
    "sklearn.model.SKLearnModel", "sklearn.processing.SKLearnProcessor", "local.LocalSession",
    "local.local_session.LocalSession", "exceptions.UnexpectedStatusException", "exceptions.CapacityError",
    "exceptions.AsyncInferenceError", "exceptions.AsyncInferenceModelError", "exceptions.ObjectNotExistedError",
    "exceptions.PollingTimeoutError", "exceptions.UnexpectedClientError", "exceptions.ModelStreamError",
    "serializers.JSONSerializer", "serializers.CSVSerializer", "serializers.NumpySerializer",
    "serializers.JSONLinesSerializer", "serializers.IdentitySerializer", "serializers.StringSerializer",
    "serializers.BaseSerializer", "deserializers.JSONDeserializer", "deserializers.CSVDeserializer",
    "deserializers.NumpyDeserializer", "deserializers.StringDeserializer", "deserializers.BytesDeserializer",
    "deserializers.JSONLinesDeserializer", "deserializers.StreamDeserializer", "deserializers.PandasDeserializer",
    "deserializers.BaseDeserializer", "image_uris.retrieve", "lambda_helper.Lambda", "ModelPackage", "ModelMetrics",
    "MetricsSource",
    "model.ModelPackage", "model_metrics.ModelMetrics", "model_metrics.MetricsSource",
    "workflow.step_collections.RegisterModel",
    "workflow.pipeline.Pipeline", "workflow.pipeline_context.PipelineSession", "workflow.steps.TrainingStep",
    "workflow.steps.ProcessingStep", "workflow.steps.TransformStep", "workflow.steps.TuningStep",
    "workflow.steps.CreateModelStep", "workflow.model_step.ModelStep", "workflow.lambda_step.LambdaStep",
    "workflow.selective_execution_config.SelectiveExecutionConfig",
    "workflow.pipeline_experiment_config.PipelineExperimentConfig",
    # written in other branches: skipped while their module is missing here
    "s3.S3Uploader", "s3.S3Downloader", "s3.s3_path_join", "s3.parse_s3_url", "utils.name_from_base",
    "utils.unique_name_from_base", "utils.sagemaker_timestamp",
]


@contextmanager
def recorded() -> Iterator[list[warnings.WarningMessage]]:
    """Every MlyardWarning raised inside, whatever pytest's filters say."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught  # type: ignore[misc]
    caught[:] = [w for w in caught if issubclass(w.category, MlyardWarning)]


def _installed(framework: str) -> str:
    version = compat.installed_version(framework)
    if version is None:
        pytest.skip(f"{framework} is not installed")
    return ".".join(version.split(".")[:2])


# -- names ------------------------------------------------------------------------------------
@pytest.mark.parametrize("dotted", SAGEMAKER_NAMES)
def test_sagemaker_name_resolves(dotted: str) -> None:
    obj = mlyard
    for part in dotted.split("."):
        obj = getattr(obj, part)
    assert obj is not None


def test_missing_sagemaker_names_say_mlyard_lacks_them() -> None:
    for name in ("xgboost", "wrangler", "KMeans", "AutoML"):
        with pytest.raises(AttributeError, match=rf"mlyard does not provide sagemaker\.{name} yet"):
            getattr(mlyard, name)
    with pytest.raises(AttributeError, match="has no attribute 'no_such_thing'"):
        mlyard.no_such_thing  # noqa: B018
    assert not hasattr(mlyard, "xgboost")
    with pytest.raises(AttributeError,
                       match=r"mlyard does not provide sagemaker\.workflow\.monitor_batch_transform_step yet"):
        mlyard.workflow.monitor_batch_transform_step  # noqa: B018


def test_submodules_are_attributes_in_a_fresh_interpreter_and_import_mlyard_stays_light() -> None:
    code = (
        "import sys, mlyard\n"
        "light = sorted(m for m in sys.modules if m.startswith('mlyard.') or m in ('numpy', 'httpx', 'fastapi'))\n"
        "s = mlyard.session.Session()\n"
        "print(light, type(s).__module__, mlyard.local.LocalSession.__mro__[1].__name__,\n"
        "      mlyard.tensorflow.TensorFlowProcessor.__name__, mlyard.image_uris.retrieve.__name__)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.split() == ["[]", "mlyard.session", "Session", "TensorFlowProcessor", "retrieve"]


# -- image_uris ---------------------------------------------------------------------------------
def test_retrieve_and_parse() -> None:
    uri = image_uris.retrieve("tensorflow", region="us-east-1", version="2.16", py_version="py311",
                              instance_type="ml.p3.2xlarge", image_scope="training")
    assert uri == "mlyard/tensorflow-training:2.16-gpu-py311"
    assert image_uris.parse(uri) == image_uris.ImageSpec("tensorflow", "training", "2.16", "gpu", "py311")
    assert image_uris.retrieve("sklearn", version="0.23-1", instance_type="local",
                               image_scope="inference") == f"mlyard/sklearn-inference:0.23-1-cpu-{PY}"
    assert image_uris.parse("mlyard/sklearn:0.23-1").version == "0.23-1"
    # Without a version: the installed one.
    installed = _installed("sklearn")
    assert image_uris.parse(image_uris.retrieve("scikit-learn")).version == installed
    # An ECR image of an old notebook is not mlyard's: recorded only.
    assert image_uris.parse("763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-training:2.1-cpu-py3") is None


def test_retrieve_refuses_unknown_frameworks_and_builtin_algorithms() -> None:
    with pytest.raises(ValidationError, match="known frameworks are tensorflow, pytorch, sklearn"):
        image_uris.retrieve("caffe", version="1.0")
    for algorithm in ("xgboost", "linear-learner", "huggingface"):
        with pytest.raises(ValidationError, match="built-in algorithm or container, which mlyard cannot run"):
            image_uris.retrieve(algorithm, region="us-east-1", version="1.5-1")
    with pytest.raises(ValidationError, match="'banana' is not a TensorFlow version"):
        image_uris.retrieve("tensorflow", version="banana")
    with pytest.raises(ValidationError, match="image_scope 'cooking'"):
        image_uris.retrieve("tensorflow", version="2.16", image_scope="cooking")
    with pytest.raises(ValidationError, match="framework 'caffe', which mlyard does not have"):
        image_uris.parse("mlyard/caffe-training:1.0")


def test_images_select_the_framework_of_estimators_models_and_processors(tmp_path: Path) -> None:
    from mlyard.estimator import Estimator
    from mlyard.model import Model
    from mlyard.processing import ScriptProcessor
    from mlyard.pytorch import PyTorch
    from mlyard.tensorflow import TensorFlowPredictor

    tf = _installed("tensorflow")
    est = Estimator(image_uri=image_uris.retrieve("tensorflow", version=tf, image_scope="training"),
                    entry_point="train.py", instance_type="local")
    assert (est._framework, est.framework_version) == ("tensorflow", tf)
    model = Model(image_uri=image_uris.retrieve("tensorflow", version=tf, image_scope="inference"),
                  model_data=str(tmp_path))
    assert model._framework == "tensorflow" and model.predictor_cls is TensorFlowPredictor
    sk = _installed("sklearn")
    proc = ScriptProcessor(image_uri=image_uris.retrieve("sklearn", version=sk), command=["python3"], role="r",
                           instance_type="local", instance_count=1)
    assert (proc._framework, proc.framework_version) == ("sklearn", sk)
    assert proc._image_name() == f"mlyard/sklearn-processing:{sk}"
    # Other images are recorded only; a framework's estimator refuses another framework's image.
    ecr = Estimator(image_uri="123456789012.dkr.ecr.us-east-1.amazonaws.com/mine:1", entry_point="t.py",
                    instance_type="local")
    assert ecr._framework is None
    with pytest.raises(ValidationError, match="is a tensorflow image; this estimator runs pytorch"):
        PyTorch(entry_point="t.py", image_uri=image_uris.retrieve("tensorflow", version=tf), instance_type="local")


def test_estimator_built_from_an_image_runs_as_that_framework(session, tmp_path: Path, home: Path) -> None:
    """An old TensorFlow version from an image runs on the installed TensorFlow with Keras 2, as
    the TensorFlow estimator of that version does (the runner reads the framework and version)."""
    from mlyard.estimator import Estimator

    _installed("tensorflow")
    write_script(tmp_path, "train.py", """
        import os
        print("legacy-keras", os.environ.get("TF_USE_LEGACY_KERAS"))
    """)
    with recorded() as caught:
        est = Estimator(image_uri=image_uris.retrieve("tensorflow", version="2.3.0", image_scope="training"),
                        entry_point=str(tmp_path / "train.py"), role="r", instance_type="local")
    assert len(caught) == 1 and "TensorFlow 2.3.0 was asked" in str(caught[0].message)
    est.fit(logs=False)
    desc = est.latest_training_job.describe()
    assert desc["AlgorithmSpecification"]["TrainingImage"].startswith("mlyard/tensorflow-training:2.3.0")
    assert desc["MlyardConfig"]["Framework"] == "tensorflow"
    log = (home / "jobs" / est.latest_training_job.name / "logs" / "algo-1.log").read_text()
    assert "legacy-keras 1" in log


@pytest.mark.skipif(not bwrap_usable(), reason="processing code lies under /opt/ml: needs bubblewrap")
def test_script_processor_with_a_retrieved_image_runs(session, tmp_path: Path) -> None:
    from mlyard.processing import ScriptProcessor

    sk = _installed("sklearn")
    write_script(tmp_path, "p.py", """
        import sklearn
        print("sklearn", sklearn.__version__)
    """)
    proc = ScriptProcessor(image_uri=image_uris.retrieve("sklearn", version=sk, region="us-east-1"),
                           command=["python3"], role="r", instance_type="local", instance_count=1)
    proc.run(code=str(tmp_path / "p.py"), logs=False)
    desc = proc.latest_job.describe()
    assert desc["ProcessingJobStatus"] == "Completed"
    assert desc["AppSpecification"]["ImageUri"].startswith(f"mlyard/sklearn-training:{sk}")


# -- versions -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("framework", "version", "py_version"), [
    ("tensorflow", "2.1", None), ("tensorflow", "2.2", "py37"), ("tensorflow", "2.3.0", None),
    ("pytorch", "1.8", "py38"), ("sklearn", "0.20.0", "py3"), ("sklearn", "0.23-1", None),
    ("sklearn", "1.0-1", None), ("tensorflow", "99.1", None),
])
def test_old_versions_resolve_to_the_installed_one_with_one_warning(framework: str, version: str,
                                                                     py_version: str | None) -> None:
    installed = compat.installed_version(framework)
    if installed is None:
        pytest.skip(f"{framework} is not installed")
    with recorded() as caught:
        compat.resolve_versions("X", framework, version, py_version)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert f"{version} was asked" in message and installed in message
    if py_version not in (None, "py3"):
        assert f"py_version={py_version!r}" in message


def test_installed_versions_and_py3_resolve_silently() -> None:
    sk = _installed("sklearn")
    with recorded() as caught:
        compat.resolve_versions("X", "sklearn", sk, "py3")
        compat.resolve_versions("X", "sklearn", sk, PY)
        compat.resolve_versions("X", "sklearn", None, None)
    assert caught == []


@pytest.mark.parametrize(("version", "py_version", "match"), [
    ("two", None, "framework_version 'two' is not a scikit-learn version"),
    ("1.x", None, "is not a scikit-learn version"),
    (None, "python3", "py_version 'python3' is not a Python version"),
])
def test_garbage_versions_are_refused(version: str | None, py_version: str | None, match: str) -> None:
    from mlyard.sklearn import SKLearn

    with pytest.raises(ValidationError, match=match):
        SKLearn(entry_point="t.py", framework_version=version or _installed("sklearn"),
                py_version=py_version or "py3", instance_type="local")


def test_each_kind_of_object_warns_once_for_an_old_version(tmp_path: Path) -> None:
    from mlyard.sklearn import SKLearn, SKLearnModel, SKLearnProcessor
    from mlyard.tensorflow import TensorFlow

    _installed("sklearn")
    for make in (lambda: SKLearn("t.py", "0.23-1", instance_type="local"),
                 lambda: TensorFlow(entry_point="t.py", framework_version="2.1", py_version="py37",
                                    instance_type="local"),
                 lambda: SKLearnModel(str(tmp_path), "r", None, "0.20.0"),
                 lambda: SKLearnProcessor("1.0-1", role="r", instance_type="local", instance_count=1)):
        with recorded() as caught:
            make()
        assert len(caught) == 1, [str(w.message) for w in caught]
        assert "was asked" in str(caught[0].message)


# -- cloud-only arguments ---------------------------------------------------------------------------
def test_cloud_only_arguments_warn_once_naming_each(tmp_path: Path) -> None:
    from mlyard.estimator import Estimator
    from mlyard.model import Model
    from mlyard.processing import Processor
    from mlyard.transformer import Transformer
    from mlyard.tuner import ContinuousParameter, HyperparameterTuner

    with recorded() as caught:
        est = Estimator(entry_point="t.py", instance_type="local", subnets=["subnet-1"],
                        security_group_ids=["sg-1"], volume_kms_key="k", volume_size=100, use_spot_instances=True,
                        max_wait=3600)
    assert len(caught) == 1
    message = str(caught[0].message)
    for name in ("subnets", "security_group_ids", "volume_kms_key", "volume_size", "use_spot_instances", "max_wait"):
        assert f"{name}=" in message
    assert "not applied" in message
    # Values that ask for nothing need no warning; the harmless ones are honoured silently.
    with recorded() as caught:
        Estimator(entry_point="t.py", instance_type="local", use_spot_instances=False, enable_network_isolation=False,
                  debugger_hook_config=False, container_log_level=20, code_location="s3://b/code",
                  distribution={"torch_distributed": {"enabled": True}})
        Processor(role="r", instance_type="local", entrypoint=["python3"], volume_size_in_gb=30)
    assert caught == []
    checks = [
        (lambda: Estimator(entry_point="t.py", instance_type="local", distribution={"smdistributed": {}}),
         "distribution="),
        (lambda: Processor(role="r", instance_type="local", entrypoint=["python3"], volume_size_in_gb=100,
                           network_config=object(), output_kms_key="k"), "volume_size_in_gb=100"),
        (lambda: Model(model_data=str(tmp_path), vpc_config={"Subnets": ["s"]}, model_kms_key="k"), "vpc_config="),
        (lambda: Transformer("m", 1, "local", volume_kms_key="k", output_kms_key="k2"), "volume_kms_key="),
        (lambda: HyperparameterTuner(est, "loss", {"a": ContinuousParameter(0, 1)},
                                     metric_definitions=[{"Name": "loss", "Regex": "l=(.*)"}]).fit.__name__, None),
    ]
    for make, expected in checks:
        with recorded() as caught:
            make()
        if expected is None:
            assert caught == []
        else:
            assert len(caught) == 1 and expected in str(caught[0].message), [str(w.message) for w in caught]


# -- SageMaker's spellings ---------------------------------------------------------------------------
def test_sagemaker_spellings() -> None:
    from mlyard.deserializers import (
        BytesDeserializer,
        CSVDeserializer,
        JSONDeserializer,
        JSONLinesDeserializer,
        NumpyDeserializer,
        StringDeserializer,
    )
    from mlyard.serializers import CSVSerializer, JSONLinesSerializer
    from mlyard.tuner import TuningJobCompletionCriteriaConfig

    cfg = TuningJobCompletionCriteriaConfig(max_number_of_training_jobs_not_improving=3, complete_on_convergence=True,
                                            target_objective_metric_value=0.9)
    assert cfg.to_input_req() == {"TargetObjectiveMetricValue": 0.9,
                                  "BestObjectiveNotImproving": {"MaxNumberOfTrainingJobsNotImproving": 3},
                                  "ConvergenceDetected": {"CompleteOnConvergence": "Enabled"}}
    assert JSONDeserializer(accept="application/json").accept == ("application/json",)
    assert JSONLinesDeserializer(accept="application/jsonlines").ACCEPT == ("application/jsonlines",)
    assert CSVDeserializer(accept="text/csv").accept == ("text/csv",)
    assert StringDeserializer(accept="text/plain").accept == ("text/plain",)
    assert BytesDeserializer(accept=("a/b", "c/d")).accept == ("a/b", "c/d")
    numpy = NumpyDeserializer(dtype="float32", accept="application/x-npy")
    assert numpy.accept == ("application/x-npy",)
    assert numpy.deserialize(b"[1, 2]", "application/json").dtype == np.float32
    assert JSONLinesSerializer(content_type="application/x-jsonlines").content_type == "application/x-jsonlines"
    assert CSVSerializer(content_type="text/plain").content_type == "text/plain"


def _npy(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=allow_pickle)
    return buf.getvalue()


def test_numpy_deserializer_never_unpickles() -> None:
    from mlyard.deserializers import NumpyDeserializer

    with recorded() as caught:
        des = NumpyDeserializer(allow_pickle=True)
    assert len(caught) == 1 and "allow_pickle=True" in str(caught[0].message)
    with pytest.raises(ValueError, match="allow_pickle"):
        des.deserialize(_npy(np.array([{"x": 1}], dtype=object), allow_pickle=True), "application/x-npy")


def test_framework_classes_take_sagemakers_positional_order(tmp_path: Path) -> None:
    from mlyard.pytorch import PyTorch, PyTorchModel, PyTorchPredictor
    from mlyard.sklearn import SKLearn, SKLearnModel
    from mlyard.tensorflow import TensorFlow, TensorFlowModel

    data = str(tmp_path)
    with recorded():
        tfm = TensorFlowModel(data, "role", "inference.py", None, "2.16")
        ptm = PyTorchModel(data, "role", "inference.py", "2.13", PY, None, PyTorchPredictor)
        skm = SKLearnModel(data, "role", "inference.py", "1.5", "py3")
        pt = PyTorch("train.py", "2.13", PY, str(tmp_path), {"a": 1}, instance_type="local")
        sk = SKLearn("train.py", "1.5", "py3", str(tmp_path), {"b": 2}, instance_type="local")
        tf = TensorFlow(PY, "2.16", False, entry_point="train.py", instance_type="local")
    assert (tfm.role, tfm.entry_point, tfm.framework_version) == ("role", "inference.py", "2.16")
    assert (ptm.framework_version, ptm.py_version, ptm.predictor_cls) == ("2.13", PY, PyTorchPredictor)
    assert (skm.entry_point, skm.framework_version, skm.py_version) == ("inference.py", "1.5", "py3")
    assert (pt.framework_version, pt.py_version, pt.source_dir, pt.hyperparameters()) == ("2.13", PY, data, {"a": 1})
    assert (sk.framework_version, sk.source_dir, sk.hyperparameters()) == ("1.5", data, {"b": 2})
    assert (tf.py_version, tf.framework_version, tf.model_dir) == (PY, "2.16", False)


# -- exceptions, local, inputs ----------------------------------------------------------------------
def test_exceptions_are_mlyards() -> None:
    from mlyard import errors, exceptions

    assert exceptions.UnexpectedStatusException is errors.UnexpectedStatusException
    assert issubclass(exceptions.UnexpectedStatusException, ValueError)
    assert issubclass(exceptions.CapacityError, exceptions.UnexpectedStatusException)
    err = exceptions.CapacityError("no room", allowed_statuses=["Completed"], actual_status="Failed")
    assert isinstance(err, MlyardError) and err.actual_status == "Failed"
    assert "Model returned error: boom" in str(exceptions.AsyncInferenceModelError(message="boom"))
    assert issubclass(exceptions.ModelStreamError, MlyardError)


def test_local_session_takes_sagemakers_arguments() -> None:
    from mlyard.local import LocalSession
    from mlyard.local.local_session import LocalSession as Same
    from mlyard.session import LocalSession as Old
    from mlyard.session import Session

    sess = LocalSession(boto_session=object(), default_bucket="b", s3_endpoint_url="http://127.0.0.1:9000",
                        disable_local_code=True, sagemaker_config={}, default_bucket_prefix="p")
    assert LocalSession is Same and isinstance(sess, Session) and sess.local_mode
    assert isinstance(Old(), Session)


def test_inputs() -> None:
    from mlyard.estimator import _channels
    from mlyard.inputs import CreateModelInput, FileSystemInput, TransformInput

    fs = FileSystemInput("fs-1", "EFS", "/data/train", content_type="text/csv")
    assert _channels({"train": fs}) == [{"ChannelName": "train", "ContentType": "text/csv", "DataSource": {
        "FileSystemDataSource": {"FileSystemId": "fs-1", "FileSystemType": "EFS", "DirectoryPath": "/data/train",
                                 "FileSystemAccessMode": "ro"}}}]
    with pytest.raises(ValidationError, match="absolute path"):
        FileSystemInput("fs-1", "EFS", "data/train")
    with pytest.raises(ValidationError, match="'EFS' or 'FSxLustre'"):
        FileSystemInput("fs-1", "NFS", "/data")
    with recorded() as caught:
        FileSystemInput("fs-1", "FSxLustre", "/data", file_system_access_mode="rw")
    assert len(caught) == 1 and "'rw'" in str(caught[0].message)
    assert TransformInput("s3://b/k", content_type="text/csv", split_type="Line").to_request_dict() == {
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/k"}},
        "ContentType": "text/csv", "SplitType": "Line"}
    assert CreateModelInput(instance_type="ml.m5.large").instance_type == "ml.m5.large"


def test_file_system_input_is_a_channel_read_in_place(session, tmp_path: Path) -> None:
    from mlyard import store
    from mlyard.estimator import Estimator
    from mlyard.inputs import FileSystemInput

    data = tmp_path / "efs" / "train"
    data.mkdir(parents=True)
    (data / "a.csv").write_text("1,2\n")
    write_script(tmp_path, "train.py", """
        import json, os
        files = sorted(os.listdir(os.environ["SM_CHANNEL_TRAIN"]))
        json.dump(files, open(os.path.join(os.environ["SM_MODEL_DIR"], "files.json"), "w"))
    """)
    est = Estimator(entry_point=str(tmp_path / "train.py"), role="r", instance_type="local")
    est.fit({"train": FileSystemInput("fs-123", "EFS", str(data))}, logs=False)
    desc = est.latest_training_job.describe()
    assert desc["InputDataConfig"][0]["DataSource"]["FileSystemDataSource"]["DirectoryPath"] == str(data)
    assert "S3DataSource" not in desc["InputDataConfig"][0]["DataSource"]  # described as given
    import tarfile

    with tarfile.open(store.local_path(est.model_data)) as tar:
        assert json.load(tar.extractfile("files.json")) == ["a.csv"]  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="does not exist"):
        est.fit({"train": FileSystemInput("fs-123", "EFS", str(tmp_path / "missing"))}, logs=False)
    with pytest.raises(ValidationError):
        est.fit({"train": FileSystemInput("fs-123", "EFS", "/etc")}, logs=False)


def test_serverless_config_is_accepted_and_checked() -> None:
    from mlyard.serverless import ServerlessInferenceConfig
    from mlyard.tensorflow import TensorFlowModel
    from mlyard.tensorflow.serving import Model

    assert Model is TensorFlowModel
    config = ServerlessInferenceConfig(memory_size_in_mb=4096, max_concurrency=2)
    assert config._to_request_dict() == {"MemorySizeInMB": 4096, "MaxConcurrency": 2}
    with pytest.raises(ValidationError, match="memory_size_in_mb 1000 must be one of"):
        ServerlessInferenceConfig(memory_size_in_mb=1000)
    with pytest.raises(ValidationError, match="max_concurrency 0"):
        ServerlessInferenceConfig(max_concurrency=0)
