"""What only the Ray executor does, on the real cluster of conftest's ``cluster`` fixture (a head
that runs no jobs, two workers of 1 CPU): placement, release, re-attaching, node loss, capacity.
The job contract on Ray (layout, environment, stop, multi-host, ...) is in test_job_contract.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest
from conftest import RAY_INSTALL_HINT, RAY_NODE, ray_held, stop_local_server, wait_for, write_script

ray = pytest.importorskip("ray", reason=RAY_INSTALL_HINT)

from ray.util.placement_group import placement_group_table  # noqa: E402

import mlyard  # noqa: E402
from mlyard.compute.ray import RayExecutor  # noqa: E402
from mlyard.errors import MlyardWarning  # noqa: E402
from mlyard.estimator import Estimator  # noqa: E402


def _worker_nodes() -> dict[str, str]:
    """node id -> node-a / node-b."""
    return {n["NodeID"]: r for n in ray.nodes() if n["Alive"] for r in ("node-a", "node-b") if r in n["Resources"]}


def _health(session: Any) -> dict[str, Any]:
    executor: dict[str, Any] = session.client.health()["executor"]
    return executor


def _steps(tmp_path: Path, steps: int, pause: float) -> Path:
    return write_script(tmp_path, "train.py", f"""
        import time
        for i in range({steps}):
            print(f"step {{i}} loss: {{1 / (i + 1):.4f}}", flush=True)
            time.sleep({pause})
    """)


def _estimator(script: Path, session: Any, **kw: Any) -> Estimator:
    return Estimator(entry_point=str(script), role="r", instance_type="local", sagemaker_session=session,
                     metric_definitions=[{"Name": "loss", "Regex": "loss: ([0-9.]+)"}], **kw)


def _training(job: Any) -> bool:
    """The job's entry point runs (read through the API)."""
    return bool(job.describe()["SecondaryStatus"] == "Training")


def test_a_training_job_runs_on_a_worker_node(ray_session: Any, tmp_path: Path, home: Path) -> None:
    executor = _health(ray_session)
    assert executor["name"] == "ray" and executor["cpus"] == 2 and executor["nodes"] == 3
    est = _estimator(_steps(tmp_path, 5, 0.05), ray_session)
    est.fit(logs=False)
    desc = est.latest_training_job.describe()
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    [place] = desc["MlyardPlacement"]
    assert place["Host"] == "algo-1" and place["Node"] in _worker_nodes()
    assert place["NodeAddress"] == {n["NodeID"]: n["NodeManagerAddress"] for n in ray.nodes()}[place["Node"]]
    assert len(est.training_job_analytics.dataframe()) == 5
    logs = b"".join(ray_session.client.job_logs(est.latest_training_job.name)).decode()
    assert "step 4 loss: 0.2000" in logs
    # Its placement group and runner were let go of.
    wait_for(lambda: not ray_held(est.latest_training_job.name), timeout=60)
    wait_for(lambda: all(pg["state"] == "REMOVED" for pg in placement_group_table().values()
                         if pg["name"].startswith("mlyard-job-")), timeout=60)


def test_a_job_is_started_by_the_launcher_its_node_had_before(ray_session: Any, tmp_path: Path, home: Path) -> None:
    """Every node has a launcher once the server runs: a job's runner and host agent are forked by
    its fork server, not Ray workers of their own (a worker takes more than half a second to start)
    nor new Pythons (0.2 s of CPU)."""
    _health(ray_session)
    names = {RayExecutor.launcher_name(n) for n in _worker_nodes()}
    wait_for(lambda: names <= set(ray.util.list_named_actors()), timeout=60)
    launchers = {ray.get(ray.get_actor(n).pid.remote(), timeout=60) for n in names}
    est = _estimator(_steps(tmp_path, 30, 0.1), ray_session, instance_count=2)
    est.fit(wait=False)
    job = est.latest_training_job
    wait_for(lambda: _training(job), timeout=60)
    runner = psutil.Process(json.loads((home / "jobs" / job.name / "state.json").read_text())["runner_pid"])
    agents = [p for p in psutil.process_iter(["cmdline"]) if "--fork-server" in (p.info["cmdline"] or [])
              and any(f"{job.name}-algo-2" in f.path for f in p.open_files())]  # its output: its runner.log
    assert len(agents) == 1
    fork_servers = {psutil.Process(runner.ppid()), psutil.Process(agents[0].ppid())}
    assert all("--fork-server" in p.cmdline() for p in fork_servers)
    assert {p.ppid() for p in fork_servers} == launchers  # one on each node
    assert job.wait(logs=False)["TrainingJobStatus"] == "Completed"


def test_a_gpu_host_sees_the_gpu_ray_gave_it_and_waits_while_there_is_none(
        ray_session: Any, cluster: Any, tmp_path: Path) -> None:
    script = write_script(tmp_path, "gpu.py", "import os\nprint('cuda=' + os.environ['CUDA_VISIBLE_DEVICES'])\n")
    est = Estimator(entry_point=str(script), role="r", instance_type="local_gpu", sagemaker_session=ray_session)
    with pytest.warns(MlyardWarning, match="needs a GPU and the cluster has none now: the job waits"):
        est.fit(wait=False)
    job = est.latest_training_job
    time.sleep(2)
    desc = job.describe()
    assert (desc["TrainingJobStatus"], desc["SecondaryStatus"]) == ("InProgress", "Pending")
    assert "waits until a node with a GPU joins" in desc["SecondaryStatusTransitions"][-1]["StatusMessage"]
    # A node with 2 GPUs joins; something else holds one of them. The job gets the other.
    gpu_node = cluster.add_node(num_gpus=2, resources={"node-g": 1}, **RAY_NODE)
    try:

        class Holder:  # defined here, so Ray sends it by value to workers that cannot import the tests
            def ids(self) -> list[int]:
                return [int(g) for g in ray.get_gpu_ids()]

        holder = ray.remote(num_cpus=0, num_gpus=1)(Holder).remote()
        [held] = ray.get(holder.ids.remote(), timeout=60)
        desc = job.wait(logs=False)
        assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
        assert desc["MlyardPlacement"][0]["Node"] == gpu_node.node_id
        logs = b"".join(ray_session.client.job_logs(job.name)).decode()
        assert f"cuda={1 - held}" in logs, logs
        ray.kill(holder)
    finally:
        cluster.remove_node(gpu_node)


def test_the_server_kills_a_runner_on_a_worker_node_that_does_not_stop(ray_session: Any, tmp_path: Path,
                                                                        home: Path) -> None:
    est = _estimator(write_script(tmp_path, "long.py", "import time\ntime.sleep(120)\n"), ray_session)
    est.fit(wait=False)
    job = est.latest_training_job
    wait_for(lambda: _training(job), timeout=60)
    runner = psutil.Process(json.loads((home / "jobs" / job.name / "state.json").read_text())["runner_pid"])
    hosts = runner.children(recursive=True)
    assert hosts
    runner.suspend()  # a runner that hangs: it never acts on the stop, so its launcher must kill it
    job.stop()
    desc = wait_for(lambda: (d := job.describe())["TrainingJobStatus"] != "Stopping" and d, timeout=60)
    assert desc["TrainingJobStatus"] == "Stopped"
    events = [t["StatusMessage"] for t in desc["SecondaryStatusTransitions"]]
    assert "The job did not stop within its grace period and was killed" in events, events
    assert not [p for p in [runner, *hosts] if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def test_a_job_of_two_hosts_runs_one_host_on_each_node(ray_session: Any, tmp_path: Path, home: Path) -> None:
    """algo-2's bundle is on the other node: it runs there through a host agent, and the two hosts
    meet at the addresses the executor placed them at."""
    est = _estimator(_steps(tmp_path, 30, 0.1), ray_session, instance_count=2)
    est.fit(wait=False)
    job = est.latest_training_job
    wait_for(lambda: _training(job), timeout=60)
    [group] = [pg for pg in placement_group_table().values() if pg["name"] == f"mlyard-job-{job.name}"]
    assert group["strategy"] == "SPREAD" and len(group["bundles"]) == 2
    assert set(group["bundles_to_node_id"].values()) == set(_worker_nodes())
    desc = job.wait(logs=False)
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    placed = desc["MlyardPlacement"]
    assert [p["Host"] for p in placed] == ["algo-1", "algo-2"]
    assert {p["Node"] for p in placed} == set(_worker_nodes())  # one host on each node
    assert [p["RunBy"] for p in placed] == ["runner", "host agent"]
    assert len(est.training_job_analytics.dataframe()) == 60  # both hosts' metrics
    logs = b"".join(ray_session.client.job_logs(job.name)).decode()
    assert "algo-2 | step 29 loss" in logs and "algo-1 | step 29 loss" in logs
    # Released once the job ended: the runner, the agent and the group.
    wait_for(lambda: not ray_held(job.name), timeout=60)
    wait_for(lambda: all(pg["state"] == "REMOVED" for pg in placement_group_table().values()
                         if pg["name"] == f"mlyard-job-{job.name}"), timeout=60)


def test_a_restarted_server_reattaches_to_its_ray_jobs(ray_session: Any, tmp_path: Path, home: Path) -> None:
    est = _estimator(_steps(tmp_path, 40, 0.2), ray_session)
    est.fit(wait=False)
    job = est.latest_training_job
    wait_for(lambda: _training(job), timeout=60)
    state = home / "jobs" / job.name / "state.json"
    runner = json.loads(state.read_text())["runner_pid"]
    old_url = ray_session.client.url
    stop_local_server(home, tree=False)  # SIGKILL the server alone
    desc = job.wait(logs=False)  # the next call starts a new server, which finds the runner again
    assert ray_session.client.url != old_url
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    assert json.loads(state.read_text())["runner_pid"] == runner  # not run twice
    assert len(est.training_job_analytics.dataframe()) == 40
    starts = [t for t in desc["SecondaryStatusTransitions"] if t["Status"] == "Starting"]
    assert len(starts) == 1


def test_a_job_that_ends_while_no_server_watches_leaves_nothing_on_the_cluster(
        ray_session: Any, tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLYARD_RAY_LINGER_SECONDS", "1")
    est = _estimator(_steps(tmp_path, 10, 0.2), ray_session)
    est.fit(wait=False)
    job = est.latest_training_job
    wait_for(lambda: _training(job), timeout=60)
    group = f"mlyard-job-{job.name}"
    assert [pg["state"] for pg in placement_group_table().values() if pg["name"] == group] == ["CREATED"]
    stop_local_server(home, tree=False)  # no server to release the job's group and runner
    wait_for(lambda: all(pg["state"] == "REMOVED" for pg in placement_group_table().values() if pg["name"] == group),
             timeout=60)
    wait_for(lambda: not ray_held(job.name), timeout=30)
    assert job.describe()["TrainingJobStatus"] == "Completed"  # a new server reads how it ended


def _hold_worker_cpus() -> list[Any]:
    """Actors that take both worker nodes' CPUs (``ray.kill`` them to give them back)."""

    class Blocker:  # defined here, so Ray sends it by value to workers that cannot import the tests
        def ping(self) -> int:
            return 1

    blocker = ray.remote(num_cpus=1)(Blocker)
    held = [blocker.options(resources={n: 0.01}).remote() for n in ("node-a", "node-b")]
    ray.get([h.ping.remote() for h in held])
    return held


def test_a_host_larger_than_any_node_is_scaled_down_and_one_without_room_now_waits(
        ray_session: Any, tmp_path: Path, home: Path) -> None:
    # 2 CPUs and 8 GiB per host: the cluster has the CPUs, no node has either.
    big = Estimator(entry_point=str(_steps(tmp_path, 1, 0)), role="r", instance_type="ml.m5.large",
                    sagemaker_session=ray_session)
    with pytest.warns(MlyardWarning, match=r"at most 1 CPU.* on one node: running scaled down to 1 CPU"):
        big.fit(wait=False)
    assert big.latest_training_job.wait(logs=False)["TrainingJobStatus"] == "Completed"
    # Both CPUs taken by someone else: the job waits, saying why, and runs once one is free.
    held = _hold_worker_cpus()
    est = _estimator(_steps(tmp_path, 2, 0), ray_session)
    est.fit(wait=False)
    job = est.latest_training_job
    waiting = wait_for(lambda: [t for t in job.describe()["SecondaryStatusTransitions"]
                                if "no room" in (t["StatusMessage"] or "")], timeout=60)
    assert waiting[0]["Status"] == "Pending"
    for h in held:
        ray.kill(h)
    assert job.wait(logs=False)["TrainingJobStatus"] == "Completed"


def _lose_a_node(session: Any, cluster: Any, tmp_path: Path, home: Path, hosts: int, host: int) -> tuple[Any, str]:
    """Start a long job of ``hosts`` hosts, remove the node where host ``host`` (0-based) runs, and
    return the job's description once it has ended, and that node's id. The node comes back after
    (the next tests find the cluster as it was)."""
    est = _estimator(write_script(tmp_path, "long.py", "import time\nprint('up', flush=True)\ntime.sleep(60)\n"),
                     session, instance_count=hosts)
    est.fit(wait=False)
    job = est.latest_training_job
    wait_for(lambda: _training(job), timeout=60)
    node_id = job.describe()["MlyardPlacement"][host]["Node"]
    [node] = [n for n in cluster.worker_nodes if n.node_id == node_id]
    resource = _worker_nodes()[node_id]
    cluster.remove_node(node)
    try:
        return wait_for(lambda: (d := job.describe())["TrainingJobStatus"] != "InProgress" and d, timeout=60), node_id
    finally:
        cluster.add_node(resources={resource: 1}, **RAY_NODE)


def test_losing_the_runners_node_fails_the_job_naming_the_node(ray_session: Any, cluster: Any, tmp_path: Path,
                                                               home: Path) -> None:
    desc, node_id = _lose_a_node(ray_session, cluster, tmp_path, home, hosts=1, host=0)
    assert desc["TrainingJobStatus"] == "Failed"
    assert node_id in desc["FailureReason"] and "left the Ray cluster" in desc["FailureReason"]


def test_losing_a_hosts_node_fails_the_job_naming_the_host_and_the_node(ray_session: Any, cluster: Any,
                                                                          tmp_path: Path, home: Path) -> None:
    desc, node_id = _lose_a_node(ray_session, cluster, tmp_path, home, hosts=2, host=1)
    assert desc["TrainingJobStatus"] == "Failed"
    assert "host algo-2" in desc["FailureReason"] and node_id in desc["FailureReason"]
    assert "left the Ray cluster" in desc["FailureReason"]


def test_capacity_follows_the_nodes(ray_session: Any, cluster: Any) -> None:
    assert _health(ray_session)["cpus"] == 2
    extra = cluster.add_node(**RAY_NODE)
    try:
        wait_for(lambda: _health(ray_session)["cpus"] == 3, timeout=30)
        assert _health(ray_session)["nodes"] == 4
    finally:
        cluster.remove_node(extra)
    wait_for(lambda: _health(ray_session)["cpus"] == 2, timeout=30)


def test_local_folders_are_refused_once_nodes_are_on_two_machines(ray_session: Any, cluster: Any,
                                                                    tmp_path: Path) -> None:
    est = _estimator(_steps(tmp_path, 1, 0), ray_session)
    other = cluster.add_node(node_ip_address="127.0.0.2", **RAY_NODE)  # another address: "another machine"
    try:
        wait_for(lambda: _health(ray_session)["nodes"] == 4, timeout=30)
        with pytest.raises(mlyard.errors.ValidationError, match="MLYARD_RUNS") as refused:
            est.fit(wait=False)
        assert "local folder" in str(refused.value)
    finally:
        cluster.remove_node(other)


def test_an_unreachable_cluster_is_one_clear_line(tmp_path: Path) -> None:
    env = {**os.environ, "MLYARD_HOME": str(tmp_path / "home")}
    t0 = time.monotonic()
    bad = subprocess.run([sys.executable, "-m", "mlyard", "server", "--executor", "ray", "--ray-address",
                          "127.0.0.1:1"], env=env, capture_output=True, text=True, timeout=60)
    assert time.monotonic() - t0 < 20
    assert bad.returncode != 0
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and "127.0.0.1:1" in lines[0] and "Ray cluster" in lines[0], bad.stderr


@pytest.fixture(scope="module")
def iris(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    """Iris features and a scikit-learn model of them (model.tar.gz)."""
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    root = tmp_path_factory.mktemp("iris")
    x, y = load_iris(return_X_y=True)
    joblib.dump(LogisticRegression(max_iter=1000).fit(x, y), root / "model.joblib")
    with tarfile.open(root / "model.tar.gz", "w:gz") as tar:
        tar.add(root / "model.joblib", arcname="model.joblib")
    return x, root / "model.tar.gz"


def test_an_endpoints_instances_run_on_the_worker_nodes_and_come_back(ray_session: Any,
                                                                       iris: tuple[Any, Path]) -> None:
    """Endpoint instances are services of the executor: one per worker node (each in a group of its
    own), reached at its node's address through the endpoint's router; one that dies is started
    again; a deleted endpoint leaves nothing on the cluster."""
    from mlyard.sklearn import SKLearnModel

    x, model = iris
    pred = SKLearnModel(model_data=str(model), role="r",
                        sagemaker_session=ray_session).deploy(initial_instance_count=2, instance_type="local")
    desc = pred.describe()
    instances = desc["Instances"]
    assert {i["node"] for i in instances} == set(_worker_nodes())
    addresses = {n["NodeID"]: n["NodeManagerAddress"] for n in ray.nodes()}
    assert all(i["address"] == addresses[i["node"]] for i in instances)
    groups = [pg for pg in placement_group_table().values()
              if pg["name"].startswith(f"mlyard-service-{pred.endpoint_name}-") and pg["state"] == "CREATED"]
    assert len(groups) == 2
    assert list(pred.predict(x[:3].tolist())) == [0, 0, 0]
    psutil.Process(instances[0]["pid"]).kill()
    wait_for(lambda: (i := pred.describe()["Instances"][0])["healthy"] and i["pid"] != instances[0]["pid"],
             timeout=60)
    assert [list(pred.predict(x[:1].tolist())) for _ in range(4)] == [[0]] * 4
    pred.delete_endpoint()
    wait_for(lambda: not [pg for pg in placement_group_table().values()
                          if pg["name"].startswith(f"mlyard-service-{pred.endpoint_name}-")
                          and pg["state"] != "REMOVED"], timeout=30)
    wait_for(lambda: not ray_held(pred.endpoint_name), timeout=30)


SERVICE = """
import os, sys, time
print("files at", sys.argv[1], "say", open(os.path.join(sys.argv[1], "model.txt")).read(), flush=True)
with open(os.environ["MLYARD_SERVICE_READY"], "w") as fh:
    fh.write("4242")
time.sleep(120)
"""


def test_a_service_on_another_machine_gets_a_copy_of_its_files(cluster: Any, tmp_path: Path) -> None:
    """A service (an endpoint instance) placed on a node of another address is sent the folder it
    reads (its model) and runs on the copy; it is told to listen on its node's address."""
    from mlyard.compute.executor import Service
    from mlyard.compute.instance_types import Resources

    held = _hold_worker_cpus()
    far = cluster.add_node(node_ip_address="127.0.0.2", **RAY_NODE)  # the only free CPU, "another machine"
    try:
        folder = tmp_path / "model"
        folder.mkdir()
        (folder / "model.txt").write_text("hello")
        executor = RayExecutor(cluster.address)
        log = tmp_path / "logs" / "svc.log"
        script = write_script(tmp_path, "svc.py", SERVICE)
        handle = executor.start_service(Service("ship-test", [sys.executable, str(script), str(folder)],
                                                dict(os.environ), str(log), Resources(1, 512, 0), files=str(folder)))
        assert handle["node_id"] == far.node_id
        assert wait_for(lambda: executor.service_address(handle), timeout=60) == ("127.0.0.2", 4242)
        text = wait_for(lambda: log.exists() and "say" in (t := log.read_text()) and t, timeout=30)
        assert "say hello" in text and str(folder) not in text, text
        copy = text.split("files at ")[1].split(" say")[0]
        assert Path(copy).is_dir()
        executor.stop_service(handle, signal.SIGKILL)
        assert not executor.service_alive(handle) and not Path(copy).exists()
        wait_for(lambda: all(pg["state"] == "REMOVED" for pg in placement_group_table().values()
                             if pg["name"] == "mlyard-service-ship-test"), timeout=30)
    finally:
        for h in held:
            ray.kill(h)
        cluster.remove_node(far)


def test_a_transform_jobs_model_servers_run_on_its_hosts_nodes(ray_session: Any, iris: tuple[Any, Path],
                                                                 tmp_path: Path) -> None:
    """A transform job's runner starts each host's model server as a service, on the node where the
    job's group holds that host's bundle, and sends it records at that node's address."""
    from mlyard.sklearn import SKLearnModel

    x, model = iris
    data = tmp_path / "in"
    data.mkdir()
    for i in range(2):
        np.savetxt(data / f"part-{i}.csv", x[i * 75:(i + 1) * 75], delimiter=",", fmt="%.2f")
    out = tmp_path / "out"
    transformer = SKLearnModel(model_data=str(model), role="r", sagemaker_session=ray_session).transformer(
        instance_count=2, instance_type="local", assemble_with="Line", accept="text/csv", output_path=str(out))
    transformer.transform(str(data), content_type="text/csv", split_type="Line", logs=False)
    desc = transformer.describe()
    assert desc["TransformJobStatus"] == "Completed", desc.get("FailureReason")
    placed = desc["MlyardPlacement"]
    assert {p["Node"] for p in placed} == set(_worker_nodes())  # one model server on each node
    rows = [line for i in range(2) for line in (out / f"part-{i}.csv.out").read_text().split()]
    assert len(rows) == 150
    logs = b"".join(ray_session.client.job_logs(desc["TransformJobName"])).decode()
    assert logs.count("mlyard model server") == 2, logs  # both servers' output, from their nodes
    addresses = {n["NodeManagerAddress"] for n in ray.nodes()}
    assert any(f"http://{a}:" in logs for a in addresses)  # listening on its node's address
    wait_for(lambda: not ray_held(desc["TransformJobName"]), timeout=60)
