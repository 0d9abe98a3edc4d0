"""The model server, as a user runs it: ``mlyard serve MODEL_DIR`` subprocesses on loopback ports,
real models built here from scikit-learn's bundled datasets (TensorFlow SavedModel, scikit-learn,
TorchScript, inference code), and HTTP requests in SageMaker's, TF Serving's and the v2 shapes."""

from __future__ import annotations

import asyncio
import csv
import importlib.util
import io
import json
import os
import re
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import joblib
import numpy as np
import pytest
from conftest import kill_tree
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from mlyard.errors import ModelError
from mlyard.serving.batching import Batcher
from mlyard.serving.handlers.sklearn import SklearnHandler

PY = sys.executable
MLYARD = str(Path(PY).parent / "mlyard")
LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+)")
CSV_TYPE, NPY_TYPE, JSONL_TYPE = "text/csv", "application/x-npy", "application/jsonlines"
SERVER_ENV = {k: v for k, v in os.environ.items() if not k.startswith("SAGEMAKER_")} | {
    "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}


# -- helpers ---------------------------------------------------------------------------------------

@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL a server we started, and anything it started."""
    kill_tree(proc.pid)
    proc.wait(timeout=10)


def start_server(model_dir: Path, log: Path, *args: str, command: tuple[str, ...] = (PY, "-m", "mlyard"),
                 env: dict[str, str] | None = None, timeout: float = 120) -> Server:
    """``mlyard serve MODEL_DIR --port 0``; waits for its "listening" line and a healthy /ping."""
    with log.open("wb") as err:
        proc = subprocess.Popen([*command, "serve", str(model_dir), "--port", "0", *args], stdout=err,
                                stderr=subprocess.STDOUT, env=env or SERVER_ENV, start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while True:
            found = LISTENING.search(log.read_text(errors="replace"))
            if found:
                break
            if proc.poll() is not None:
                raise AssertionError(f"mlyard serve exited {proc.returncode}:\n{log.read_text(errors='replace')}")
            if time.monotonic() > deadline:
                raise AssertionError(f"mlyard serve did not start in {timeout} s:\n{log.read_text(errors='replace')}")
            time.sleep(0.05)
        server = Server(proc, int(found.group(1)), log)
        while httpx.get(f"{server.url}/ping").status_code != 200:
            assert time.monotonic() < deadline, "/ping never answered 200"
            time.sleep(0.05)
        return server
    except BaseException:
        _kill(proc)
        raise


def run_serve(model_dir: Path, *args: str, command: tuple[str, ...] = (PY, "-m", "mlyard"),
              timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``mlyard serve`` expected to exit by itself (a start-up error); killed if it does not."""
    proc = subprocess.Popen([*command, "serve", str(model_dir), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=SERVER_ENV, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(proc)
        out, err = proc.communicate()
        raise AssertionError(f"mlyard serve kept running instead of failing:\n{out}\n{err}") from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _flat(text: str) -> str:
    """Terminal output with its line wrapping undone."""
    return " ".join(text.split())


def _python(script: str, *args: str) -> None:
    """Build a model in a fresh interpreter (keeps TensorFlow and torch, and their warnings, out of
    the test process)."""
    done = subprocess.run([PY, "-c", textwrap.dedent(script), *args], capture_output=True, text=True,
                          env=SERVER_ENV, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def from_npy(body: bytes) -> np.ndarray:
    return np.load(io.BytesIO(body), allow_pickle=False)


def csv_body(rows: np.ndarray) -> str:
    return "".join(",".join(repr(float(v)) for v in row) + "\n" for row in rows)


def parse_csv(text: str) -> np.ndarray:
    return np.array([[float(v) for v in row] for row in csv.reader(io.StringIO(text)) if row])


def error_text(response: httpx.Response) -> str:
    """The message of an error response: ``{"error": code, "message": ...}`` (SageMaker side, v2)
    or ``{"error": message}`` (TF Serving)."""
    assert response.headers["content-type"].startswith("application/json"), response.text
    body = response.json()
    assert isinstance(body, dict) and isinstance(body.get("error"), str), body
    message = body.get("message", body["error"])
    assert isinstance(message, str) and message.strip(), body
    return message


# -- models (each built once per module) -----------------------------------------------------------

@dataclass
class Model:
    dir: Path
    x: np.ndarray
    y: np.ndarray


TF_BUILD = """
    import os, sys
    import numpy as np
    import tensorflow as tf
    from sklearn.datasets import load_diabetes

    out = sys.argv[1]
    x, y = load_diabetes(return_X_y=True)
    x, y = x.astype("float32"), (y / 100).astype("float32")
    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential([tf.keras.Input(shape=(10,)), tf.keras.layers.Dense(8, activation="relu"),
                                 tf.keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=2, batch_size=64, verbose=0)
    model.export(os.path.join(out, "model", "1"), verbose=False)
    os.makedirs(os.path.join(out, "keras"))
    model.save(os.path.join(out, "keras", "model.keras"))
    np.save(os.path.join(out, "x.npy"), x[:256])
    np.save(os.path.join(out, "y.npy"), model.predict(x[:256], verbose=0))
"""

TORCH_BUILD = """
    import os, sys
    import numpy as np
    import torch
    from sklearn.datasets import load_iris

    out = sys.argv[1]
    torch.manual_seed(0)
    model = torch.jit.script(torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Softmax(dim=1)))
    os.makedirs(os.path.join(out, "model"))
    model.save(os.path.join(out, "model", "model.pt"))
    x = load_iris(return_X_y=True)[0][::5].astype("float32")
    with torch.no_grad():
        y = model(torch.from_numpy(x)).numpy()
    np.save(os.path.join(out, "x.npy"), x)
    np.save(os.path.join(out, "y.npy"), y)
"""


@pytest.fixture(scope="module")
def tf_model(tmp_path_factory: pytest.TempPathFactory) -> Model:
    """A Keras regression model on the diabetes data, exported as a SavedModel in <dir>/1."""
    root = tmp_path_factory.mktemp("tf-model")
    _python(TF_BUILD, str(root))
    assert (root / "model" / "1" / "saved_model.pb").is_file()
    return Model(root / "model", np.load(root / "x.npy"), np.load(root / "y.npy"))


@pytest.fixture(scope="module")
def tf_server(tf_model: Model, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tf_model.dir, tmp_path_factory.mktemp("tf-server") / "server.log")
    yield server
    _kill(server.proc)


@pytest.fixture(scope="module")
def keras_server(tf_model: Model, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tf_model.dir.parent / "keras", tmp_path_factory.mktemp("keras-server") / "server.log")
    yield server
    _kill(server.proc)


@pytest.fixture(scope="module")
def iris() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_iris(return_X_y=True)
    return x, y


@pytest.fixture(scope="module")
def sk_model(tmp_path_factory: pytest.TempPathFactory, iris: tuple[np.ndarray, np.ndarray]) -> tuple[Path, Any]:
    """LogisticRegression on iris, saved as model.joblib the way SageMaker's scikit-learn scripts do."""
    d = tmp_path_factory.mktemp("sk-model")
    model = LogisticRegression(max_iter=1000).fit(*iris)
    joblib.dump(model, d / "model.joblib")
    return d, model


@pytest.fixture(scope="module")
def sk_server(sk_model: tuple[Path, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # The console script this time; the other servers run as ``python -m mlyard``.
    server = start_server(sk_model[0], tmp_path_factory.mktemp("sk-server") / "server.log", command=(MLYARD,))
    yield server
    _kill(server.proc)


@pytest.fixture(scope="module")
def torch_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Model]]:
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed")
    root = tmp_path_factory.mktemp("torch-model")
    _python(TORCH_BUILD, str(root))
    model = Model(root / "model", np.load(root / "x.npy"), np.load(root / "y.npy"))
    server = start_server(model.dir, root / "server.log")
    yield server, model
    _kill(server.proc)


@pytest.fixture(scope="module")
def tf_client(tf_server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=tf_server.url, timeout=30) as client:
        yield client


# -- TensorFlow SavedModel: SageMaker /invocations ------------------------------------------------

def test_ping_and_execution_parameters(tf_client: httpx.Client) -> None:
    r = tf_client.get("/ping")
    assert r.status_code == 200 and r.content == b""
    params = tf_client.get("/execution-parameters").json()
    assert params["MaxPayloadInMB"] == 6 and params["BatchStrategy"] == "MULTI_RECORD"


def _predictions(r: httpx.Response, expected: np.ndarray, key: str = "predictions") -> None:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert list(body) == [key]
    got = np.asarray(body[key])
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-4)


def _npz(x: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, x=x)
    return buf.getvalue()


@pytest.mark.parametrize("form", ["instances", "bare-rows", "jsonlines", "csv", "npy", "npy-octet-stream", "npz"])
def test_tf_invocations_content_types(tf_client: httpx.Client, tf_model: Model, form: str) -> None:
    x, y = tf_model.x[:5], tf_model.y[:5]
    requests: dict[str, tuple[bytes | str, str]] = {
        "instances": (json.dumps({"instances": x.tolist()}), "application/json"),
        "bare-rows": (json.dumps(x.tolist()), "application/json"),
        "jsonlines": ("".join(json.dumps(row) + "\n" for row in x.tolist()), JSONL_TYPE),
        "csv": (csv_body(x), CSV_TYPE),
        "npy": (npy(x), NPY_TYPE),
        "npy-octet-stream": (npy(x), "application/octet-stream"),
        "npz": (_npz(x), "application/x-npz"),
    }
    body, content_type = requests[form]
    r = tf_client.post("/invocations", content=body, headers={"content-type": content_type})
    _predictions(r, y)


def test_tf_invocations_default_content_type_is_json(tf_client: httpx.Client, tf_model: Model) -> None:
    r = tf_client.post("/invocations", content=json.dumps({"instances": tf_model.x[:3].tolist()}))
    _predictions(r, tf_model.y[:3])


def test_tf_invocations_bare_single_instance_is_one_row(tf_client: httpx.Client, tf_model: Model) -> None:
    r = tf_client.post("/invocations", json=tf_model.x[0].tolist())
    _predictions(r, tf_model.y[:1])


@pytest.mark.parametrize("accept", ["text/csv", "application/x-npy", "application/jsonlines"])
def test_tf_invocations_accept(tf_client: httpx.Client, tf_model: Model, accept: str) -> None:
    x, y = tf_model.x[10:17], tf_model.y[10:17]
    r = tf_client.post("/invocations", json={"instances": x.tolist()}, headers={"accept": accept})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith(accept)
    if accept == "text/csv":
        got = parse_csv(r.text)
    elif accept == "application/x-npy":
        got = from_npy(r.content)
    else:
        got = np.array([json.loads(line) for line in r.text.splitlines()])
    assert got.shape == y.shape
    np.testing.assert_allclose(got, y, atol=1e-4)


def test_keras_file(keras_server: Server, tf_model: Model) -> None:
    with httpx.Client(base_url=keras_server.url) as client:
        x, y = tf_model.x[40:46], tf_model.y[40:46]
        _predictions(client.post("/invocations", json={"instances": x.tolist()}), y)
        _predictions(client.post("/invocations", content=csv_body(x), headers={"content-type": CSV_TYPE}), y)
        _predictions(client.post("/v1/models/model:predict", json={"instances": x.tolist()}), y)
        r = client.post("/invocations", json={"instances": x[:, :7].tolist()})
        assert r.status_code == 400, r.text
        error_text(r)


# -- TensorFlow Serving REST ----------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/v1/models/model", "/v1/models/model/versions/1"])
def test_tfs_model_status(tf_client: httpx.Client, path: str) -> None:
    r = tf_client.get(path)
    assert r.status_code == 200, r.text
    assert r.json()["model_version_status"] == [
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]


def test_tfs_metadata(tf_client: httpx.Client) -> None:
    r = tf_client.get("/v1/models/model/metadata")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model_spec"]["name"] == "model" and body["model_spec"]["version"] == "1"
    assert "signature_def" in body["metadata"]
    # The input's shape (any batch size, 10 features) is described somewhere in the signature.
    assert "[-1, 10]" in json.dumps(body["metadata"])


@pytest.mark.parametrize("path", ["/v1/models/model:predict", "/v1/models/model/versions/1:predict"])
def test_tfs_predict(tf_client: httpx.Client, tf_model: Model, path: str) -> None:
    x, y = tf_model.x[20:26], tf_model.y[20:26]
    _predictions(tf_client.post(path, json={"instances": x.tolist()}), y)
    _predictions(tf_client.post(path, json={"inputs": x.tolist()}), y, key="outputs")
    _predictions(tf_client.post(path, json={"signature_name": "serving_default", "instances": x.tolist()}), y)


def test_tfs_predict_named_inputs(tf_client: httpx.Client, tf_model: Model) -> None:
    name = tf_client.get("/v2/models/model").json()["inputs"][0]["name"]
    x, y = tf_model.x[:2], tf_model.y[:2]
    _predictions(tf_client.post("/v1/models/model:predict", json={"inputs": {name: x.tolist()}}), y, key="outputs")
    _predictions(tf_client.post("/v1/models/model:predict", json={"instances": [{name: r} for r in x.tolist()]}), y)


@pytest.mark.parametrize(("method", "path", "label"), [
    ("GET", "/v1/models/half", "Latest(half)"),
    ("GET", "/v1/models/half/metadata", "Latest(half)"),
    ("POST", "/v1/models/half:predict", "Latest(half)"),
    ("POST", "/v1/models/model/versions/2:predict", "Specific(model, 2)"),
    ("GET", "/v1/models/model/versions/2", "Specific(model, 2)"),
])
def test_tfs_unknown_servable(tf_client: httpx.Client, method: str, path: str, label: str) -> None:
    r = tf_client.request(method, path, json={"instances": [[0.0] * 10]} if method == "POST" else None)
    assert r.status_code == 404, r.text
    assert r.json() == {"error": f"Servable not found for request: {label}"}


def test_tfs_predict_bad_bodies(tf_client: httpx.Client) -> None:
    row = [0.0] * 10
    for body in ({"instances": [row], "inputs": [row]}, {"examples": [row]}, [row], {"instances": [[1.0, 2.0]]}):
        r = tf_client.post("/v1/models/model:predict", json=body)
        assert r.status_code == 400, (body, r.text)
        assert "error" in r.json() and r.json()["error"]
    r = tf_client.post("/v1/models/model:predict", content=b"{not json")
    assert r.status_code == 400 and r.json()["error"]


# -- Open Inference Protocol v2 -------------------------------------------------------------------

def test_v2_health_and_metadata(tf_client: httpx.Client) -> None:
    assert tf_client.get("/v2/health/live").json() == {"live": True}
    ready = tf_client.get("/v2/health/ready")
    assert ready.status_code == 200 and ready.json() == {"ready": True}
    assert tf_client.get("/v2").json()["name"] == "mlyard"
    assert tf_client.get("/v2/models/model/ready").json() == {"name": "model", "ready": True}
    meta = tf_client.get("/v2/models/model").json()
    assert meta["name"] == "model" and meta["versions"] == ["1"]
    (inp,) = meta["inputs"]
    assert inp["datatype"] == "FP32" and inp["shape"] == [-1, 10]
    (out,) = meta["outputs"]
    assert out["datatype"] == "FP32" and out["shape"] == [-1, 1]


@pytest.mark.parametrize("path", ["/v2/models/model/infer", "/v2/models/model/versions/1/infer"])
def test_v2_infer(tf_client: httpx.Client, tf_model: Model, path: str) -> None:
    x, y = tf_model.x[30:34], tf_model.y[30:34]
    r = tf_client.post(path, json={"id": "req-7", "inputs": [
        {"name": "x", "shape": list(x.shape), "datatype": "FP32", "data": x.reshape(-1).tolist()}]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model_name"] == "model" and body["model_version"] == "1" and body["id"] == "req-7"
    (out,) = body["outputs"]
    assert out["shape"] == [4, 1] and out["datatype"] == "FP32"
    np.testing.assert_allclose(np.asarray(out["data"]).reshape(out["shape"]), y, atol=1e-4)


@pytest.mark.parametrize("path", ["/v2/models/nope/infer", "/v2/models/model/versions/9/infer", "/v2/models/nope",
                                  "/v2/models/model/bogus"])
def test_v2_unknown_model(tf_client: httpx.Client, path: str) -> None:
    method = "POST" if path.endswith("infer") else "GET"
    r = tf_client.request(method, path, json={"inputs": [{"name": "x", "shape": [1, 10], "datatype": "FP32",
                                                          "data": [0.0] * 10}]})
    assert r.status_code == 404, r.text
    error_text(r)


# -- bad input -------------------------------------------------------------------------------------

BAD_REQUESTS = [
    # (path, content type, body, status, words the message contains)
    ("/invocations", "application/json", json.dumps({"instances": [[1.0, 2.0, 3.0]]}), 400, "shape"),
    ("/invocations", "application/json", json.dumps([[1.0] * 10, [1.0] * 9]), 400, "rectangular"),
    ("/invocations", "application/json", json.dumps([[[1.0] * 10]]), 400, "shape"),
    ("/invocations", "application/json", json.dumps({"rows": [[1.0] * 10]}), 400, "instances"),
    ("/invocations", "application/json", "5", 400, "single value"),
    ("/invocations", "application/json", json.dumps([["a"] * 10]), 400, "float"),
    ("/invocations", "application/json", '{"instances": [[1, 2,', 400, "not valid application/json"),
    ("/invocations", "application/json", "[[NaN]]", 400, "not valid application/json"),
    ("/invocations", JSONL_TYPE, "[1.0, 2.0]\n{oops\n", 400, "not valid application/jsonlines"),
    ("/invocations", CSV_TYPE, "1,2,3\n4,five,6\n", 400, "not valid text/csv"),
    ("/invocations", CSV_TYPE, "1,2,3\n4,5\n", 400, "not valid text/csv"),
    ("/invocations", CSV_TYPE, b"\xff\xfe1,2\n", 400, "not valid text/csv"),
    ("/invocations", CSV_TYPE, "1,2\r3,4\n", 400, "not valid text/csv"),
    ("/invocations", CSV_TYPE, "1" * 200_000, 400, "shape"),
    ("/invocations", NPY_TYPE, b"definitely not numpy", 400, "not valid application/x-npy"),
    ("/invocations", NPY_TYPE, b"", 400, "empty"),
    ("/invocations", "application/json", b"", 400, "empty"),
    ("/invocations", CSV_TYPE, b"\n\n", 400, "empty"),
    ("/invocations", NPY_TYPE, npy(np.ones((2, 9), dtype="float32")), 400, "shape"),
    ("/invocations", "image/png", b"\x89PNG\r\n", 415, "Unsupported Media Type: image/png"),
    ("/invocations", "application/xml", "<rows/>", 415, "Unsupported Media Type"),
    ("/v2/models/model/infer", "application/json", json.dumps({"inputs": []}), 400, "one input"),
    ("/v2/models/model/infer", "application/json",
     json.dumps({"inputs": [{"name": "x", "shape": [1, 10], "datatype": "FP32", "data": [1.0] * 9}]}), 400, "shape"),
    ("/v2/models/model/infer", "application/json",
     json.dumps({"inputs": [{"name": "x", "shape": [1, 9], "datatype": "FP32", "data": [1.0] * 9}]}), 400, "shape"),
    ("/v2/models/model/infer", "application/json",
     json.dumps({"inputs": [{"name": "x", "shape": [1, 10], "datatype": "COMPLEX", "data": [1.0] * 10}]}), 400,
     "datatype"),
    ("/v2/models/model/infer", "application/json",
     json.dumps({"inputs": [{"name": "x", "shape": [-1, 10], "datatype": "FP32", "data": [1.0] * 10}]}), 400,
     "shape"),
    ("/v2/models/model/infer", "application/json", "[", 400, "not valid application/json"),
]


@pytest.mark.parametrize(("path", "content_type", "body", "status", "words"), BAD_REQUESTS)
def test_bad_requests(tf_client: httpx.Client, path: str, content_type: str, body: str | bytes, status: int,
                      words: str) -> None:
    r = tf_client.post(path, content=body, headers={"content-type": content_type})
    assert r.status_code == status, r.text
    assert words.lower() in error_text(r).lower()


def test_unanswerable_accept_is_415(tf_client: httpx.Client, tf_model: Model) -> None:
    r = tf_client.post("/invocations", json={"instances": tf_model.x[:1].tolist()}, headers={"accept": "image/png"})
    assert r.status_code == 415, r.text
    assert "image/png" in error_text(r)


def test_wrong_method_and_route(tf_client: httpx.Client) -> None:
    r = tf_client.get("/invocations")
    assert r.status_code == 405
    error_text(r)
    r = tf_client.post("/nowhere", json=[])
    assert r.status_code == 404
    error_text(r)


def test_payload_over_6_mb_is_413(tf_client: httpx.Client) -> None:
    row = ",".join(["0.5"] * 10) + "\n"
    big = row * (6 * 1024 * 1024 // len(row) + 10)
    assert len(big) > 6 * 1024 * 1024
    for path in ("/invocations", "/v1/models/model:predict", "/v2/models/model/infer"):
        r = tf_client.post(path, content=big, headers={"content-type": CSV_TYPE})
        assert r.status_code == 413, (path, r.text[:200])
        assert "limit" in error_text(r)

    # Without a Content-Length (chunked), the body is measured as it arrives.
    def chunks() -> Iterator[bytes]:
        data = big.encode()
        for i in range(0, len(data), 1 << 20):
            yield data[i:i + (1 << 20)]

    r = tf_client.post("/invocations", content=chunks(), headers={"content-type": CSV_TYPE})
    assert r.status_code == 413, r.text[:200]
    error_text(r)
    # Just under the limit is fine.
    ok = row * (6 * 1024 * 1024 // len(row) - 10)
    r = tf_client.post("/invocations", content=ok, headers={"content-type": CSV_TYPE})
    assert r.status_code == 200, r.text[:200]
    assert len(r.json()["predictions"]) == ok.count("\n")


def _huge_npy_header() -> bytes:
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (1099511627776,), }"
    header += " " * (-(10 + len(header) + 1) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode()


KNOWN_500S = [
    pytest.param("/invocations", NPY_TYPE, b"PK\x03\x04 not really a zip", id="npy-zip-magic"),
    pytest.param("/invocations", NPY_TYPE, _huge_npy_header(), id="npy-8-TiB-header"),
    pytest.param("/v2/models/model/infer", "application/json",
                 json.dumps({"inputs": [{"name": "x", "shape": [1, 10], "datatype": "INT8", "data": [1000] * 10}]}),
                 id="v2-int8-overflow"),
    pytest.param("/v2/models/model/infer", "application/json",
                 json.dumps({"inputs": [{"name": "x", "shape": [1, 10], "datatype": "INT64", "data": [2**63] * 10}]}),
                 id="v2-int64-overflow"),
]


@pytest.mark.parametrize(("path", "content_type", "body"), KNOWN_500S)
def test_malformed_bodies_are_client_errors(tf_server: Server, path: str, content_type: str,
                                            body: str | bytes) -> None:
    # A fresh connection: the server closes a connection after a 500.
    r = httpx.post(tf_server.url + path, content=body, headers={"content-type": content_type}, timeout=30)
    assert 400 <= r.status_code < 500, r.text
    error_text(r)


# -- adaptive batching, through the server ----------------------------------------------------------

def test_concurrent_requests_get_their_own_rows(tf_server: Server, tf_model: Model) -> None:
    x, y = tf_model.x, tf_model.y
    forms = ["instances", "csv", "npy", "tfs", "v2"]

    async def one(client: httpx.AsyncClient, i: int) -> tuple[int, np.ndarray | None]:
        start, n = (i * 4) % (len(x) - 4), 1 + i % 4
        rows = x[start:start + n]
        form = forms[i % len(forms)]
        if i % 16 == 15:  # a bad request among good ones (9 features)
            r = await client.post("/invocations", json={"instances": rows[:, :9].tolist()})
            return r.status_code, None
        if form == "instances":
            r = await client.post("/invocations", json={"instances": rows.tolist()})
        elif form == "csv":
            r = await client.post("/invocations", content=csv_body(rows), headers={"content-type": CSV_TYPE})
        elif form == "npy":
            r = await client.post("/invocations", content=npy(rows), headers={"content-type": NPY_TYPE})
        elif form == "tfs":
            r = await client.post("/v1/models/model:predict", json={"instances": rows.tolist()})
        else:
            r = await client.post("/v2/models/model/infer", json={"inputs": [
                {"name": "x", "shape": list(rows.shape), "datatype": "FP32", "data": rows.reshape(-1).tolist()}]})
            assert r.status_code == 200, r.text
            out = r.json()["outputs"][0]
            return r.status_code, np.asarray(out["data"]).reshape(out["shape"])
        assert r.status_code == 200, r.text
        return r.status_code, np.asarray(r.json()["predictions"])

    async def main() -> list[tuple[int, np.ndarray | None]]:
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with httpx.AsyncClient(base_url=tf_server.url, timeout=60, limits=limits) as client:
            return await asyncio.gather(*(one(client, i) for i in range(64)))

    results = asyncio.run(main())
    for i, (status, got) in enumerate(results):
        start, n = (i * 4) % (len(x) - 4), 1 + i % 4
        if i % 16 == 15:
            assert status == 400
            continue
        assert got is not None and got.shape == (n, 1)
        np.testing.assert_allclose(got, y[start:start + n], atol=1e-4, err_msg=f"request {i}")


# -- adaptive batching, the Batcher itself (a stand-in model function) -------------------------------

class Recorder:
    """A model function: each row's output is its sum; it records the batches it was given."""

    def __init__(self, delay: float = 0.01, fail_on_nan: bool = False) -> None:
        self.batches: list[np.ndarray] = []
        self.delay = delay
        self.fail_on_nan = fail_on_nan

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        self.batches.append(batch.copy())
        time.sleep(self.delay)
        if self.fail_on_nan and np.isnan(batch).any():
            raise ValueError("NaN in the input")
        return batch.reshape(len(batch), -1).sum(axis=1, keepdims=True)


async def _submit_all(batcher: Batcher, requests: list[np.ndarray]) -> list[Any]:
    return await asyncio.gather(*(batcher.submit(r) for r in requests), return_exceptions=True)


def test_batcher_groups_concurrent_requests() -> None:
    model = Recorder()
    batcher = Batcher(model, max_batch_size=16, max_latency_ms=50)
    requests = [np.full((1, 3), float(i)) for i in range(40)]
    results = asyncio.run(_submit_all(batcher, requests))
    assert len(model.batches) < len(requests) / 2, [len(b) for b in model.batches]
    assert all(len(b) <= 16 for b in model.batches)
    assert sum(len(b) for b in model.batches) == 40 == batcher.rows
    for i, out in enumerate(results):
        np.testing.assert_array_equal(out, [[3.0 * i]])


def test_batcher_maps_multi_row_requests_back() -> None:
    model = Recorder()
    batcher = Batcher(model, max_batch_size=64, max_latency_ms=50)
    rng = np.random.default_rng(0)
    requests = [rng.normal(size=(int(rng.integers(1, 6)), 4)) for _ in range(30)]
    results = asyncio.run(_submit_all(batcher, requests))
    assert len(model.batches) < 30
    for req, out in zip(requests, results, strict=True):
        np.testing.assert_allclose(out, req.sum(axis=1, keepdims=True))


def test_batcher_keeps_shapes_and_dtypes_apart() -> None:
    model = Recorder()
    batcher = Batcher(model, max_batch_size=64, max_latency_ms=50)
    requests = [np.ones((1, 3)), np.ones((2, 4)), np.ones((1, 3)), np.ones((1, 2, 2)), np.ones((1, 3), dtype="int64"),
                np.ones((3, 4)), np.ones((1, 3), dtype="float32")]
    results = asyncio.run(_submit_all(batcher, requests))
    for req, out in zip(requests, results, strict=True):
        assert not isinstance(out, BaseException), out
        np.testing.assert_allclose(out, req.reshape(len(req), -1).sum(axis=1, keepdims=True))
    kinds = [(b.shape[1:], b.dtype.name) for b in model.batches]
    assert sorted(set(kinds)) == sorted([((3,), "float64"), ((4,), "float64"), ((2, 2), "float64"),
                                         ((3,), "int64"), ((3,), "float32")])
    # The first request's kind is batched; the others wait for the next batches, apart.
    assert model.batches[0].shape == (2, 3) and model.batches[0].dtype == np.float64


def test_batcher_one_bad_request_does_not_fail_the_others() -> None:
    model = Recorder(fail_on_nan=True)
    batcher = Batcher(model, max_batch_size=64, max_latency_ms=50)
    requests = [np.full((2, 3), float(i)) for i in range(8)]
    requests[5][1, 2] = np.nan
    results = asyncio.run(_submit_all(batcher, requests))
    assert isinstance(results[5], ValueError)
    for i, out in enumerate(results):
        if i != 5:
            np.testing.assert_array_equal(out, [[3.0 * i], [3.0 * i]])
    assert any(len(b) > 2 for b in model.batches), "the requests were never batched together"


def test_batcher_lone_request_is_not_held_long() -> None:
    batcher = Batcher(Recorder(delay=0), max_batch_size=64, max_latency_ms=2)

    async def main() -> float:
        await batcher.submit(np.ones((1, 3)))  # start the worker
        t0 = time.perf_counter()
        await batcher.submit(np.ones((1, 3)))
        return time.perf_counter() - t0

    assert asyncio.run(main()) < 1.0


def test_batcher_survives_an_output_without_rows() -> None:
    calls = {"n": 0}

    def model(batch: np.ndarray) -> np.ndarray:
        calls["n"] += 1
        return np.float32(batch.sum()) if calls["n"] == 1 else batch.sum(axis=1)

    batcher = Batcher(model, max_batch_size=64, max_latency_ms=1)

    async def main() -> Any:
        # A dead worker's "Task exception was never retrieved" goes here, not to a log record
        # formatted whenever the garbage collector runs (CPython 3.11.7's ast is not reentrant).
        asyncio.get_running_loop().set_exception_handler(lambda _loop, _context: None)
        (first,) = await asyncio.wait_for(asyncio.gather(batcher.submit(np.ones((2, 3))), return_exceptions=True), 2)
        assert isinstance(first, Exception)
        return await asyncio.wait_for(batcher.submit(np.ones((2, 3))), 2)

    np.testing.assert_array_equal(asyncio.run(main()), [3.0, 3.0])


def test_batcher_does_not_merge_flat_sklearn_requests(sk_model: tuple[Path, Any]) -> None:
    handler = SklearnHandler(sk_model[0] / "model.joblib")
    batcher = Batcher(handler.predict, max_batch_size=64, max_latency_ms=50)
    # Each request has 2 of the 4 features the model needs: each alone is rejected.
    results = asyncio.run(_submit_all(batcher, [np.array([5.1, 3.5]), np.array([1.4, 0.2])]))
    assert all(isinstance(r, ModelError) for r in results), results


def test_batcher_respects_max_batch_size_with_multi_row_requests() -> None:
    model = Recorder()
    batcher = Batcher(model, max_batch_size=4, max_latency_ms=50)
    results = asyncio.run(_submit_all(batcher, [np.ones((3, 2)), 2 * np.ones((3, 2))]))
    np.testing.assert_array_equal(np.ravel(results[0]), [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(np.ravel(results[1]), [4.0, 4.0, 4.0])
    assert all(len(b) <= 4 for b in model.batches), [len(b) for b in model.batches]
    assert sum(len(b) for b in model.batches) == 6


# -- scikit-learn -----------------------------------------------------------------------------------

@pytest.mark.parametrize("form", ["json", "csv", "npy"])
@pytest.mark.parametrize("accept", ["application/json", "text/csv", "application/x-npy"])
def test_sklearn_invocations(sk_server: Server, sk_model: tuple[Path, Any], iris: tuple[np.ndarray, np.ndarray],
                             form: str, accept: str) -> None:
    x = iris[0][::7]
    expected = sk_model[1].predict(x)
    assert len(set(expected)) == 3
    body, content_type = {"json": (json.dumps(x.tolist()), "application/json"), "csv": (csv_body(x), CSV_TYPE),
                          "npy": (npy(x), NPY_TYPE)}[form]
    r = httpx.post(f"{sk_server.url}/invocations", content=body,
                   headers={"content-type": content_type, "accept": accept})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith(accept)
    if accept == "application/json":
        got = np.asarray(r.json())
    elif accept == "text/csv":
        got = parse_csv(r.text).reshape(-1)
    else:
        got = from_npy(r.content)
    np.testing.assert_array_equal(got, expected)


def test_sklearn_bad_input(sk_server: Server) -> None:
    with httpx.Client(base_url=sk_server.url) as client:
        r = client.post("/invocations", json=[[1.0, 2.0]])
        assert r.status_code == 400 and "features" in error_text(r)
        r = client.post("/invocations", content="1,2,3,x\n", headers={"content-type": CSV_TYPE})
        assert r.status_code == 400
        error_text(r)
        r = client.post("/invocations", content=b"\x00\x01", headers={"content-type": "image/png"})
        assert r.status_code == 415
        error_text(r)
        assert client.get("/ping").status_code == 200


# -- TorchScript ------------------------------------------------------------------------------------

def test_torchscript(torch_server: tuple[Server, Model]) -> None:
    server, model = torch_server
    with httpx.Client(base_url=server.url) as client:
        r = client.post("/invocations", json=model.x.tolist())
        assert r.status_code == 200, r.text
        np.testing.assert_allclose(np.asarray(r.json()), model.y, atol=1e-5)
        r = client.post("/invocations", content=csv_body(model.x[:3]), headers={"content-type": CSV_TYPE})
        np.testing.assert_allclose(np.asarray(r.json()), model.y[:3], atol=1e-5)
        r = client.post("/invocations", content=npy(model.x[3:6]), headers={"content-type": NPY_TYPE,
                                                                            "accept": NPY_TYPE})
        np.testing.assert_allclose(from_npy(r.content), model.y[3:6], atol=1e-5)
        r = client.post("/invocations", json=[[1.0, 2.0, 3.0]])
        assert r.status_code == 400, r.text
        error_text(r)


# -- inference code (code/inference.py) --------------------------------------------------------------

FUNCTIONS_CODE = '''
import json
import os

import joblib
import numpy as np

SPECIES = ["setosa", "versicolor", "virginica"]
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def model_fn(model_dir):
    return {"model": joblib.load(os.path.join(model_dir, "model.joblib"))}


def input_fn(input_data, content_type):
    if content_type not in ("application/vnd.flowers+json", "application/json"):
        raise ValueError("unsupported content type " + content_type)
    flowers = json.loads(input_data)["flowers"]
    return {"rows": np.array([[f[k] for k in FEATURES] for f in flowers]), "content_type": content_type,
            "input_type": type(input_data).__name__}


def predict_fn(data, model):
    return dict(data, proba=model["model"].predict_proba(data["rows"]))


def output_fn(prediction, accept):
    body = {"species": [SPECIES[i] for i in prediction["proba"].argmax(axis=1)],
            "proba": prediction["proba"].tolist(), "content_type": prediction["content_type"],
            "input_type": prediction["input_type"], "accept": accept}
    return json.dumps(body), "application/vnd.species+json"
'''

TRANSFORM_CODE = '''
import os

import joblib
import numpy as np


def model_fn(model_dir, context):
    return joblib.load(os.path.join(model_dir, "model.joblib"))


def transform_fn(model, input_data, content_type, accept):
    assert isinstance(input_data, str), type(input_data)
    rows = np.array([[float(v) for v in line.split(",")] for line in input_data.splitlines() if line.strip()])
    labels = model.predict(rows)
    return "".join(f"{int(label)}\\n" for label in labels), "text/csv"
'''

CONFLICT_CODE = '''
def transform_fn(model, input_data, content_type, accept):
    return input_data


def input_fn(input_data, content_type):
    return input_data
'''


def _code_model(root: Path, sk_model: tuple[Path, Any], code: str) -> Path:
    d = root / "model"
    (d / "code").mkdir(parents=True)
    joblib.dump(sk_model[1], d / "model.joblib")
    (d / "code" / "inference.py").write_text(code)
    return d


@pytest.fixture(scope="module")
def functions_server(tmp_path_factory: pytest.TempPathFactory, sk_model: tuple[Path, Any]) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("functions")
    server = start_server(_code_model(root, sk_model, FUNCTIONS_CODE), root / "server.log")
    yield server
    _kill(server.proc)


@pytest.fixture(scope="module")
def transform_server(tmp_path_factory: pytest.TempPathFactory, sk_model: tuple[Path, Any]) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("transform")
    server = start_server(_code_model(root, sk_model, TRANSFORM_CODE), root / "server.log")
    yield server
    _kill(server.proc)


def _flowers(x: np.ndarray) -> str:
    names = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    return json.dumps({"flowers": [dict(zip(names, map(float, row), strict=True)) for row in x]})


@pytest.mark.parametrize(("content_type", "input_type"), [("application/vnd.flowers+json", "bytes"),
                                                          ("application/json", "str")])
def test_inference_functions(functions_server: Server, sk_model: tuple[Path, Any],
                             iris: tuple[np.ndarray, np.ndarray], content_type: str, input_type: str) -> None:
    x = iris[0][::25]
    r = httpx.post(f"{functions_server.url}/invocations", content=_flowers(x),
                   headers={"content-type": content_type, "accept": "application/json"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/vnd.species+json")
    body = r.json()
    species = ["setosa", "versicolor", "virginica"]
    assert body["species"] == [species[i] for i in sk_model[1].predict(x)]
    np.testing.assert_allclose(body["proba"], sk_model[1].predict_proba(x), atol=1e-9)
    # JSON and CSV bodies reach input_fn as str, others as bytes; the content type as sent.
    assert body["input_type"] == input_type and body["content_type"] == content_type
    assert body["accept"] == "application/json"


def test_inference_functions_default_accept(functions_server: Server, iris: tuple[np.ndarray, np.ndarray]) -> None:
    r = httpx.post(f"{functions_server.url}/invocations", content=_flowers(iris[0][:2]),
                   headers={"content-type": "application/json", "accept": "*/*"})
    assert r.status_code == 200, r.text
    assert r.json()["accept"] == "application/json"


def test_inference_functions_user_error_is_reported(functions_server: Server) -> None:
    r = httpx.post(f"{functions_server.url}/invocations", content=b"<flowers/>",
                   headers={"content-type": "application/xml"})
    # The user's own exception: SageMaker's toolkit answers 500 with its message.
    assert r.status_code == 500
    assert "unsupported content type application/xml" in error_text(r)
    assert httpx.get(f"{functions_server.url}/ping").status_code == 200


def test_inference_functions_see_the_content_type_as_sent(functions_server: Server,
                                                           iris: tuple[np.ndarray, np.ndarray]) -> None:
    r = httpx.post(f"{functions_server.url}/invocations", content=_flowers(iris[0][:1]),
                   headers={"content-type": "text/plain"})
    assert "unsupported content type text/plain" in error_text(r)


def test_transform_fn(transform_server: Server, sk_model: tuple[Path, Any],
                      iris: tuple[np.ndarray, np.ndarray]) -> None:
    x = iris[0][::9]
    r = httpx.post(f"{transform_server.url}/invocations", content=csv_body(x),
                   headers={"content-type": CSV_TYPE, "accept": CSV_TYPE})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert [int(v) for v in r.text.split()] == sk_model[1].predict(x).tolist()


# -- start-up errors --------------------------------------------------------------------------------

def test_transform_fn_with_input_fn_refuses_to_start(tmp_path: Path, sk_model: tuple[Path, Any]) -> None:
    done = run_serve(_code_model(tmp_path, sk_model, CONFLICT_CODE), "--port", "0")
    assert done.returncode != 0
    message = _flat(done.stdout + done.stderr)
    assert "transform_fn together with input_fn" in message, message
    assert "listening" not in message


def test_nothing_loadable_refuses_to_start(tmp_path: Path) -> None:
    d = tmp_path / "model"
    d.mkdir()
    (d / "README.txt").write_text("weights went missing")
    (d / "weights.bin").write_bytes(b"\x00" * 16)
    done = run_serve(d, "--port", "0", command=(MLYARD,))
    assert done.returncode != 0
    message = _flat(done.stdout + done.stderr)
    assert "no loadable model" in message and "README.txt" in message
    for expected in ("saved_model.pb", ".keras", "model.joblib", "model.pt", "code/inference.py"):
        assert expected in message, (expected, message)
    assert "Traceback" not in message


def test_missing_model_dir_refuses_to_start(tmp_path: Path) -> None:
    done = run_serve(tmp_path / "absent", "--port", "0")
    assert done.returncode != 0
    assert "does not exist" in _flat(done.stdout + done.stderr)


def test_port_in_use_refuses_to_start(sk_model: tuple[Path, Any]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = run_serve(sk_model[0], "--port", str(port))
    assert done.returncode != 0
    message = _flat(done.stdout + done.stderr)
    assert f"cannot listen on 127.0.0.1:{port}" in message and "in use" in message, message
    assert "Traceback" not in message


def test_startup_errors_go_to_stderr(tmp_path: Path) -> None:
    done = run_serve(tmp_path / "absent", "--port", "0")
    assert done.returncode != 0
    assert "does not exist" in done.stderr and done.stdout == ""


# -- fuzzing ---------------------------------------------------------------------------------------

CONTENT_TYPES = ["application/json", "application/json; charset=utf-8", JSONL_TYPE, "application/x-ndjson",
                 CSV_TYPE, "text/plain", NPY_TYPE, "application/x-npz", "application/octet-stream", "image/png",
                 "application/xml", "multipart/form-data", "*/*", "", "text/csv; header=present"]
ACCEPTS = ["application/json", CSV_TYPE, NPY_TYPE, JSONL_TYPE, "*/*", "", "image/png", "text/html,*/*;q=0.1"]
# Integer types are left out: a value out of their range is a known 500 (see KNOWN_500S).
HEADER_CHARS = "abcdefghijklmnopqrstuvwxyz/+-.;=* "
V2_TYPES = ["FP32", "FP64", "FP16", "BOOL", "fp32", "BYTES", "STRING", ""]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(
        st.sampled_from(["instances", "inputs", "examples", "signature_name", "name", "shape", "datatype", "data",
                         "id"]) | st.text(max_size=5), inner, max_size=4),
    max_leaves=24)
# Numeric tables, near the model's shape, so requests get past the decoders into the model.
numbers = st.floats(allow_nan=True, allow_infinity=True, width=32) | st.integers(-(2**63), 2**63 - 1)
tables = st.integers(0, 4).flatmap(lambda n: st.lists(st.lists(numbers, min_size=n * 3, max_size=n * 3 + 1),
                                                      max_size=4))
v2_inputs = st.fixed_dictionaries({
    "name": st.text(max_size=4),
    "shape": st.lists(st.integers(-2, 12), max_size=3) | json_values,
    "datatype": st.sampled_from(V2_TYPES) | json_values,
    "data": st.lists(numbers, max_size=24) | json_values,
})


def _json_bytes(value: Any) -> bytes:
    # The standard library writes NaN, Infinity and integers of any size, which are not JSON to orjson.
    return json.dumps(value).encode()


@st.composite
def bad_requests(draw: st.DrawFn) -> tuple[str, str, str, bytes]:
    path = draw(st.sampled_from(["/invocations", "/v1/models/model:predict", "/v2/models/model/infer"]))
    content_type = draw(st.sampled_from(CONTENT_TYPES) | st.text(HEADER_CHARS, max_size=30).map(str.strip))
    accept = draw(st.sampled_from(ACCEPTS))
    kind = draw(st.sampled_from(["bytes", "json", "table", "wrapped-table", "v2", "csv-text", "npy-prefix"]))
    if kind == "bytes":
        body = draw(st.binary(max_size=300))
    elif kind == "json":
        body = _json_bytes(draw(json_values))
    elif kind == "table":
        body = _json_bytes(draw(tables))
    elif kind == "wrapped-table":
        body = _json_bytes({draw(st.sampled_from(["instances", "inputs"])): draw(tables)})
    elif kind == "v2":
        body = _json_bytes({"inputs": draw(st.lists(v2_inputs, min_size=0, max_size=2))})
    elif kind == "csv-text":
        body = draw(st.text("0123456789.,-e\n\r \"abc", max_size=200)).encode()
    else:
        body = b"\x93NUMPY" + draw(st.binary(max_size=200))
    return path, content_type, accept, body


def test_fuzzed_requests_never_500(tf_client: httpx.Client, tf_model: Model) -> None:
    sent: list[int] = []

    @settings(max_examples=2100, deadline=None, database=None, derandomize=False,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(request=bad_requests())
    def check(request: tuple[str, str, str, bytes]) -> None:
        path, content_type, accept, body = request
        headers = {k: v for k, v in (("content-type", content_type), ("accept", accept)) if v}
        r = tf_client.post(path, content=body, headers=headers)
        sent.append(r.status_code)
        assert r.status_code < 500, (request, r.text)
        if r.status_code >= 400:
            error_text(r)

    check()
    assert len(sent) >= 2000
    assert sum(s >= 400 for s in sent) > len(sent) // 2, "the fuzzer should mostly send bad requests"
    # Still serving, and still right.
    _predictions(tf_client.post("/invocations", json={"instances": tf_model.x[:4].tolist()}), tf_model.y[:4])
    _predictions(tf_client.post("/v1/models/model:predict", json={"instances": tf_model.x[4:8].tolist()}),
                 tf_model.y[4:8])
