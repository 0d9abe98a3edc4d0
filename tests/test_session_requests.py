"""What ``Session``'s low-level calls send, against a recording client (no server): models,
endpoint configurations and endpoints go through ``jobs.submit`` (a local ``ModelDataUrl`` is
uploaded by the client, the server's warnings become MlyardWarnings), images are read with
``image_uris.parse``, every SageMaker argument mlyard drops warns once naming it, and
``download_data`` writes nothing outside its folder."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from mlyard import image_uris
from mlyard.client import Client
from mlyard.errors import MlyardWarning, ValidationError
from mlyard.session import Session, _download_target, container_def, production_variant


class Recording(Client):
    """A client that records create requests and stores local inputs under ``s3://dflt/inputs``."""

    def __init__(self, warn: list[str] | None = None) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.uploaded: list[Path] = []
        self.warn = warn or []

    def _created(self, kind: str, key: str, req: dict[str, Any]) -> dict[str, Any]:
        self.sent.append((kind, req))
        return {key: req.get(key) or f"{kind}-picked", "Warnings": self.warn}

    def create_model(self, request: dict[str, Any]) -> dict[str, Any]:
        return self._created("model", "ModelName", request)

    def create_endpoint_config(self, request: dict[str, Any]) -> dict[str, Any]:
        return self._created("endpoint-config", "EndpointConfigName", request)

    def create_endpoint(self, request: dict[str, Any]) -> dict[str, Any]:
        return self._created("endpoint", "EndpointName", request)

    def find_input(self, sha256: str, filename: str | None = None) -> str | None:
        return None

    def upload_input(self, path: Path) -> str:
        self.uploaded.append(path)
        return f"s3://dflt/inputs/abc/{path.name}"


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


def test_create_model_uploads_a_local_model_data_url_and_reads_the_image(tmp_path: Path) -> None:
    model = tmp_path / "model.tar.gz"
    model.write_bytes(b"not read here")
    client = Recording()
    sess = Session(client=client)
    image = image_uris.retrieve("tensorflow", version="2.11", py_version="py39", image_scope="inference")
    assert image == "mlyard/tensorflow-inference:2.11-cpu-py39"
    for url in (str(model), f"file://{model}"):
        with recorded():  # the version differs from the installed one: said, and nothing else
            assert sess.create_model("m", container_defs={"Image": image, "ModelDataUrl": url}) == "m"
        kind, req = client.sent[-1]
        assert kind == "model"
        assert req["PrimaryContainer"]["ModelDataUrl"] == "s3://dflt/inputs/abc/model.tar.gz"  # never a client path
        assert req["MlyardConfig"] == {"Framework": "tensorflow", "FrameworkVersion": "2.11"}
    assert client.uploaded == [model, model]
    sess.create_model("s3", primary_container={"Image": "123.dkr.ecr/x:1", "ModelDataUrl": "s3://b/m.tar.gz"})
    assert client.sent[-1][1]["PrimaryContainer"]["ModelDataUrl"] == "s3://b/m.tar.gz"
    assert client.sent[-1][1]["MlyardConfig"] == {"Framework": None, "FrameworkVersion": None}
    with pytest.raises(ValidationError, match="local path .* does not exist"):
        sess.create_model("gone", container_defs={"ModelDataUrl": str(tmp_path / "nope.tar.gz")})
    with pytest.raises(ValidationError, match="framework 'mxnet'"):
        sess.create_model("mx", container_defs={"Image": "mlyard/mxnet:1.9", "ModelDataUrl": "s3://b/m"})


def test_endpoint_calls_go_through_submit_and_raise_the_servers_warnings() -> None:
    client = Recording(warn=["something the server says"])
    sess = Session(client=client)
    with recorded() as caught:
        assert sess.create_endpoint_config("cfg", "m", 1, "local") == "cfg"
        assert sess.create_endpoint("ep", "cfg", wait=False) == "ep"
    assert [k for k, _ in client.sent] == ["endpoint-config", "endpoint"]
    assert [str(w.message) for w in caught] == ["cfg: something the server says", "ep: something the server says"]
    client.warn = []
    variant = production_variant("m", "local")
    assert sess.endpoint_from_production_variants("pv", [variant], wait=False) == "pv"
    assert [k for k, _ in client.sent[-2:]] == ["endpoint-config", "endpoint"]
    assert client.sent[-2][1]["ProductionVariants"] == [variant]


def test_dropped_session_arguments_warn_once_naming_them() -> None:
    sess = Session(client=Recording())
    with recorded() as caught:
        sess.create_endpoint_config("c", "m", 1, "local", kms_key="k", volume_size=30,
                                    model_data_download_timeout=60)
    _one_warning(caught, "kms_key", "volume_size", "model_data_download_timeout")
    with recorded() as caught:
        sess.endpoint_from_production_variants("e", [production_variant("m", "local")], wait=False,
                                               async_inference_config_dict={"x": 1}, vpc_config={"Subnets": []})
    _one_warning(caught, "async_inference_config_dict")
    with recorded() as caught:
        sess.create_model("m", container_defs={"ModelDataUrl": "s3://b/m"}, vpc_config={"Subnets": ["s"]},
                          enable_network_isolation=True)
    _one_warning(caught, "vpc_config", "enable_network_isolation")
    with recorded() as caught:
        assert container_def("img", "s3://b/m", image_config={"RepositoryAccessMode": "Vpc"},
                             additional_model_data_sources=[{"x": 1}])["ModelDataUrl"] == "s3://b/m"
    _one_warning(caught, "image_config", "additional_model_data_sources")
    with recorded() as caught:
        variant = production_variant("m", serverless_inference_config=object(), volume_size=20)
    _one_warning(caught, "serverless_inference_config", "volume_size")
    assert variant["InstanceType"] == "local"  # a serverless variant runs on a local instance
    with recorded() as caught:  # nothing asked: no warning
        container_def("img", "s3://b/m", accept_eula=None)
        production_variant("m", "local", volume_size=None)
        sess.create_endpoint_config("c", "m", 1, "local")
    assert caught == []


def test_dropped_predictor_and_processing_arguments_warn_once_naming_them() -> None:
    from mlyard.predictor import Predictor
    from mlyard.processing import ProcessingInput, ProcessingOutput

    sess = Session(client=Recording())
    with recorded() as caught:
        Predictor("ep", sagemaker_session=sess, component_name="c", context=object())
    _one_warning(caught, "component_name", "context")
    with recorded() as caught:
        ProcessingInput("s3://b/in", "/opt/ml/processing/input", dataset_definition={"AthenaDatasetDefinition": {}})
    _one_warning(caught, "dataset_definition")
    with recorded() as caught:
        ProcessingOutput("/opt/ml/processing/out", feature_store_output={"FeatureGroupName": "g"}, app_managed=True)
    _one_warning(caught, "feature_store_output", "app_managed")
    with recorded() as caught:  # SageMaker's defaults ask for nothing
        Predictor("ep", sagemaker_session=sess, component_name=None)
        ProcessingInput("s3://b/in", "/opt/ml/processing/input", app_managed=False)
        ProcessingOutput("/opt/ml/processing/out", app_managed=False, feature_store_output=None)
    assert caught == []


def test_update_endpoint_warns_about_what_it_drops(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlyard.predictor import Predictor

    client = Recording()
    updated: list[tuple[str, str]] = []
    monkeypatch.setattr(Recording, "describe_endpoint", lambda self, name: {"EndpointConfigName": "old"},
                        raising=False)
    monkeypatch.setattr(Recording, "request", lambda self, method, path, **kw: {
        "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": "m", "InitialInstanceCount": 1,
                                "InstanceType": "local", "InitialVariantWeight": 1.0}], "MlyardConfig": {}})
    monkeypatch.setattr(Recording, "update_endpoint", lambda self, name, cfg: updated.append((name, cfg)),
                        raising=False)
    pred = Predictor("ep", sagemaker_session=Session(client=client))
    with recorded() as caught:
        pred.update_endpoint(initial_instance_count=2, kms_key="k", tags=[{"Key": "a", "Value": "b"}], wait=False,
                             data_capture_config_dict={"DestinationS3Uri": "s3://b/c"})
    _one_warning(caught, "kms_key", "tags")
    kind, config = client.sent[-1]
    assert kind == "endpoint-config" and config["ProductionVariants"][0]["InitialInstanceCount"] == 2
    assert config["DataCaptureConfig"] == {"DestinationS3Uri": "s3://b/c"}
    assert updated == [("ep", "endpoint-config-picked")]


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


def test_download_data_and_s3_downloader_refuse_a_key_leaving_the_folder(tmp_path: Path) -> None:
    from mlyard.s3 import S3Downloader

    written: list[Path] = []

    class Listing(Recording):
        def list_uri(self, uri: str) -> list[str]:
            return [f"{uri}/ok.csv", f"{uri}/a/../../escaped.csv"]

        def download(self, uri: str, dest: Path) -> Path:
            written.append(dest)
            return dest

    sess = Session(client=Listing())
    with pytest.raises(ValidationError, match="escaped.csv"):
        sess.download_data(str(tmp_path / "out"), "b", "data")
    with pytest.raises(ValidationError, match="escaped.csv"):
        S3Downloader.download("s3://b/data", str(tmp_path / "out"), sagemaker_session=sess)
    assert written == []  # checked before anything is written


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
        S3Uploader.upload_bytes(b"x", "s3://b/", sagemaker_session=Session(client=Recording()))
    with pytest.raises(ValidationError, match="uri: 's3://b' names a bucket but no object"):
        check_s3_uri("uri", "s3://b", need_key=True, reach=False)
    with pytest.raises(ValidationError, match="channel: 's3:/b/x' is not a valid S3 URI"):
        check_s3_uri("channel", "s3:/b/x")
    assert check_s3_uri("x", "file:///tmp/a") == "file:///tmp/a"
