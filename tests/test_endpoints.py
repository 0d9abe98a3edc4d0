"""Real-time endpoints: Model.deploy, Predictor, variants, supervision, rolling updates, data capture.

Every endpoint here serves real scikit-learn models (LogisticRegression on iris) through real
`mlyard serve` instances behind the endpoint runner's router, on loopback ports.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
import pytest
from conftest import procs_under, stop_local_server, wait_for

from mlyard.deserializers import CSVDeserializer, JSONDeserializer, NumpyDeserializer
from mlyard.errors import ConflictError, MlyardError, NotFoundError, ValidationError
from mlyard.model import Model
from mlyard.model_monitor import DataCaptureConfig
from mlyard.predictor import Predictor
from mlyard.serializers import CSVSerializer, JSONSerializer, NumpySerializer
from mlyard.sklearn import SKLearnModel, SKLearnPredictor

# Rows where the two models disagree everywhere (model B learnt the labels shifted by one).
ROWS = slice(0, 150, 15)


@dataclass
class IrisModels:
    x: np.ndarray
    pred_a: np.ndarray  # model A (model.tar.gz) on x
    pred_b: np.ndarray  # model B (a model folder) on x
    tar_a: Path
    dir_b: Path
    broken: Path  # a model folder with nothing loadable in it


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> IrisModels:
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    root = tmp_path_factory.mktemp("iris-models")
    x, y = load_iris(return_X_y=True)
    a = LogisticRegression(max_iter=1000).fit(x, y)
    b = LogisticRegression(max_iter=1000).fit(x, (y + 1) % 3)
    joblib.dump(a, root / "model.joblib")
    with tarfile.open(root / "model.tar.gz", "w:gz") as tar:
        tar.add(root / "model.joblib", arcname="model.joblib")
    (root / "model.joblib").unlink()
    (root / "b").mkdir()
    joblib.dump(b, root / "b" / "model.joblib")
    (root / "broken").mkdir()
    (root / "broken" / "notes.txt").write_text("no model here\n")
    xs = x[ROWS]
    pa, pb = a.predict(xs), b.predict(xs)
    assert (pa != pb).all()
    return IrisModels(xs, pa, pb, root / "model.tar.gz", root / "b", root / "broken")


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False




def _wait_endpoint(session: Any, name: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        desc = session.client.wait_endpoint(name, timeout=20)
        if desc["EndpointStatus"] not in ("Creating", "Updating"):
            return desc
    raise AssertionError(f"endpoint {name} still starting")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MLYARD_HOME": str(home), "COLUMNS": "250"}
    return subprocess.run([sys.executable, "-m", "mlyard", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def _csv(rows: np.ndarray) -> str:
    return "".join(",".join(map(repr, map(float, r))) + "\n" for r in rows)


def _close(*predictors: Predictor) -> None:
    # Predictor has no close(): its HTTP client would leak a socket (a ResourceWarning) when dropped.
    for p in predictors:
        if p._http is not None:
            p._http.close()
            p._http = None


def _assert_gone(desc: dict[str, Any], timeout: float = 15.0) -> None:
    """Nothing of the endpoint is left running: not its runner, not one instance."""
    pids = [i["pid"] for i in desc["Instances"]]
    wait_for(lambda: not any(_alive(p) for p in pids) and not procs_under(Path(desc["EndpointDirectory"])),
              timeout=timeout)


def test_deploy_predict_reattach_cli_and_delete(session, home: Path, models: IrisModels) -> None:
    sk = SKLearnModel(model_data=str(models.tar_a), role="r", framework_version="1.5")
    pred = sk.deploy(initial_instance_count=2, instance_type="local")
    assert isinstance(pred, SKLearnPredictor)
    desc = pred.describe()
    assert desc["EndpointStatus"] == "InService" and desc["EndpointUrl"] == pred.endpoint_url
    assert desc["ProductionVariants"][0]["CurrentInstanceCount"] == 2
    insts = desc["Instances"]
    assert len(insts) == 2 and all(i["healthy"] for i in insts)
    assert len({i["pid"] for i in insts}) == 2 and len({i["port"] for i in insts}) == 2
    # The SKLearnPredictor's defaults: NPY in, NPY out.
    np.testing.assert_array_equal(pred.predict(models.x), models.pred_a)
    # Every instance is a model server of its own that answers by itself.
    for inst in insts:
        direct = httpx.post(f"http://127.0.0.1:{inst['port']}/invocations", content=_csv(models.x),
                            headers={"Content-Type": "text/csv", "Accept": "application/json"})
        assert direct.json() == models.pred_a.tolist()

    # A second endpoint at the same time, a plain Model of a model folder, on a port of our choosing,
    # with JSON chosen at deploy time.
    port = _free_port()
    generic = Model(model_data=str(models.dir_b), role="r")
    pred2 = generic.deploy(initial_instance_count=1, instance_type="local", port=port, endpoint_name="iris-json",
                           serializer=JSONSerializer(), deserializer=JSONDeserializer())
    assert pred2.endpoint_url == f"http://127.0.0.1:{port}" != pred.endpoint_url
    assert pred2.predict(models.x) == models.pred_b.tolist()
    # NumpySerializer chosen at deploy time, answered as JSON.
    pred3 = Predictor(pred.endpoint_name, serializer=NumpySerializer(dtype="float32"),
                      deserializer=JSONDeserializer())
    assert pred3.predict(models.x) == models.pred_a.tolist()

    # curl-style raw requests to the endpoint's URL.
    raw = httpx.post(f"{pred.endpoint_url}/invocations", content=_csv(models.x),
                     headers={"Content-Type": "text/csv", "Accept": "text/csv"})
    assert raw.status_code == 200 and raw.headers["content-type"].startswith("text/csv")
    assert raw.headers["x-amzn-invoked-production-variant"] == "AllTraffic"
    assert [int(v) for v in raw.text.split()] == models.pred_a.tolist()
    assert httpx.get(f"{pred.endpoint_url}/ping").status_code == 200
    bad = httpx.post(f"{pred.endpoint_url}/invocations", content=b"1,2\n", headers={"Content-Type": "text/csv"})
    assert bad.status_code == 400 and bad.json()["error"] == "ModelError"
    rejecting = Predictor(pred.endpoint_name, serializer=CSVSerializer())
    with pytest.raises(MlyardError, match="features"):
        rejecting.predict([[1.0, 2.0]])
    _close(rejecting)

    # Ports already in use: the router's of the first endpoint, and a stranger's socket.
    busy = int(pred.endpoint_url.rsplit(":", 1)[1])
    with pytest.raises(ConflictError, match=f"port {busy}"):
        generic.deploy(initial_instance_count=1, instance_type="local", port=busy, endpoint_name="iris-clash")
    with socket.socket() as stranger:
        stranger.bind(("127.0.0.1", 0))
        stranger.listen()
        taken = stranger.getsockname()[1]
        with pytest.raises(ConflictError, match="already in use"):
            generic.deploy(initial_instance_count=1, instance_type="local", port=taken, endpoint_name="iris-clash")
    names = {e["EndpointName"] for e in session.client.list_endpoints()}
    assert names == {pred.endpoint_name, "iris-json"}
    with pytest.raises(ConflictError, match="already exists"):
        generic.deploy(initial_instance_count=1, instance_type="local", endpoint_name="iris-json")

    # Predictor(endpoint_name) attaches to a running endpoint by name.
    again = Predictor(pred.endpoint_name, serializer=CSVSerializer(), deserializer=CSVDeserializer())
    assert [int(r[0]) for r in again.predict(models.x)] == models.pred_a.tolist()
    attached = SKLearnPredictor(pred.endpoint_name)
    np.testing.assert_array_equal(attached.predict(models.x), models.pred_a)
    assert isinstance(SKLearnPredictor("iris-json").deserializer, NumpyDeserializer)
    _close(pred3, again, attached)

    # The CLI lists and describes them with their URLs, and shows the instances' logs.
    listed = _cli(home, "endpoints", "list")
    assert listed.returncode == 0, listed.stderr
    for p in (pred, pred2):
        assert p.endpoint_name in listed.stdout and p.endpoint_url in listed.stdout
    described = _cli(home, "endpoints", "describe", "iris-json")
    assert json.loads(described.stdout)["EndpointUrl"] == pred2.endpoint_url
    logs = _cli(home, "endpoints", "logs", pred.endpoint_name)
    assert logs.returncode == 0 and logs.stdout.count("mlyard model server (sklearn) listening on") == 2
    missing = _cli(home, "endpoints", "describe", "no-such-endpoint")
    assert missing.returncode == 1 and "no endpoint named 'no-such-endpoint'" in missing.stderr

    # Deleting through the CLI and through the predictor stops every process of the endpoint.
    desc2 = pred2.describe()
    deleted = _cli(home, "endpoints", "delete", "iris-json")
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    _assert_gone(desc2)
    _close(pred2)
    assert "iris-json" not in _cli(home, "endpoints", "list").stdout
    pred.delete_endpoint()
    _assert_gone(desc)
    assert session.client.list_endpoints() == []
    assert pred.endpoint_name not in _cli(home, "endpoints", "list").stdout
    with pytest.raises(NotFoundError):
        pred.describe()
    with pytest.raises(NotFoundError):
        session.client.request("GET", f"/v1/endpoint-configs/{desc['EndpointConfigName']}")
    # The name is free again.
    generic.deploy(initial_instance_count=1, instance_type="local", endpoint_name="iris-json").delete_endpoint()


def _two_variant_endpoint(session: Any, models: IrisModels, name: str, weights: tuple[float, float],
                          second: Path | None = None) -> None:
    client = session.client
    client.create_model({"ModelName": f"{name}-a", "PrimaryContainer": {"ModelDataUrl": f"file://{models.tar_a}"}})
    client.create_model({"ModelName": f"{name}-b",
                         "PrimaryContainer": {"ModelDataUrl": f"file://{second or models.dir_b}"}})
    client.create_endpoint_config({"EndpointConfigName": f"{name}-config", "ProductionVariants": [
        {"VariantName": "A", "ModelName": f"{name}-a", "InitialInstanceCount": 1, "InstanceType": "local",
         "InitialVariantWeight": weights[0]},
        {"VariantName": "B", "ModelName": f"{name}-b", "InitialInstanceCount": 1, "InstanceType": "local",
         "InitialVariantWeight": weights[1]}]})
    client.create_endpoint({"EndpointName": name, "EndpointConfigName": f"{name}-config"})


def test_weighted_variants_and_target_variant(session, models: IrisModels) -> None:
    _two_variant_endpoint(session, models, "ab", (3.0, 1.0))
    desc = _wait_endpoint(session, "ab")
    assert desc["EndpointStatus"] == "InService", desc.get("FailureReason")
    variants = {v["VariantName"]: v for v in desc["ProductionVariants"]}
    assert variants["A"]["CurrentWeight"] == 3.0 and variants["B"]["CurrentWeight"] == 1.0
    assert variants["A"]["CurrentInstanceCount"] == variants["B"]["CurrentInstanceCount"] == 1
    expected = {"A": models.pred_a.tolist(), "B": models.pred_b.tolist()}
    seen: Counter[str] = Counter()
    body = json.dumps(models.x.tolist())
    with httpx.Client(base_url=desc["EndpointUrl"]) as http:
        for _ in range(400):
            r = http.post("/invocations", content=body, headers={"Content-Type": "application/json"})
            variant = r.headers["x-amzn-invoked-production-variant"]
            assert r.json() == expected[variant]  # each variant answers with its own model
            seen[variant] += 1
        # 3:1 -> 300 of 400 expected for A; the bounds are about 6 standard deviations wide.
        assert seen["A"] + seen["B"] == 400 and 240 <= seen["A"] <= 360, seen
        pinned = http.post("/invocations", content=body, headers={"Content-Type": "application/json",
                                                                   "X-Amzn-SageMaker-Target-Variant": "B"})
        assert pinned.headers["x-amzn-invoked-production-variant"] == "B"
    predictor = Predictor("ab", serializer=JSONSerializer(), deserializer=JSONDeserializer())
    for _ in range(30):  # the weights say A; the header says B
        assert predictor.predict(models.x, target_variant="B") == expected["B"]
    assert predictor.predict(models.x, target_variant="A") == expected["A"]
    with pytest.raises(ValidationError, match="'C'"):
        predictor.predict(models.x, target_variant="C")
    predictor.delete_endpoint()
    _assert_gone(desc)


class _Load:
    """A thread sending requests to an endpoint back to back, recording every answer."""

    def __init__(self, url: str, body: str) -> None:
        self.url, self.body = url, body
        self.results: list[tuple[float, Any]] = []  # (time sent, parsed answer or the failure)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30.0) as http:
            while not self._stop.is_set():
                sent = time.monotonic()
                try:
                    r = http.post("/invocations", content=self.body, headers={"Content-Type": "application/json"})
                    self.results.append((sent, r.json() if r.status_code == 200 else f"{r.status_code}: {r.text}"))
                except httpx.HTTPError as exc:
                    self.results.append((sent, repr(exc)))

    def __enter__(self) -> _Load:
        self._thread.start()
        wait_for(lambda: len(self.results) >= 5)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def failures(self, expected: list[list[int]]) -> list[Any]:
        return [r for _, r in self.results if r not in expected]


def test_instance_crash_is_restarted_without_failing_requests(session, models: IrisModels) -> None:
    pred = SKLearnModel(model_data=str(models.tar_a), role="r").deploy(initial_instance_count=2,
                                                                      instance_type="local")
    before = pred.describe()["Instances"]
    victim = before[0]
    with _Load(pred.endpoint_url, json.dumps(models.x.tolist())) as load:
        os.kill(victim["pid"], signal.SIGKILL)
        killed_at = time.monotonic()

        def back() -> dict[str, Any] | None:
            inst = pred.describe()["Instances"][0]
            return inst if inst["pid"] != victim["pid"] and inst["healthy"] else None

        revived = wait_for(back, timeout=30, interval=0.2)
        assert time.monotonic() - killed_at < 30
        n = len(load.results)
        wait_for(lambda: len(load.results) > n + 20)
    assert revived["restarts"] == 1 and revived["port"] != victim["port"] and _alive(revived["pid"])
    assert not _alive(victim["pid"])
    after = pred.describe()
    assert after["Instances"][1]["pid"] == before[1]["pid"]  # the survivor was left alone
    assert after["ProductionVariants"][0]["CurrentInstanceCount"] == 2
    assert any("restarted instance AllTraffic/1" in e for e in after["Events"])
    assert any(sent > killed_at for sent, _ in load.results)
    # The router retried the requests the dead instance dropped on the other instance.
    assert load.failures([models.pred_a.tolist()]) == []
    direct = httpx.post(f"http://127.0.0.1:{revived['port']}/invocations", content=json.dumps(models.x.tolist()),
                        headers={"Content-Type": "application/json"})
    assert direct.json() == models.pred_a.tolist()
    pred.delete_endpoint()
    _assert_gone(after)


def test_rolling_update_fails_no_request(session, models: IrisModels) -> None:
    pred = SKLearnModel(model_data=str(models.tar_a), role="r").deploy(initial_instance_count=2,
                                                                      instance_type="local", endpoint_name="rolling")
    before = pred.describe()
    new_model = SKLearnModel(model_data=str(models.dir_b), role="r").create()
    old_pids = {i["pid"] for i in before["Instances"]}
    with _Load(pred.endpoint_url, json.dumps(models.x.tolist())) as load:
        pred.update_endpoint(model_name=new_model)
        # (That update_endpoint returns only once the new model serves is tested on its own, below.)
        wait_for(lambda: (d := pred.describe())["EndpointStatus"] == "InService"
                  and not {i["pid"] for i in d["Instances"]} & old_pids, timeout=60, interval=0.1)
        updated_at = time.monotonic()
        n = len(load.results)
        wait_for(lambda: len(load.results) > n + 20)
    a, b = models.pred_a.tolist(), models.pred_b.tolist()
    assert load.failures([a, b]) == []
    assert a in [r for _, r in load.results] and b in [r for _, r in load.results]
    late = [r for sent, r in load.results if sent > updated_at]
    assert late and all(r == b for r in late), Counter(json.dumps(r) for r in late)
    attached = Predictor("rolling", serializer=JSONSerializer(), deserializer=JSONDeserializer())
    assert attached.predict(models.x) == b
    _close(attached)
    after = pred.describe()
    assert after["EndpointStatus"] == "InService" and after["EndpointUrl"] == before["EndpointUrl"]
    assert after["EndpointConfigName"] != before["EndpointConfigName"]
    config = session.client.request("GET", f"/v1/endpoint-configs/{after['EndpointConfigName']}")
    assert config["ProductionVariants"][0]["ModelName"] == new_model
    assert {i["pid"] for i in after["Instances"]}.isdisjoint({i["pid"] for i in before["Instances"]})
    assert len(after["Instances"]) == 2 and all(i["healthy"] for i in after["Instances"])
    wait_for(lambda: not any(_alive(i["pid"]) for i in before["Instances"]), timeout=15)
    assert "Updated to the new configuration" in after["Events"]
    pred.delete_endpoint()
    _assert_gone(after)


def test_data_capture_records_every_request(session, tmp_path: Path, models: IrisModels) -> None:
    dest = tmp_path / "capture"
    pred = SKLearnModel(model_data=str(models.tar_a), role="r").deploy(
        initial_instance_count=1, instance_type="local", endpoint_name="captured",
        serializer=JSONSerializer(), deserializer=JSONDeserializer(),
        data_capture_config=DataCaptureConfig(enable_capture=True, sampling_percentage=100,
                                              destination_s3_uri=f"file://{dest}"))
    desc = pred.describe()
    assert desc["DataCaptureConfig"]["DestinationS3Uri"] == f"file://{dest}"
    n = 7
    for i in range(n):
        rows = models.x[i: i + 2]
        inference_id = f"inference-{i}" if i % 2 else None
        assert pred.predict(rows, inference_id=inference_id) == models.pred_a[i: i + 2].tolist()
    pred.delete_endpoint()
    _assert_gone(desc)
    files = sorted(dest.rglob("*.jsonl"))
    assert files and all(f.relative_to(dest).parts[:2] == ("captured", "AllTraffic") for f in files)
    assert all(len(f.relative_to(dest).parts) == 7 for f in files)  # endpoint/variant/yyyy/mm/dd/hh/file
    records = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    assert len(records) == n
    records.sort(key=lambda r: r["eventMetadata"]["inferenceTime"])
    for i, rec in enumerate(records):
        inp, out = rec["captureData"]["endpointInput"], rec["captureData"]["endpointOutput"]
        assert inp["observedContentType"] == "application/json" and inp["mode"] == "INPUT"
        assert json.loads(inp["data"]) == models.x[i: i + 2].tolist()
        assert out["mode"] == "OUTPUT" and json.loads(out["data"]) == models.pred_a[i: i + 2].tolist()
        assert rec["eventMetadata"]["eventId"]
        if i % 2:
            assert rec["eventMetadata"]["inferenceId"] == f"inference-{i}"
        else:
            assert "inferenceId" not in rec["eventMetadata"]
    assert len({r["eventMetadata"]["eventId"] for r in records}) == n


def test_endpoint_survives_a_control_plane_restart(session, home: Path, models: IrisModels) -> None:
    pred = SKLearnModel(model_data=str(models.tar_a), role="r").deploy(initial_instance_count=1,
                                                                      instance_type="local")
    before = pred.describe()
    old_server = json.loads((home / "server.json").read_text())["pid"]
    stop_local_server(home, tree=False)  # SIGKILL the control plane alone
    assert _alive(before["Instances"][0]["pid"])
    np.testing.assert_array_equal(pred.predict(models.x), models.pred_a)  # served without a control plane
    after = pred.describe()  # a new control plane starts and finds the endpoint running
    assert json.loads((home / "server.json").read_text())["pid"] != old_server
    assert after["EndpointStatus"] == "InService"
    assert after["EndpointUrl"] == before["EndpointUrl"] and after["Instances"] == before["Instances"]
    assert any(e["EndpointName"] == pred.endpoint_name for e in session.client.list_endpoints())
    attached = Predictor(pred.endpoint_name, serializer=NumpySerializer(), deserializer=NumpyDeserializer())
    np.testing.assert_array_equal(attached.predict(models.x), models.pred_a)
    _close(attached)
    pred.delete_endpoint()  # the new control plane stops the runner it did not start
    _assert_gone(after)


def test_model_with_nothing_loadable_fails_the_endpoint(session, models: IrisModels) -> None:
    model = SKLearnModel(model_data=str(models.broken), role="r")
    with pytest.raises(MlyardError, match="Failed") as raised:
        model.deploy(initial_instance_count=1, instance_type="local", endpoint_name="broken")
    desc = Predictor("broken").describe()
    assert desc["EndpointStatus"] == "Failed"
    reason = " ".join(desc["FailureReason"].split())
    assert "no loadable model" in reason and "notes.txt" in reason
    assert "model.joblib" in reason and "saved_model.pb" in reason
    assert "no loadable model" in " ".join(str(raised.value).split())
    with pytest.raises(MlyardError, match="Failed"):
        _ = Predictor("broken").endpoint_url
    _assert_gone(desc)
    Predictor("broken").delete_endpoint()
    assert session.client.list_endpoints() == []


def test_failed_start_leaves_no_instance_running(session, models: IrisModels) -> None:
    _two_variant_endpoint(session, models, "half", (1.0, 1.0), second=models.broken)
    desc = _wait_endpoint(session, "half")
    assert desc["EndpointStatus"] == "Failed" and "no loadable model" in desc["FailureReason"]
    time.sleep(1.0)
    assert procs_under(Path(desc["EndpointDirectory"])) == []


@pytest.mark.slow
def test_tensorflow_savedmodel_endpoint(session, tmp_path: Path) -> None:
    tf = pytest.importorskip("tensorflow")
    from mlyard.tensorflow import TensorFlowModel, TensorFlowPredictor

    class Linear(tf.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            self.w = tf.Variable([[1.0], [2.0], [3.0], [4.0]])

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
        def __call__(self, x):  # type: ignore[no-untyped-def]
            return {"y": tf.matmul(x, self.w)}

    m = Linear()
    tf.saved_model.save(m, str(tmp_path / "tf-model" / "1"), signatures={"serving_default": m.__call__})
    pred = TensorFlowModel(model_data=str(tmp_path / "tf-model"), role="r", framework_version="2.16").deploy(
        initial_instance_count=1, instance_type="local")
    assert isinstance(pred, TensorFlowPredictor)
    x = np.arange(12, dtype="float32").reshape(3, 4)
    out = pred.predict(x)
    np.testing.assert_allclose(out["predictions"], x @ np.array([[1.0], [2.0], [3.0], [4.0]]))
    desc = pred.describe()
    pred.delete_endpoint()
    _assert_gone(desc)


def test_update_endpoint_returns_after_the_update(session, models: IrisModels) -> None:
    pred = SKLearnModel(model_data=str(models.tar_a), role="r").deploy(
        initial_instance_count=1, instance_type="local", serializer=JSONSerializer(), deserializer=JSONDeserializer())
    desc = pred.describe()
    new_model = SKLearnModel(model_data=str(models.dir_b), role="r").create()
    runner = psutil.Process(json.loads((Path(desc["EndpointDirectory"]) / "state.json").read_text())["runner_pid"])
    # A runner slow to get to the signal (a loaded machine): it is paused for half a second.
    runner.suspend()
    resume = threading.Timer(0.5, runner.resume)
    resume.start()
    try:
        pred.update_endpoint(model_name=new_model)
        assert pred.predict(models.x) == models.pred_b.tolist()
    finally:
        resume.join()
        _close(pred)


def test_update_to_a_broken_model_keeps_the_old_one_serving(session, models: IrisModels) -> None:
    pred = SKLearnModel(model_data=str(models.tar_a), role="r").deploy(
        initial_instance_count=1, instance_type="local", serializer=JSONSerializer(), deserializer=JSONDeserializer())
    before = pred.describe()
    broken = SKLearnModel(model_data=str(models.broken), role="r").create()
    with _Load(pred.endpoint_url, json.dumps(models.x.tolist())) as load:
        with pytest.raises(MlyardError, match="updating endpoint .* failed; the previous configuration keeps"):
            pred.update_endpoint(model_name=broken)
        failed = pred.describe()
    assert failed["EndpointStatus"] == "InService"
    assert failed["EndpointConfigName"] == before["EndpointConfigName"]
    assert "update failed" in failed["FailureReason"] and "no loadable model" in failed["FailureReason"]
    assert failed["Instances"] == before["Instances"]
    assert load.failures([models.pred_a.tolist()]) == []
    assert pred.predict(models.x) == models.pred_a.tolist()
    # A good update afterwards goes through and clears the failure.
    pred.update_endpoint(model_name=SKLearnModel(model_data=str(models.dir_b), role="r").create())
    wait_for(lambda: pred.predict(models.x) == models.pred_b.tolist(), timeout=30)
    assert "FailureReason" not in pred.describe()
    desc = pred.describe()
    pred.delete_endpoint()
    _assert_gone(desc)


def test_dead_runner_fails_the_endpoint_and_delete_stops_its_instances(session, models: IrisModels) -> None:
    pred = SKLearnModel(model_data=str(models.tar_a), role="r").deploy(initial_instance_count=1,
                                                                      instance_type="local")
    desc = pred.describe()
    runner = json.loads((Path(desc["EndpointDirectory"]) / "state.json").read_text())["runner_pid"]
    os.kill(runner, signal.SIGKILL)
    failed = wait_for(lambda: (d := pred.describe())["EndpointStatus"] == "Failed" and d, timeout=15)
    assert "runner process ended" in failed["FailureReason"]
    pred.delete_endpoint()
    assert session.client.list_endpoints() == []
    _assert_gone(desc, timeout=5)


def test_inference_code_does_not_see_the_control_planes_settings(home: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                models: IrisModels) -> None:
    import mlyard

    monkeypatch.setenv("MLYARD_DATABASE_URL", f"sqlite:///{home / 'catalog-elsewhere.db'}")
    src = tmp_path / "code"
    src.mkdir()
    (src / "inference.py").write_text(
        "import os\n"
        "def predict_fn(data, model):\n"
        "    return [[k in os.environ for k in ('MLYARD_DATABASE_URL', 'MLYARD_TOKEN', 'MLYARD_URL')]]\n")
    model = SKLearnModel(model_data=str(models.tar_a), role="r", entry_point="inference.py", source_dir=str(src),
                         sagemaker_session=mlyard.Session())
    pred = model.deploy(initial_instance_count=1, instance_type="local", serializer=JSONSerializer(),
                        deserializer=JSONDeserializer())
    try:
        assert pred.predict(models.x[:1].tolist()) == [[False, False, False]]
    finally:
        pred.delete_endpoint()


def _deploy_with(monkeypatch: pytest.MonkeyPatch, models: IrisModels, **env: str) -> SKLearnPredictor:
    import mlyard

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    session = mlyard.Session()  # the local server starts now, with these settings
    pred = SKLearnModel(model_data=str(models.tar_a), role="r", framework_version="1.5",
                        sagemaker_session=session).deploy(initial_instance_count=1, instance_type="local")
    assert isinstance(pred, SKLearnPredictor)
    return pred


def test_endpoint_token_is_required_when_asked_for(home: Path, models: IrisModels,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    pred = _deploy_with(monkeypatch, models, MLYARD_ENDPOINT_AUTH="token")
    np.testing.assert_array_equal(pred.predict(models.x), models.pred_a)  # the Predictor sends the token
    desc = pred.describe()
    token, url = desc["EndpointToken"], desc["EndpointUrl"]
    body, headers = _csv(models.x), {"Content-Type": "text/csv", "Accept": "application/json"}
    for auth in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": token}):
        for method, path in (("POST", "/invocations"), ("GET", "/v1/models/model"), ("GET", "/v2/models/model"),
                             ("GET", "/execution-parameters")):
            r = httpx.request(method, url + path, content=body if method == "POST" else None,
                              headers={**headers, **auth})
            assert r.status_code == 401, (auth, path, r.text)
            assert r.json()["error"] == "Unauthorized" and "Bearer" in r.json()["message"]
            assert r.headers["www-authenticate"].startswith("Bearer")
    assert httpx.get(url + "/ping").status_code == 200  # health stays open
    ok = httpx.post(url + "/invocations", content=body, headers={**headers, "Authorization": f"Bearer {token}"})
    assert ok.status_code == 200 and json.loads(ok.text) == models.pred_a.tolist()
    # The instance behind it wants a token of its own, which only the endpoint's router knows.
    port = desc["Instances"][0]["port"]
    for auth in ({}, {"Authorization": f"Bearer {token}"}):
        r = httpx.post(f"http://127.0.0.1:{port}/invocations", content=body, headers={**headers, **auth})
        assert r.status_code == 401 and r.json()["error"] == "Unauthorized"
    # Listing endpoints does not show tokens; a new predictor finds it through the control plane.
    listed = pred.sagemaker_session.client.request("GET", "/v1/endpoints")
    assert listed and all("EndpointToken" not in e for e in listed)
    other = SKLearnPredictor(pred.endpoint_name, sagemaker_session=pred.sagemaker_session)
    np.testing.assert_array_equal(other.predict(models.x), models.pred_a)
    _close(pred, other)
    pred.delete_endpoint()


def test_endpoints_stay_open_on_loopback_without_the_setting(home: Path, models: IrisModels,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLYARD_ENDPOINT_AUTH", raising=False)
    monkeypatch.delenv("MLYARD_ENDPOINT_HOST", raising=False)
    pred = _deploy_with(monkeypatch, models)
    desc = pred.describe()
    assert "EndpointToken" not in desc and desc["EndpointUrl"].startswith("http://127.0.0.1:")
    r = httpx.post(desc["EndpointUrl"] + "/invocations", content=_csv(models.x), headers={"Content-Type": "text/csv"})
    assert r.status_code == 200
    _close(pred)
    pred.delete_endpoint()


def test_an_endpoint_off_loopback_requires_a_token_by_default(home: Path, models: IrisModels,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="MLYARD_ENDPOINT_AUTH"):
        _deploy_with(monkeypatch, models, MLYARD_ENDPOINT_AUTH="maybe")
    stop_local_server(home)
    monkeypatch.delenv("MLYARD_ENDPOINT_AUTH")
    import mlyard.client as client_mod

    for c in client_mod._clients.values():
        c.close()
    client_mod._clients.clear()
    pred = _deploy_with(monkeypatch, models, MLYARD_ENDPOINT_HOST="0.0.0.0")
    desc = pred.describe()
    assert desc["EndpointToken"]
    port = desc["EndpointUrl"].rsplit(":", 1)[1]
    r = httpx.post(f"http://127.0.0.1:{port}/invocations", content=_csv(models.x),
                   headers={"Content-Type": "text/csv"})
    assert r.status_code == 401 and r.json()["error"] == "Unauthorized"
    np.testing.assert_array_equal(pred.predict(models.x), models.pred_a)
    _close(pred)
    pred.delete_endpoint()


# -- the router (serving/proxy.py) -----------------------------------------------------------------


def _raw(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=30)


def _read_response(sock: socket.socket, buffer: bytearray) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length from ``sock`` (``buffer`` keeps what follows it)."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {bytes(buffer)!r}")
        buffer += chunk
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed in the body")
        rest += chunk
    buffer[:] = rest[length:]
    return int(lines[0].split()[1]), headers, rest[:length]


def _post(path: str, body: bytes, extra: str = "") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nAccept: application/json\r\n{extra}"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def _socket_inodes(pid: int) -> set[str]:
    """The sockets a process holds open (Linux): a new connection is a new inode."""
    out = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:"):
            out.add(target)
    return out


def test_router_speaks_http_11(session, models: IrisModels) -> None:
    pred = SKLearnModel(model_data=str(models.tar_a), role="r").deploy(initial_instance_count=1,
                                                                      instance_type="local")
    desc = pred.describe()
    url, inst = desc["EndpointUrl"], desc["Instances"][0]
    rows = [_csv(models.x[i: i + 1]).encode() for i in range(len(models.x))]
    expected = [[int(v)] for v in models.pred_a]
    # Keep-alive: one client connection carries many requests, and the router reuses its
    # connections to the instance instead of opening one per request.
    with _raw(url) as sock:
        buffer = bytearray()
        for i in range(5):
            sock.sendall(_post("/invocations", rows[i]))
            status, headers, body = _read_response(sock, buffer)
            assert (status, json.loads(body)) == (200, expected[i])
            assert headers["x-amzn-invoked-production-variant"] == "AllTraffic"
        before = _socket_inodes(inst["pid"])
        for i in range(60):
            sock.sendall(_post("/invocations", rows[i % len(rows)]))
            assert json.loads(_read_response(sock, buffer)[2]) == expected[i % len(rows)]
        assert _socket_inodes(inst["pid"]) == before
        # Pipelined requests (all sent at once) are answered in order.
        sock.sendall(b"".join(_post("/invocations", rows[i]) for i in range(len(rows))))
        assert [json.loads(_read_response(sock, buffer)[2]) for _ in rows] == expected
        # Expect: 100-continue: the router asks for the body, then answers.
        sock.sendall(_post("/invocations", b"", "Expect: 100-continue\r\n").replace(b"Length: 0",
                                                                                    b"Length: %d" % len(rows[3])))
        assert _read_response(sock, buffer)[0] == 100
        sock.sendall(rows[3])
        assert json.loads(_read_response(sock, buffer)[2]) == expected[3]
        # HTTP/1.0 without keep-alive: answered, then closed.
        sock.sendall(_post("/invocations", rows[0]).replace(b"HTTP/1.1", b"HTTP/1.0"))
        status, headers, body = _read_response(sock, buffer)
        assert status == 200 and headers["connection"] == "close" and sock.recv(10) == b""
    # An offer to upgrade (curl --http2 sends one): answered over HTTP/1.1; with a body, refused.
    upgrade = "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n"
    with _raw(url) as sock:
        sock.sendall(f"GET /v2/models/model/ready HTTP/1.1\r\nHost: x\r\n{upgrade}\r\n".encode())
        status, _, body = _read_response(sock, bytearray())
        assert (status, json.loads(body)) == (200, {"name": "model", "ready": True})
    with _raw(url) as sock:
        sock.sendall(_post("/invocations", rows[1], upgrade))
        status, _, body = _read_response(sock, bytearray())
        assert status == 400 and json.loads(body)["error"] == "BadRequest"

    with httpx.Client(base_url=url, timeout=60) as http:
        # A chunked request body.
        chunks = [_csv(models.x[i: i + 2]).encode() for i in range(0, len(models.x), 2)]
        r = http.post("/invocations", content=iter(chunks), headers={"Content-Type": "text/csv"})
        assert r.status_code == 200 and r.json() == models.pred_a.tolist()
        # A large body (~2.4 MB) and a large answer (passed on as it comes).
        big = np.tile(models.x, (16000, 1))
        r = http.post("/invocations", content=_csv(big), headers={"Content-Type": "text/csv"})
        assert r.status_code == 200 and int(r.headers["content-length"]) > 300_000
        assert r.json() == np.tile(models.pred_a, 16000).tolist()
        # Over the payload limit: 413 with a JSON body, before the body is sent through.
        for content in (b"1" * (7 << 20), iter([b"1" * (1 << 20)] * 7)):  # with a length, and chunked
            r = http.post("/invocations", content=content, headers={"Content-Type": "text/csv"})
            assert r.status_code == 413 and r.json()["error"] == "PayloadTooLarge"
        # The model's own errors pass through with its status and body.
        r = http.post("/invocations", content=b"1,2\n", headers={"Content-Type": "text/csv"})
        assert r.status_code == 400 and r.json()["error"] == "ModelError"
        r = http.post("/invocations", content=b"{", headers={"Content-Type": "application/x-nope"})
        assert r.status_code == 415 and r.json()["error"] == "UnsupportedMediaType"
        # Other model-server routes go through too; the router answers /ping (HEAD as well).
        assert http.get("/v2/models/model/ready").json() == {"name": "model", "ready": True}
        assert http.get("/v2/models/nope").status_code == 404
        assert http.head("/ping").status_code == 200
        r = http.request("PATCH", "/invocations")
        assert r.status_code == 405 and r.json()["error"] == "MethodNotAllowed"
        r = http.post("/invocations", content=b"1,2,3,4", headers={"X-Amzn-SageMaker-Target-Variant": "nope"})
        assert r.status_code == 400 and r.json()["error"] == "ValidationException" and "'nope'" in r.json()["message"]
    # Not HTTP at all, and headers too large: a JSON 4xx, then the connection is closed.
    for garbage, status in ((b"HELLO\r\n\r\n", 400), (_post("/invocations", b"", "X-Big: " + "a" * 70000 + "\r\n"),
                                                       431)):
        with _raw(url) as sock:
            sock.sendall(garbage)
            got, _, body = _read_response(sock, bytearray())
            assert got == status and json.loads(body)["error"]
    assert pred.predict(models.x).tolist() == models.pred_a.tolist()  # none of that hurt it
    _close(pred)
    pred.delete_endpoint()
    _assert_gone(desc)


def test_router_forwards_the_headers_the_model_reads(session, tmp_path: Path, models: IrisModels) -> None:
    src = tmp_path / "code"
    src.mkdir()
    (src / "inference.py").write_text(
        "import json\n"
        "def transform_fn(model, data, content_type, accept):\n"
        "    return json.dumps({'content_type': content_type, 'accept': accept, 'body': data}), 'application/json'\n")
    pred = SKLearnModel(model_data=str(models.tar_a), role="r", entry_point="inference.py",
                        source_dir=str(src)).deploy(initial_instance_count=1, instance_type="local")
    url = pred.describe()["EndpointUrl"]
    r = httpx.post(f"{url}/invocations?ignored=1", content=b"1,2,3,4",
                   headers={"Content-Type": "text/csv; charset=utf-8", "Accept": "application/json",
                            "Authorization": "Bearer not-for-the-model"})
    assert r.status_code == 200, r.text
    assert r.json() == {"content_type": "text/csv", "accept": "application/json", "body": "1,2,3,4"}
    assert r.headers["content-type"] == "application/json"
    pred.delete_endpoint()


def test_router_timeout_and_no_healthy_instance(home: Path, tmp_path: Path, models: IrisModels,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import mlyard

    monkeypatch.setenv("MLYARD_ENDPOINT_TIMEOUT", "2")
    src = tmp_path / "code"
    src.mkdir()
    (src / "inference.py").write_text(
        "import time\n"
        "def transform_fn(model, data, content_type, accept):\n"
        "    time.sleep(float(data))\n"
        "    return data, 'text/plain'\n")
    pred = SKLearnModel(model_data=str(models.tar_a), role="r", entry_point="inference.py", source_dir=str(src),
                        sagemaker_session=mlyard.Session()).deploy(initial_instance_count=1, instance_type="local")
    desc = pred.describe()
    url = desc["EndpointUrl"]
    with httpx.Client(base_url=url, timeout=30) as http:
        assert http.post("/invocations", content=b"0", headers={"Content-Type": "text/plain"}).text == "0"
        r = http.post("/invocations", content=b"5", headers={"Content-Type": "text/plain"})
        assert r.status_code == 424 and r.json()["error"] == "ModelError" and "did not answer" in r.json()["message"]
        # An instance that stops answering its health checks is taken out: 503 with a JSON body.
        proc = psutil.Process(desc["Instances"][0]["pid"])
        proc.suspend()
        try:
            wait_for(lambda: http.get("/ping").status_code == 503, timeout=20)
            r = http.post("/invocations", content=b"0", headers={"Content-Type": "text/plain"})
            assert r.status_code == 503 and r.json()["error"] == "ServiceUnavailable"
        finally:
            proc.resume()
        wait_for(lambda: http.get("/ping").status_code == 200, timeout=20)
        assert http.post("/invocations", content=b"0", headers={"Content-Type": "text/plain"}).text == "0"
    _close(pred)
    pred.delete_endpoint()
    _assert_gone(desc)


def test_instance_killed_under_concurrent_load_fails_no_request(session, models: IrisModels) -> None:
    pred = SKLearnModel(model_data=str(models.tar_a), role="r").deploy(initial_instance_count=2,
                                                                      instance_type="local")
    desc = pred.describe()
    body = json.dumps(models.x.tolist())
    loads = [_Load(pred.endpoint_url, body) for _ in range(6)]
    for load in loads:
        load.__enter__()
    try:
        os.kill(desc["Instances"][1]["pid"], signal.SIGKILL)
        killed_at = time.monotonic()
        wait_for(lambda: (i := pred.describe()["Instances"][1])["healthy"] and i["pid"] != desc["Instances"][1]["pid"],
                 timeout=30, interval=0.2)
        n = sum(len(load.results) for load in loads)
        # Every client goes on after the kill (none waits on a request the dead instance held).
        wait_for(lambda: sum(len(load.results) for load in loads) > n + 100
                 and all(any(sent > killed_at for sent, _ in load.results) for load in loads), timeout=45)
    finally:
        for load in loads:
            load.__exit__()
    assert [f for load in loads for f in load.failures([models.pred_a.tolist()])] == []
    pred.delete_endpoint()
    _assert_gone(desc)


def test_data_capture_samples_requests(session, tmp_path: Path, models: IrisModels) -> None:
    dest = tmp_path / "capture"
    pred = SKLearnModel(model_data=str(models.tar_a), role="r").deploy(
        initial_instance_count=1, instance_type="local", endpoint_name="sampled",
        data_capture_config=DataCaptureConfig(enable_capture=True, sampling_percentage=50,
                                              destination_s3_uri=f"file://{dest}"))
    desc = pred.describe()
    with httpx.Client(base_url=desc["EndpointUrl"]) as http:
        for i in range(200):
            r = http.post("/invocations", content=_csv(models.x[i % 10: i % 10 + 1]),
                          headers={"Content-Type": "text/csv", "X-Amzn-SageMaker-Inference-Id": f"id-{i}"})
            assert r.json() == [int(models.pred_a[i % 10])]
    _close(pred)
    pred.delete_endpoint()
    _assert_gone(desc)
    records = [json.loads(line) for f in dest.rglob("*.jsonl") for line in f.read_text().splitlines()]
    assert 50 <= len(records) <= 150, len(records)  # about 100; the bounds are 7 standard deviations wide
    for rec in records:  # each one a request and its own answer
        i = int(rec["eventMetadata"]["inferenceId"].removeprefix("id-"))
        assert rec["captureData"]["endpointInput"]["data"] == _csv(models.x[i % 10: i % 10 + 1])
        assert json.loads(rec["captureData"]["endpointOutput"]["data"]) == [int(models.pred_a[i % 10])]
