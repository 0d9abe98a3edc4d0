"""The TF2 workflow notebook, written as the public SageMaker notebook writes it.

Only the import changes (``import mlyard as sagemaker``): URIs are built from
``sess.default_bucket()``, data goes up with ``sess.upload_data`` and comes back with
``S3Downloader``, the training code comes through ``git_config``, the framework versions are the
notebook's old ones, instance types are cloud ones, and endpoints are cleaned up with
``sess.delete_endpoint``. The data is made locally (scikit-learn's diabetes set, not downloaded).
"""

# The notebook's own spelling is kept (str.format, "%" formatting).
# ruff: noqa: UP031, UP032

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path
from time import gmtime, strftime

import numpy as np
import pytest
from conftest import EXAMPLE, git

pytest.importorskip("tensorflow")


@pytest.fixture
def notebook_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The notebook's working directory, with the training code in a git repository (as the
    notebook's ``git_config`` names one) and the preprocessing script beside it."""
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLE / "train_model", repo / "tf-2-workflow" / "train_model")
    git(repo, "init", "-q", "-b", "master")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "training code")
    work = tmp_path / "notebook"
    work.mkdir()
    shutil.copy(EXAMPLE / "preprocessing.py", work / "preprocessing.py")
    monkeypatch.chdir(work)
    return repo


def test_tf2_workflow_notebook_runs_with_only_its_imports_changed(home: Path, notebook_dir: Path) -> None:
    import mlyard as sagemaker
    from mlyard.processing import ProcessingInput, ProcessingOutput
    from mlyard.s3 import S3Downloader
    from mlyard.sklearn.processing import SKLearnProcessor
    from mlyard.tensorflow import TensorFlow
    from mlyard.tuner import ContinuousParameter, HyperparameterTuner, IntegerParameter

    warnings.simplefilter("ignore")  # the notebook's cloud instance types and old versions warn
    sess = sagemaker.Session()
    bucket = sess.default_bucket()
    assert "/" not in bucket and "://" not in bucket, bucket  # a bucket name, as SageMaker returns

    # -- data, written by the notebook itself --------------------------------------------------
    from sklearn.datasets import load_diabetes
    from sklearn.model_selection import train_test_split

    x, y = load_diabetes(return_X_y=True, scaled=False)
    x_train, x_test, y_train, y_test = train_test_split(x.astype("float32"), y.astype("float32"),
                                                        test_size=0.2, random_state=42)
    data_dir = os.path.join(os.getcwd(), "data")
    raw_dir = os.path.join(os.getcwd(), "data/raw")
    os.makedirs(raw_dir, exist_ok=True)
    np.save(os.path.join(raw_dir, "x_train.npy"), x_train)
    np.save(os.path.join(raw_dir, "y_train.npy"), y_train)
    np.save(os.path.join(raw_dir, "x_test.npy"), x_test)
    np.save(os.path.join(raw_dir, "y_test.npy"), y_test)

    s3_prefix = "tf-2-workflow"
    rawdata_s3_prefix = "{}/data/raw".format(s3_prefix)
    raw_s3 = sess.upload_data(path="./data/raw/", key_prefix=rawdata_s3_prefix)
    assert raw_s3 == f"s3://{bucket}/{rawdata_s3_prefix}"

    # -- processing ------------------------------------------------------------------------------
    sklearn_processor = SKLearnProcessor(framework_version="0.23-1", role=sagemaker.get_execution_role(),
                                         instance_type="ml.m5.xlarge", instance_count=2)
    processing_job_name = "tf-2-workflow-{}".format(strftime("%d-%H-%M-%S", gmtime()))
    output_destination = "s3://{}/{}/data".format(bucket, s3_prefix)
    sklearn_processor.run(code="preprocessing.py",
                          job_name=processing_job_name,
                          inputs=[ProcessingInput(source=raw_s3, destination="/opt/ml/processing/input",
                                                  s3_data_distribution_type="ShardedByS3Key")],
                          outputs=[ProcessingOutput(output_name="train",
                                                    destination="{}/train".format(output_destination),
                                                    source="/opt/ml/processing/train"),
                                   ProcessingOutput(output_name="test",
                                                    destination="{}/test".format(output_destination),
                                                    source="/opt/ml/processing/test")])
    preprocessing_job_description = sklearn_processor.jobs[-1].describe()
    assert preprocessing_job_description["ProcessingJobStatus"] == "Completed"
    shown = {o["OutputName"]: o["S3Output"]["S3Uri"]
             for o in preprocessing_job_description["ProcessingOutputConfig"]["Outputs"]}
    assert shown == {"train": f"{output_destination}/train", "test": f"{output_destination}/test"}

    x_train_in_s3 = "{}/train/x_train.npy".format(output_destination)
    y_train_in_s3 = "{}/train/y_train.npy".format(output_destination)
    x_test_in_s3 = "{}/test/x_test.npy".format(output_destination)
    y_test_in_s3 = "{}/test/y_test.npy".format(output_destination)
    train_dir = os.path.join(os.getcwd(), "data/train")
    test_dir = os.path.join(os.getcwd(), "data/test")
    S3Downloader.download(x_train_in_s3, train_dir)
    S3Downloader.download(y_train_in_s3, train_dir)
    S3Downloader.download(x_test_in_s3, test_dir)
    S3Downloader.download(y_test_in_s3, test_dir)
    x_test = np.load(os.path.join(test_dir, "x_test.npy"))
    y_test = np.load(os.path.join(test_dir, "y_test.npy"))
    assert x_test.shape == (89, 10) and abs(float(x_test.mean())) < 0.5  # standardized

    # -- local mode training and a local endpoint -----------------------------------------------
    git_config = {"repo": str(notebook_dir), "branch": "master"}
    model_dir = "/opt/ml/model"
    train_instance_type = "local"
    hyperparameters = {"epochs": 5, "batch_size": 128, "learning_rate": 0.01}
    local_estimator = TensorFlow(git_config=git_config, source_dir="tf-2-workflow/train_model",
                                 entry_point="train.py", model_dir=model_dir, instance_type=train_instance_type,
                                 instance_count=1, hyperparameters=hyperparameters,
                                 role=sagemaker.get_execution_role(), base_job_name="tf-2-workflow",
                                 framework_version="2.2", py_version="py37", script_mode=True)
    inputs = {"train": f"file://{train_dir}", "test": f"file://{test_dir}"}
    local_estimator.fit(inputs, logs=False)
    local_predictor = local_estimator.deploy(initial_instance_count=1, instance_type="local")
    local_results = local_predictor.predict(x_test[:10])["predictions"]
    assert len(local_results) == 10
    local_predictor.delete_endpoint()

    # -- "hosted" training on data in the bucket --------------------------------------------------
    traindata_s3_prefix = "{}/data/train".format(s3_prefix)
    testdata_s3_prefix = "{}/data/test".format(s3_prefix)
    train_s3 = sess.upload_data(path="./data/train/", key_prefix=traindata_s3_prefix)
    test_s3 = sess.upload_data(path="./data/test/", key_prefix=testdata_s3_prefix)
    inputs = {"train": train_s3, "test": test_s3}
    train_instance_type = "ml.c5.xlarge"
    hyperparameters = {"epochs": 30, "batch_size": 32, "learning_rate": 0.01}
    estimator = TensorFlow(git_config=git_config, source_dir="tf-2-workflow/train_model", entry_point="train.py",
                           model_dir=model_dir, instance_type=train_instance_type, instance_count=1,
                           hyperparameters=hyperparameters, role=sagemaker.get_execution_role(),
                           base_job_name="tf-2-workflow", framework_version="2.2", py_version="py37")
    estimator.fit(inputs, logs=False)
    assert estimator.model_data.startswith(f"s3://{bucket}/tf-2-workflow-")
    assert estimator.model_data.endswith("/output/model.tar.gz")

    # -- batch transform ---------------------------------------------------------------------------
    csvtest_dir = os.path.join(data_dir, "csv-test")
    os.makedirs(csvtest_dir, exist_ok=True)
    np.savetxt(os.path.join(csvtest_dir, "x_test.csv"), x_test, delimiter=",")
    csvtestdata_s3_prefix = "{}/data/csv-test".format(s3_prefix)
    csvtest_s3 = sess.upload_data(path="./data/csv-test/", key_prefix=csvtestdata_s3_prefix)
    transformer = estimator.transformer(instance_count=1, instance_type="ml.m5.xlarge")
    transformer.transform(csvtest_s3, content_type="text/csv")
    transformer.wait()
    assert transformer.output_path.startswith(f"s3://{bucket}/")
    S3Downloader.download(transformer.output_path, "./batch_predictions")
    raw_batch = Path("batch_predictions/x_test.csv.out").read_text()
    print(raw_batch[:300])
    batch = json.loads(raw_batch)["predictions"]
    assert len(batch) == len(x_test)
    mse = float(np.mean((np.array(batch, dtype=float).ravel() - y_test) ** 2))
    assert mse < float(np.var(y_test)), mse  # better than predicting the mean

    # -- an endpoint, cleaned up through the session -------------------------------------------
    predictor = estimator.deploy(initial_instance_count=1, instance_type="ml.m5.xlarge")
    results = predictor.predict(x_test[:10])["predictions"]
    flat_list = [float("%.1f" % (item)) for sublist in results for item in sublist]
    assert len(flat_list) == 10
    sess.delete_endpoint(predictor.endpoint_name)
    assert predictor.endpoint_name not in [e["EndpointName"] for e in sess.list_endpoints()["Endpoints"]]

    # -- tuning -------------------------------------------------------------------------------------
    hyperparameter_ranges = {"learning_rate": ContinuousParameter(0.001, 0.2, scaling_type="Logarithmic"),
                             "epochs": IntegerParameter(10, 20), "batch_size": IntegerParameter(64, 256)}
    metric_definitions = [{"Name": "loss", "Regex": " loss: ([0-9\\.]+)"},
                          {"Name": "val_loss", "Regex": " val_loss: ([0-9\\.]+)"}]
    objective_metric_name = "val_loss"
    objective_type = "Minimize"
    tuner = HyperparameterTuner(estimator, objective_metric_name, hyperparameter_ranges, metric_definitions,
                                max_jobs=2, max_parallel_jobs=2, objective_type=objective_type)
    tuning_job_name = "tf-2-workflow-{}".format(strftime("%d-%H-%M-%S", gmtime()))
    tuner.fit(inputs, job_name=tuning_job_name)
    tuner.wait()
    tuner_metrics = sagemaker.HyperparameterTuningJobAnalytics(tuning_job_name)
    frame = tuner_metrics.dataframe().sort_values(["FinalObjectiveValue"], ascending=True).head(5)
    assert len(frame) == 2
    total_time = tuner_metrics.dataframe()["TrainingElapsedTimeSeconds"].sum() / 3600
    assert total_time > 0
    tuning_predictor = tuner.deploy(initial_instance_count=1, instance_type="ml.m5.xlarge")
    results = tuning_predictor.predict(x_test[:10])["predictions"]
    assert len(results) == 10
    sess.delete_endpoint(tuning_predictor.endpoint_name)
