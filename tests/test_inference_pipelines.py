"""Serial inference pipelines (``PipelineModel``): a scaler's inference code, then a classifier, as one
model of two containers; deployed to an endpoint and run as a batch transform, each request passed
through both containers in order."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from conftest import write_script
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from mlyard.errors import ValidationError
from mlyard.model import Model
from mlyard.pipeline import PipelineModel
from mlyard.serializers import CSVSerializer
from mlyard.sklearn.model import SKLearnModel

SCALE = """
import io
import os

import joblib
import numpy as np


def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "scaler.joblib"))


def input_fn(body, content_type):
    text = body.decode() if isinstance(body, bytes) else body
    rows = np.loadtxt(io.StringIO(text), delimiter=",", ndmin=2)
    if rows.shape[1] != 4:
        raise ValueError(f"expected 4 features, got {rows.shape[1]}")
    return rows


def predict_fn(rows, scaler):
    return scaler.transform(rows)


def output_fn(scaled, accept):
    buf = io.StringIO()
    np.savetxt(buf, scaled, delimiter=",")
    return buf.getvalue(), "text/csv"
"""


@pytest.fixture
def models(tmp_path: Path, session) -> tuple[PipelineModel, Any, Any, np.ndarray]:
    x, y = load_iris(return_X_y=True)
    scaler = StandardScaler().fit(x)
    clf = LogisticRegression(max_iter=1000).fit(scaler.transform(x), y)
    pre_dir, clf_dir = tmp_path / "scaler", tmp_path / "classifier"
    pre_dir.mkdir()
    clf_dir.mkdir()
    joblib.dump(scaler, pre_dir / "scaler.joblib")
    joblib.dump(clf, clf_dir / "model.joblib")
    write_script(tmp_path / "code", "scale.py", SCALE)
    preprocessor = SKLearnModel(model_data=f"file://{pre_dir}", role="r", entry_point="scale.py",
                                source_dir=str(tmp_path / "code"), framework_version="1.2-1",
                                sagemaker_session=session)
    classifier = SKLearnModel(model_data=f"file://{clf_dir}", role="r", framework_version="1.2-1",
                              sagemaker_session=session)
    return PipelineModel([preprocessor, classifier], role="r", sagemaker_session=session), scaler, clf, x


def test_a_pipeline_model_serves_each_request_through_its_containers_in_order(session, models, tmp_path) -> None:
    pipeline, scaler, clf, x = models
    predictor = pipeline.deploy(initial_instance_count=1, instance_type="local", endpoint_name="pipe")
    try:
        described = session.client.describe_model(pipeline.name)
        assert len(described["Containers"]) == 2 and "PrimaryContainer" not in described
        assert described["Containers"][0]["SourceUrl"].endswith("sourcedir.tar.gz")
        predictor.serializer = CSVSerializer()
        rows = x[::25]
        got = predictor.predict(rows)
        expected = clf.predict(scaler.transform(rows))
        assert [int(v) for v in np.ravel(json.loads(got) if isinstance(got, (bytes, str)) else got)] == \
            expected.tolist()
        # An error in the first container's code is a 500 with its message, naming the container.
        import httpx

        desc = session.client.describe_endpoint("pipe")
        resp = httpx.post(desc["EndpointUrl"] + "/invocations", content=b"1,2,3\n",
                          headers={"Content-Type": "text/csv", "Authorization": f"Bearer {desc['EndpointToken']}"}
                          if desc.get("EndpointToken") else {"Content-Type": "text/csv"})
        assert resp.status_code == 500, resp.text
        assert resp.json()["message"] == "container 1 of 2: ValueError: expected 4 features, got 3"
        resp = httpx.post(desc["EndpointUrl"] + "/invocations", content=b"1,2,3,4\n",
                          headers={"Content-Type": "text/csv", "Accept": "application/x-nothing"} | (
                              {"Authorization": f"Bearer {desc['EndpointToken']}"} if desc.get("EndpointToken")
                              else {}))
        assert resp.status_code == 415 and "container 2 of 2" in resp.json()["message"], resp.text
    finally:
        predictor.delete_endpoint()

    # The same model as a batch transform.
    data = tmp_path / "batch"
    data.mkdir()
    np.savetxt(data / "rows.csv", x[::10], delimiter=",")
    transformer = pipeline.transformer(1, "local", output_path=f"file://{tmp_path / 'out'}", accept="text/csv")
    transformer.transform(f"file://{data}", content_type="text/csv", split_type="Line", wait=True, logs=False)
    out = (tmp_path / "out" / "rows.csv.out").read_text().split()
    assert [int(float(v)) for v in out] == clf.predict(scaler.transform(x[::10])).tolist()


def test_a_model_takes_a_primary_container_or_containers_not_both(session, tmp_path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    joblib.dump(LogisticRegression(), folder / "model.joblib")
    container = {"ModelDataUrl": f"file://{folder}"}
    with pytest.raises(ValidationError, match="exactly one of them"):
        session.client.create_model({"ModelName": "both", "PrimaryContainer": container, "Containers": [container]})
    with pytest.raises(ValidationError, match="exactly one of them"):
        session.client.create_model({"ModelName": "neither"})
    with pytest.raises(ValidationError, match="container 2 of 2: ModelDataUrl .* does not exist"):
        session.client.create_model({"ModelName": "missing", "Containers": [
            container, {"ModelDataUrl": f"file://{tmp_path / 'nothing.tar.gz'}"}]})
    with pytest.raises(ValidationError, match="1 to 15 models"):
        PipelineModel([], role="r")
    with pytest.raises(ValidationError, match="1 to 15 models"):
        PipelineModel([Model(model_data=f"file://{folder}"), "not a model"], role="r")  # type: ignore[list-item]


PREPROCESS = """
import glob
import io
import os

import joblib
import numpy as np
from sklearn.preprocessing import StandardScaler


def _rows(text):
    return np.loadtxt(io.StringIO(text), delimiter=",", ndmin=2)


def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "scaler.joblib"))


def input_fn(body, content_type):
    return _rows(body if isinstance(body, str) else body.decode())


def predict_fn(rows, scaler):
    if rows.shape[1] == scaler.n_features_in_ + 1:  # training rows: the label stays in front
        return np.hstack([rows[:, :1], scaler.transform(rows[:, 1:])])
    return scaler.transform(rows)


def output_fn(out, accept):
    buf = io.StringIO()
    np.savetxt(buf, out, delimiter=",")
    return buf.getvalue(), "text/csv"


if __name__ == "__main__":
    data = np.vstack([np.loadtxt(f, delimiter=",", ndmin=2)
                      for f in sorted(glob.glob(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "*")))])
    joblib.dump(StandardScaler().fit(data[:, 1:]), os.path.join(os.environ["SM_MODEL_DIR"], "scaler.joblib"))
    print("scaler fitted on", data.shape)
"""

CLASSIFY = """
import glob
import os

import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression

if __name__ == "__main__":
    files = sorted(glob.glob(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "*")))
    print("training on", [os.path.basename(f) for f in files])
    data = np.vstack([np.loadtxt(f, delimiter=",", ndmin=2) for f in files])
    clf = LogisticRegression(max_iter=1000).fit(data[:, 1:], data[:, 0].astype(int))
    joblib.dump(clf, os.path.join(os.environ["SM_MODEL_DIR"], "model.joblib"))
"""


def test_the_inference_pipeline_template_trains_transforms_and_deploys_both_models(session, tmp_path) -> None:
    from mlyard.predictor import Predictor
    from mlyard.sklearn import SKLearn
    from mlyard.stepfunctions.template.pipeline import InferencePipeline

    x, y = load_iris(return_X_y=True)
    data = tmp_path / "train"
    data.mkdir()
    np.savetxt(data / "iris.csv", np.column_stack([y, x]), delimiter=",")
    write_script(tmp_path / "src", "preprocess.py", PREPROCESS)
    write_script(tmp_path / "src", "classify.py", CLASSIFY)
    common = {"role": "r", "instance_type": "local", "instance_count": 1, "framework_version": "1.5",
              "source_dir": str(tmp_path / "src"), "sagemaker_session": session}
    pipeline = InferencePipeline(preprocessor=SKLearn(entry_point="preprocess.py", **common),
                                 estimator=SKLearn(entry_point="classify.py", **common),
                                 inputs={"train": f"file://{data}"}, s3_bucket=session.default_bucket(), role="r",
                                 client=session, pipeline_name="iris-pipeline", content_type="text/csv")
    assert list(pipeline.workflow.definition.to_dict()["States"]) == [
        "Train Preprocessor", "Create Preprocessor Model", "Transform Input", "Training", "Create Pipeline Model",
        "Configure Endpoint", "Deploy"]
    with pytest.raises(ValueError, match="at most 40"):  # preprocessor-transform-<name> would pass 63
        pipeline.execute(job_name="x" * 41)
    execution = pipeline.execute(job_name="iris1")
    output = execution.get_output(wait=True)
    desc = execution.describe()
    assert desc["status"] == "SUCCEEDED", (desc.get("error"), desc.get("cause"))
    assert output["EndpointArn"].endswith("iris1")
    assert session.client.describe_job("estimator-iris1")["TrainingJobStatus"] == "Completed"
    assert [len(c) for c in [session.client.describe_model("iris1")["Containers"]]] == [2]
    predictor = Predictor("iris1", sagemaker_session=session, serializer=CSVSerializer())
    try:
        session.client.wait_endpoint("iris1", 60)
        got = predictor.predict(x[::15])
        scaler = StandardScaler().fit(x)
        expected = LogisticRegression(max_iter=1000).fit(scaler.transform(x), y).predict(scaler.transform(x[::15]))
        assert [int(v) for v in np.ravel(json.loads(got))] == expected.tolist()
    finally:
        predictor.delete_endpoint()


def test_a_pipeline_folder_is_read_only_as_laid_out(tmp_path) -> None:
    from mlyard.serving.artifacts import PIPELINE_FILE, pipeline_stages

    (tmp_path / "container-1").mkdir()
    (tmp_path / PIPELINE_FILE).write_text(json.dumps([{"dir": "container-1", "environment": {"A": "1"}}]))
    assert pipeline_stages(tmp_path) == [(tmp_path / "container-1", {"A": "1"})]
    for bad in ([{"dir": "../../etc", "environment": {}}], [{"dir": "/abs", "environment": {}}], {"not": "a list"}):
        (tmp_path / PIPELINE_FILE).write_text(json.dumps(bad))
        with pytest.raises(ValidationError, match="not a serial inference pipeline's folder"):
            pipeline_stages(tmp_path)
