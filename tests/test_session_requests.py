"""What ``Session``'s low-level calls do, against a real control plane: models, endpoint
configurations and endpoints go through ``jobs.submit`` (a local ``ModelDataUrl`` is uploaded by
the client), images are read with ``image_uris.parse``, every SageMaker argument mlyard drops warns
once naming it, and ``download_data`` writes nothing outside its folder."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from mlyard import image_uris
from mlyard.errors import MlyardWarning, ValidationError
from mlyard.s3 import S3Uploader
from mlyard.session import Session, _download_target, container_def, production_variant


@contextmanager
def recorded() -> Iterator[list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught
    caught[:] = [w for w in caught if issubclass(w.category, MlyardWarning)]


def _one_warning(caught: list[warnings.WarningMessage], *names: str) -> str:
    assert len(caught) == 1, [str(w.message) for w in caught]
    message = str(caught[0].message)
    for name in names:
        assert f"{name}=" in message, message
    assert "not applied" in message
    return message


def _model_tar(path: Path) -> Path:
    """A scikit-learn model (``model.joblib``) packed as SageMaker's model.tar.gz, and the rows it
    is asked about with what it answers."""
    import tarfile

    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    x, y = load_iris(return_X_y=True)
    joblib.dump(LogisticRegression(max_iter=500).fit(x, y), path.parent / "model.joblib")
    with tarfile.open(path, "w:gz") as tar:
        tar.add(path.parent / "model.joblib", arcname="model.joblib")
    return path


def test_create_model_uploads_a_local_model_data_url_and_reads_the_image(session: Session, tmp_path: Path) -> None:
    model = _model_tar(tmp_path / "model.tar.gz")
    bucket = session.default_bucket()
    image = image_uris.retrieve("tensorflow", version="2.11", py_version="py39", image_scope="inference")
    assert image == "mlyard/tensorflow-inference:2.11-cpu-py39"
    for name, url in (("m1", str(model)), ("m2", f"file://{model}")):
        with recorded():  # the version differs from the installed one: said, and nothing else
            assert session.create_model(name, container_defs={"Image": image, "ModelDataUrl": url}) == name
        desc = session.describe_model(name)
        stored = desc["PrimaryContainer"]["ModelDataUrl"]  # never a client path
        assert stored.startswith(f"s3://{bucket}/inputs/files/") and stored.endswith("/model.tar.gz")
        assert desc["MlyardConfig"]["Framework"] == "tensorflow" and desc["MlyardConfig"]["FrameworkVersion"] == "2.11"
    assert session.describe_model("m1")["PrimaryContainer"]["ModelDataUrl"] == stored  # stored once, by its content
    in_bucket = S3Uploader.upload(str(model), f"s3://{bucket}/models", sagemaker_session=session)
    session.create_model("m3", primary_container={"Image": "123.dkr.ecr/x:1", "ModelDataUrl": in_bucket})
    desc = session.describe_model("m3")
    assert desc["PrimaryContainer"]["ModelDataUrl"] == in_bucket and desc["MlyardConfig"]["Framework"] is None
    with pytest.raises(ValidationError, match="local path .* does not exist"):
        session.create_model("gone", container_defs={"ModelDataUrl": str(tmp_path / "nope.tar.gz")})
    with pytest.raises(ValidationError, match="framework 'mxnet'"):
        session.create_model("mx", container_defs={"Image": "mlyard/mxnet:1.9", "ModelDataUrl": in_bucket})


def test_endpoint_calls_go_through_submit(session: Session, tmp_path: Path) -> None:
    model = _model_tar(tmp_path / "model.tar.gz")
    session.create_model("iris", container_defs={"ModelDataUrl": str(model)})
    assert session.create_endpoint_config("cfg", "iris", 1, "local") == "cfg"
    assert session.describe_endpoint_config("cfg")["ProductionVariants"][0]["ModelName"] == "iris"
    variant = production_variant("iris", "local")
    assert session.endpoint_from_production_variants("pv", [variant], wait=False) == "pv"
    assert session.describe_endpoint_config("pv")["ProductionVariants"][0]["InstanceType"] == "local"
    assert session.describe_endpoint("pv")["EndpointConfigName"] == "pv"
    session.delete_endpoint("pv")


def test_dropped_session_arguments_warn_once_naming_them(session: Session, tmp_path: Path) -> None:
    model = _model_tar(tmp_path / "model.tar.gz")
    with recorded() as caught:
        session.create_model("m", container_defs={"ModelDataUrl": str(model)}, vpc_config={"Subnets": ["s"]},
                             enable_network_isolation=True)
    _one_warning(caught, "vpc_config", "enable_network_isolation")
    with recorded() as caught:
        session.create_endpoint_config("c", "m", 1, "local", kms_key="k", volume_size=30,
                                       model_data_download_timeout=60)
    _one_warning(caught, "kms_key", "volume_size", "model_data_download_timeout")
    with recorded() as caught:
        session.endpoint_from_production_variants("e", [production_variant("m", "local")], wait=False,
                                                  async_inference_config_dict={"x": 1}, vpc_config={"Subnets": []})
    _one_warning(caught, "async_inference_config_dict")
    session.delete_endpoint("e")
    with recorded() as caught:
        assert container_def("img", "s3://b/m", image_config={"RepositoryAccessMode": "Vpc"},
                             additional_model_data_sources=[{"x": 1}])["ModelDataUrl"] == "s3://b/m"
    _one_warning(caught, "image_config", "additional_model_data_sources")
    with recorded() as caught:
        variant = production_variant("m", serverless_inference_config=object(), volume_size=20)
    _one_warning(caught, "serverless_inference_config", "volume_size")
    assert variant["InstanceType"] == "local"  # a serverless variant runs on a local instance
    with pytest.raises(ValidationError, match="accelerator_type 'ml.eia1.medium'"):
        production_variant("m", "local", accelerator_type="ml.eia1.medium")
    with pytest.raises(ValidationError, match="create_endpoint_config: accelerator_type"):
        session.create_endpoint_config("c2", "m", 1, "local", accelerator_type="ml.eia1.medium")
    with recorded() as caught:  # nothing asked: no warning
        container_def("img", "s3://b/m", accept_eula=None)
        production_variant("m", "local", volume_size=None)
        session.create_endpoint_config("c3", "m", 1, "local")
    assert caught == []


def test_dropped_predictor_and_processing_arguments_warn_once_naming_them() -> None:
    from mlyard.predictor import Predictor
    from mlyard.processing import ProcessingInput, ProcessingOutput

    with recorded() as caught:  # nothing here reaches a server: the arguments are checked when given
        Predictor("ep", sagemaker_session=Session(), component_name="c", context=object())
    _one_warning(caught, "component_name", "context")
    with recorded() as caught:
        ProcessingInput("s3://b/in", "/opt/ml/processing/input", dataset_definition={"AthenaDatasetDefinition": {}})
    _one_warning(caught, "dataset_definition")
    with recorded() as caught:
        ProcessingOutput("/opt/ml/processing/out", feature_store_output={"FeatureGroupName": "g"}, app_managed=True)
    _one_warning(caught, "feature_store_output", "app_managed")
    with recorded() as caught:  # SageMaker's defaults ask for nothing
        Predictor("ep", sagemaker_session=Session(), component_name=None)
        ProcessingInput("s3://b/in", "/opt/ml/processing/input", app_managed=False)
        ProcessingOutput("/opt/ml/processing/out", app_managed=False, feature_store_output=None)
    assert caught == []


def test_update_endpoint_warns_about_what_it_drops(session: Session, tmp_path: Path) -> None:
    from mlyard.predictor import Predictor

    model = _model_tar(tmp_path / "model.tar.gz")
    session.create_model("iris", container_defs={"ModelDataUrl": str(model)})
    session.endpoint_from_production_variants("ep", [production_variant("iris", "local")])
    pred = Predictor("ep", sagemaker_session=session)
    capture = f"s3://{session.default_bucket()}/capture"
    with recorded() as caught:
        pred.update_endpoint(initial_instance_count=2, kms_key="k", tags=[{"Key": "a", "Value": "b"}],
                             data_capture_config_dict={"EnableCapture": True, "InitialSamplingPercentage": 100,
                                                       "DestinationS3Uri": capture,
                                                       "CaptureOptions": [{"CaptureMode": "Input"}]})
    _one_warning(caught, "kms_key", "tags")
    config = session.describe_endpoint_config(session.describe_endpoint("ep")["EndpointConfigName"])
    assert config["ProductionVariants"][0]["InitialInstanceCount"] == 2
    assert config["DataCaptureConfig"]["DestinationS3Uri"] == capture
    pred.close()
    session.delete_endpoint("ep")


def test_download_target_stays_inside_the_folder(tmp_path: Path) -> None:
    prefix = "s3://b/data"
    assert _download_target(tmp_path, prefix, "s3://b/data/a/b.csv") == tmp_path / "a" / "b.csv"
    assert _download_target(tmp_path, prefix + "/", "s3://b/data/x") == tmp_path / "x"
    assert _download_target(tmp_path, "s3://b/data/one.csv", "s3://b/data/one.csv") == tmp_path / "one.csv"
    for obj in ("s3://b/data/a/../../x", "s3://b/data/../x", "s3://b/data//etc/passwd", "s3://b/data/..",
                "s3://b/other/x"):
        with pytest.raises(ValidationError, match="download_data: the object"):
            _download_target(tmp_path, prefix, obj)
    with pytest.raises(ValidationError, match="download_data: the object"):
        _download_target(tmp_path, "s3://b/a/..", "s3://b/a/..")


def test_one_s3_uri_form_check_for_the_sdk_and_the_server() -> None:
    from mlyard import store, uris
    from mlyard.s3 import S3Uploader, parse_s3_url
    from mlyard.server.buckets import check_s3_uri

    assert store.split_s3 is uris.split_s3
    assert parse_s3_url("s3://b/k/x") == ("b", "k/x")
    for bad, match in (("s3:/b/x", "not a valid S3 URI"), ("/tmp/x", "not a valid S3 URI"),
                       ("s3:///k", "names no bucket"), (None, "not a valid S3 URI")):
        with pytest.raises(ValidationError, match=match):
            parse_s3_url(bad)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="upload_bytes: 's3://b/' names a bucket but no object"):
        S3Uploader.upload_bytes(b"x", "s3://b/")
    with pytest.raises(ValidationError, match="uri: 's3://b' names a bucket but no object"):
        check_s3_uri("uri", "s3://b", need_key=True, reach=False)
    with pytest.raises(ValidationError, match="channel: 's3:/b/x' is not a valid S3 URI"):
        check_s3_uri("channel", "s3:/b/x")
    assert check_s3_uri("x", "file:///tmp/a") == "file:///tmp/a"
