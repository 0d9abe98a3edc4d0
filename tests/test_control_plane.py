"""The control plane over HTTP: auth, schema, queueing, stopping, restarts, bad input, the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from conftest import stop_local_server, wait_for, write_script

import mlyard
import mlyard.store
from mlyard.errors import ConflictError, MlyardWarning, NotFoundError, ValidationError
from mlyard.estimator import Estimator


def test_requests_need_the_token_and_the_schema_is_served(session, home: Path) -> None:
    url = session.client.url
    assert httpx.get(f"{url}/v1/jobs").status_code == 401
    bad = httpx.get(f"{url}/v1/jobs", headers={"Authorization": "Bearer wrong"})
    assert bad.status_code == 401 and bad.json()["error"] == "Unauthorized"
    token = (home / "token").read_text().strip()
    assert oct((home / "token").stat().st_mode & 0o777) == "0o600"
    schema = httpx.get(f"{url}/openapi.json", headers={"Authorization": f"Bearer {token}"}).json()
    assert "/v1/training-jobs" in schema["paths"]
    assert url.startswith("http://127.0.0.1:")


def test_bad_requests_get_4xx_json(session, tmp_path: Path, data_dir: Path) -> None:
    write_script(tmp_path, "t.py", "print('ok')\n")
    url, token = session.client.url, session.client.token
    headers = {"Authorization": f"Bearer {token}"}
    r = httpx.post(f"{url}/v1/training-jobs", headers=headers, content=b"{not json")
    assert r.status_code == 400 and r.json()["error"] == "ValidationException"
    r = httpx.post(f"{url}/v1/training-jobs", headers=headers,
                   json={"TrainingJobName": "bad name!", "ResourceConfig": {"InstanceType": "local"}})
    assert r.status_code == 400 and "TrainingJobName" in r.json()["message"]
    r = httpx.get(f"{url}/v1/jobs/nope", headers=headers)
    assert r.status_code == 404 and r.json()["error"] == "ResourceNotFound"

    def est(**kw):  # type: ignore[no-untyped-def]
        return Estimator(entry_point=str(tmp_path / "t.py"), role="r", **{"instance_type": "local", **kw})

    with pytest.raises(ValidationError, match="unknown instance type 'ml.m5.xlargeish'.*ml.m5.xlarge"):
        est(instance_type="ml.m5.xlargeish").fit(logs=False)
    with pytest.raises(ValidationError, match="does not exist"):
        est().fit({"train": f"file://{tmp_path}/missing"}, logs=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValidationError, match="is empty"):
        est().fit({"train": f"file://{tmp_path}/empty"}, logs=False)
    with pytest.raises(ValidationError, match="cannot be JSON-encoded"):
        est(hyperparameters={"when": object()})
    with pytest.raises(ValidationError, match="entry_point 'missing.py' does not exist"):
        Estimator(entry_point="missing.py", instance_type="local").fit(logs=False)
    with pytest.raises(ValidationError, match="invalid Regex"):
        est(metric_definitions=[{"Name": "m", "Regex": "([0-9"}]).fit(logs=False)
    with pytest.raises(ValidationError, match="needs a GPU"):
        est(instance_type="local_gpu").fit(logs=False)
    est().fit(job_name="taken-name", logs=False)
    source = session.client.describe_job("taken-name")["HyperParameters"]["sagemaker_submit_directory"]
    before = mlyard.store.read_bytes(json.loads(source))
    write_script(tmp_path, "t.py", "print('a different script')\n")
    with pytest.raises(ConflictError, match="already exists"):
        est().fit(job_name="taken-name", logs=False)
    assert mlyard.store.read_bytes(json.loads(source)) == before  # the first job's source is intact
    assert session.client.describe_job("taken-name")["TrainingJobStatus"] == "Completed"
    with pytest.raises(NotFoundError):
        session.client.describe_job("never-created")
    assert [j["JobName"] for j in session.client.list_jobs()] == ["taken-name"]


def test_large_requests_run_scaled_down_with_a_warning(session, tmp_path: Path) -> None:
    write_script(tmp_path, "t.py", "import os\nprint('cpus', os.environ['SM_NUM_CPUS'])\n")
    est = Estimator(entry_point=str(tmp_path / "t.py"), role="r", instance_type="ml.m5.xlarge", instance_count=2)
    with pytest.warns(MlyardWarning, match="scaled down to 1 CPU"):
        est.fit(logs=False)
    assert est.latest_training_job.describe()["TrainingJobStatus"] == "Completed"


def test_jobs_queue_until_resources_are_free(session, tmp_path: Path) -> None:
    write_script(tmp_path, "t.py", "import time\ntime.sleep(1.5)\n")
    ests = [Estimator(entry_point=str(tmp_path / "t.py"), role="r", instance_type="local") for _ in range(3)]
    for e in ests:
        e.fit(wait=False)
    names = [e.latest_training_job.name for e in ests]
    # Two CPUs: two jobs run, the third waits for one of them.
    time.sleep(0.7)
    statuses = [session.client.describe_job(n)["SecondaryStatus"] for n in names]
    assert statuses.count("Pending") == 1, statuses
    for e in ests:
        e.latest_training_job.wait(logs=False)
    descs = [session.describe_training_job(n) for n in names]
    assert all(d["TrainingJobStatus"] == "Completed" for d in descs)
    starts = sorted(d["TrainingStartTime"] for d in descs)
    ends = sorted(d["TrainingEndTime"] for d in descs)
    assert starts[2] >= ends[0]


def test_stop_a_running_and_a_queued_job(session, tmp_path: Path) -> None:
    write_script(tmp_path, "t.py", "import time\nprint('up', flush=True)\ntime.sleep(600)\n")
    running = Estimator(entry_point=str(tmp_path / "t.py"), role="r", instance_type="local", instance_count=2)
    running.fit(wait=False)
    queued = Estimator(entry_point=str(tmp_path / "t.py"), role="r", instance_type="local")
    queued.fit(wait=False)
    wait_for(lambda: running.latest_training_job.describe()["SecondaryStatus"] == "Training")
    assert queued.latest_training_job.describe()["SecondaryStatus"] == "Pending"
    queued.latest_training_job.stop()
    assert queued.latest_training_job.describe()["TrainingJobStatus"] == "Stopped"
    running.latest_training_job.stop()
    desc = running.latest_training_job.wait(logs=False)
    assert desc["TrainingJobStatus"] == "Stopped"
    assert "Stopping" in [t["Status"] for t in desc["SecondaryStatusTransitions"]]
    with pytest.raises(ConflictError):
        running.latest_training_job.stop()


def test_server_restart_reattaches_running_jobs_and_fails_orphans(session, tmp_path: Path, home: Path) -> None:
    write_script(tmp_path, "t.py", """
        import time
        for i in range(30):
            print(f"step {i} loss: {1 / (i + 1):.4f}", flush=True)
            time.sleep(0.1)
    """)
    survivor = Estimator(entry_point=str(tmp_path / "t.py"), role="r", instance_type="local",
                         metric_definitions=[{"Name": "loss", "Regex": "loss: ([0-9.]+)"}])
    survivor.fit(wait=False)
    write_script(tmp_path, "long.py", "import time\ntime.sleep(600)\n")
    orphan = Estimator(entry_point=str(tmp_path / "long.py"), role="r", instance_type="local")
    orphan.fit(wait=False)
    jobs = home / "jobs"
    wait_for(lambda: all(
        (jobs / e.latest_training_job.name / "state.json").exists()
        and json.loads((jobs / e.latest_training_job.name / "state.json").read_text())["secondary_status"]
        == "Training" for e in (survivor, orphan)))
    old_url = session.client.url
    stop_local_server(home, tree=False)  # SIGKILL the server alone: no chance to clean up
    runner = json.loads((jobs / orphan.latest_training_job.name / "state.json").read_text())["runner_pid"]
    os.killpg(os.getpgid(runner), signal.SIGKILL)  # the orphan's runner dies while no server watches
    # The next call starts a new server, which reconciles.
    desc = survivor.latest_training_job.wait(logs=False)
    assert session.client.url != old_url
    assert desc["TrainingJobStatus"] == "Completed"
    assert len(survivor.training_job_analytics.dataframe()) == 30
    gone = wait_for(lambda: (d := orphan.latest_training_job.describe())["TrainingJobStatus"] != "InProgress" and d)
    assert gone["TrainingJobStatus"] == "Failed"
    assert "runner process" in gone["FailureReason"]


@pytest.mark.parametrize(("follower", "hosts"), [("fit", 1), ("fit", 2), ("cli", 1)])
def test_following_logs_rides_through_a_server_restart(session, tmp_path: Path, home: Path,
                                                       capsys: pytest.CaptureFixture[str], follower: str,
                                                       hosts: int) -> None:
    write_script(tmp_path, "t.py", """
        import time
        for i in range(40):
            print(f"line {i}", flush=True)
            time.sleep(0.1)
    """)
    est = Estimator(entry_point=str(tmp_path / "t.py"), role="r", instance_type="local", instance_count=hosts)
    old_url = session.client.url
    killed: list[str] = []

    def kill_mid_job() -> None:  # SIGKILL the server alone once the job is well under way
        log = wait_for(lambda: next(home.glob("jobs/*/logs/algo-1.log"), None))
        wait_for(lambda: "line 10\n" in log.read_text())
        stop_local_server(home, tree=False)
        killed.append(log.read_text())

    killer = threading.Thread(target=kill_mid_job)
    killer.start()
    if follower == "fit":
        est.fit()  # follows the logs; the stream is lost mid-job and picked up on the new server
        out = capsys.readouterr().out
    else:
        est.fit(wait=False)
        cli = subprocess.run([sys.executable, "-m", "mlyard", "jobs", "logs", est.latest_training_job.name,
                              "--follow"], env={**os.environ, "MLYARD_HOME": str(home)}, capture_output=True,
                             text=True, timeout=120)
        assert cli.returncode == 0, cli.stderr
        out = cli.stdout
    killer.join()
    assert killed and "line 39" not in killed[0]  # the server died while the job still ran
    assert est.latest_training_job.describe()["TrainingJobStatus"] == "Completed"
    assert session.client.url != old_url
    names = [f"algo-{h + 1}" for h in range(hosts)]
    for host in names:
        prefix = f"{host} | " if hosts > 1 else ""
        seen = [line[len(prefix):] for line in out.splitlines()
                if line.startswith(prefix) and line[len(prefix):].startswith("line ")]
        assert seen == [f"line {i}" for i in range(40)], out


def test_logs_resume_from_a_cursor_of_each_hosts_bytes(session, tmp_path: Path) -> None:
    write_script(tmp_path, "t.py", """
        import os
        for i in range(3):
            print(f"{os.environ['SM_CURRENT_HOST']} line {i}\\r", flush=True)
    """)
    est = Estimator(entry_point=str(tmp_path / "t.py"), role="r", instance_type="local", instance_count=2)
    est.fit(logs=False)
    url, h = session.client.url, {"Authorization": f"Bearer {session.client.token}"}
    path = f"{url}/v1/jobs/{est.latest_training_job.name}/logs"
    whole = httpx.get(path, headers=h)
    assert whole.headers["mlyard-log-hosts"] == "algo-1,algo-2"
    first = len("algo-1 line 0\r\n")  # a prefixed line stands for its log's bytes, newline included
    rest = httpx.get(path, headers=h, params={"since": f"algo-1:{first},algo-2:{2 * first}"}).text
    assert rest.split("\n") == ["algo-1 | algo-1 line 1\r", "algo-1 | algo-1 line 2\r", "algo-2 | algo-2 line 2\r", ""]
    assert sorted(whole.text.split("\n")[:-1]) == sorted(
        f"algo-{n} | algo-{n} line {i}\r" for n in (1, 2) for i in range(3))
    for bad in ("algo-3:1", "algo-1:-1", "algo-1"):
        resp = httpx.get(path, headers=h, params={"since": bad})
        assert resp.status_code == 400 and resp.json()["error"] == "ValidationException"


def test_cli_lists_describes_logs_and_stops(session, tmp_path: Path, home: Path) -> None:
    write_script(tmp_path, "t.py", "import time\nprint('hello from the cli test', flush=True)\ntime.sleep(600)\n")
    est = Estimator(entry_point=str(tmp_path / "t.py"), role="r", instance_type="local", base_job_name="cli-job")
    est.fit(wait=False)
    name = est.latest_training_job.name
    env = {**os.environ, "MLYARD_HOME": str(home), "COLUMNS": "200"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "mlyard", *args], env=env, capture_output=True, text=True,
                              timeout=120)

    wait_for(lambda: "hello from the cli test" in cli("jobs", "logs", name).stdout)
    listed = cli("jobs", "list")
    assert name in listed.stdout and "training" in listed.stdout
    assert json.loads(cli("jobs", "describe", name).stdout)["TrainingJobName"] == name
    follow = subprocess.Popen([sys.executable, "-m", "mlyard", "jobs", "logs", name, "--follow"], env=env,
                              stdout=subprocess.PIPE, text=True)
    time.sleep(1.0)
    assert follow.poll() is None  # still following a running job
    assert cli("jobs", "stop", name).returncode == 0
    out, _ = follow.communicate(timeout=60)
    assert "hello from the cli test" in out
    missing = cli("jobs", "describe", "no-such-job")
    assert missing.returncode == 1 and "no job named 'no-such-job'" in missing.stderr


def test_remote_server_with_url_and_token(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "mlyard", "server", "--port", "0"],
                            env={**os.environ, "MLYARD_TOKEN": "remote-secret"}, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        url = line.split("listening on ")[1].split()[0]
        monkeypatch.setenv("MLYARD_URL", url)
        monkeypatch.setenv("MLYARD_TOKEN", "remote-secret")
        write_script(tmp_path, "t.py", "print('remote ok')\n")
        est = Estimator(entry_point=str(tmp_path / "t.py"), role="r", instance_type="local",
                        sagemaker_session=mlyard.Session())
        est.fit(logs=False)
        assert est.latest_training_job.describe()["TrainingJobStatus"] == "Completed"
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def test_jobs_with_the_catalog_on_postgresql(home: Path, tmp_path: Path, postgres_url: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLYARD_DATABASE_URL", postgres_url)
    write_script(tmp_path, "t.py", "print('score: 0.9')\n")
    est = Estimator(entry_point=str(tmp_path / "t.py"), role="r", instance_type="local",
                    metric_definitions=[{"Name": "score", "Regex": "score: ([0-9.]+)"}],
                    sagemaker_session=mlyard.Session())
    est.fit(logs=False)
    name = est.latest_training_job.name
    stop_local_server(home)
    assert not (home / "catalog.db").exists()  # everything went to PostgreSQL
    desc = est.latest_training_job.describe()  # a new server, same database
    assert desc["TrainingJobStatus"] == "Completed"
    assert desc["FinalMetricDataList"][0]["Value"] == 0.9
    assert [j["JobName"] for j in est.sagemaker_session.client.list_jobs()] == [name]


def test_output_path_and_store_elsewhere(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLYARD_STORE", f"file://{tmp_path / 'team-store'}")
    write_script(tmp_path, "t.py", "import os\nopen(os.environ['SM_MODEL_DIR'] + '/m.txt', 'w').write('m')\n")
    est = Estimator(entry_point=str(tmp_path / "t.py"), role="r", instance_type="local",
                    sagemaker_session=mlyard.Session())
    est.fit(logs=False)
    bucket = est.sagemaker_session.default_bucket()  # its root is the store, wherever that is
    assert est.model_data.startswith(f"s3://{bucket}/")
    assert (tmp_path / "team-store" / est.model_data[len(f"s3://{bucket}/"):]).is_file()
    est = Estimator(entry_point=str(tmp_path / "t.py"), role="r", instance_type="local",
                    output_path=str(tmp_path / "outputs"), sagemaker_session=mlyard.Session())
    est.fit(logs=False)
    name = est.latest_training_job.name
    assert est.model_data == f"file://{tmp_path / 'outputs'}/{name}/output/model.tar.gz"
    assert (tmp_path / "outputs" / name / "output" / "model.tar.gz").is_file()


def test_a_second_server_for_the_same_home_refuses_to_start(session, home: Path) -> None:
    session.client.health()  # the first one runs
    second = subprocess.run([sys.executable, "-m", "mlyard", "server"], env={**os.environ, "MLYARD_HOME": str(home)},
                            capture_output=True, text=True, timeout=60)
    assert second.returncode != 0
    assert "another server already runs" in second.stderr


def test_the_executor_is_chosen_by_configuration_and_a_wrong_one_is_one_clear_line(session, tmp_path: Path) -> None:
    assert session.client.health()["executor"]["name"] == "local"  # the default
    env = {**os.environ, "MLYARD_HOME": str(tmp_path / "other-home")}
    for args, extra in ((["--executor", "nope"], {}), ([], {"MLYARD_EXECUTOR": "slurm"})):
        bad = subprocess.run([sys.executable, "-m", "mlyard", "server", *args], env={**env, **extra},
                             capture_output=True, text=True, timeout=60)
        assert bad.returncode != 0
        lines = bad.stderr.strip().splitlines()
        assert len(lines) == 1 and "unknown executor" in lines[0] and "MLYARD_EXECUTOR" in lines[0], bad.stderr
        assert not (tmp_path / "other-home" / "server.json").exists()


def test_the_ray_executor_without_ray_says_how_to_install_it(tmp_path: Path) -> None:
    code = ("import sys; sys.modules['ray'] = None\n"  # as if Ray were not installed
            "from mlyard.cli import main; sys.argv = ['mlyard', 'server', '--executor', 'ray']; main()")
    bad = subprocess.run([sys.executable, "-c", code], env={**os.environ, "MLYARD_HOME": str(tmp_path / "h")},
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'mlyard[ray]'" in lines[0], bad.stderr


def test_stopping_jobs_right_after_creating_them_frees_their_resources(session, tmp_path: Path) -> None:
    write_script(tmp_path, "t.py", "import time\ntime.sleep(600)\n")
    for _ in range(3):
        doomed = [Estimator(entry_point=str(tmp_path / "t.py"), role="r", instance_type="local") for _ in range(2)]
        for e in doomed:
            e.fit(wait=False)
            e.latest_training_job.stop()
        for e in doomed:
            assert e.latest_training_job.wait(logs=False)["TrainingJobStatus"] == "Stopped"
    # Both CPUs are free again: two new jobs run side by side.
    pair = [Estimator(entry_point=str(tmp_path / "t.py"), role="r", instance_type="local") for _ in range(2)]
    for e in pair:
        e.fit(wait=False)
    wait_for(lambda: all(e.latest_training_job.describe()["SecondaryStatus"] == "Training" for e in pair))
    for e in pair:
        e.latest_training_job.stop()


def test_malformed_requests_never_get_a_5xx(session, tmp_path: Path) -> None:
    url, token = session.client.url, session.client.token
    h = {"Authorization": f"Bearer {token}"}
    job = {"TrainingJobName": "j", "ResourceConfig": {"InstanceType": "local"},
           "HyperParameters": {"sagemaker_submit_directory": '"abc'}}
    cases = [
        httpx.post(f"{url}/v1/training-jobs", headers=h, json=job),
        httpx.post(f"{url}/v1/training-jobs", headers=h, json={**job, "HyperParameters": {"a=b": "1"}}),
        httpx.post(f"{url}/v1/training-jobs", headers=h, json={**job, "HyperParameters": {},
                                                               "Environment": {"A=B": "x"}}),
        httpx.post(f"{url}/v1/training-jobs", headers=h, json={**job, "HyperParameters": {},
                                                               "OutputDataConfig": {"S3OutputPath": "nope://x"}}),
        httpx.put(f"{url}/v1/store/dir/file.txt", headers=h, content=b"x"),
        httpx.get(f"{url}/v1/store/dir", headers=h),
        httpx.post(f"{url}/v1/store-read", headers=h, json={"uri": str(tmp_path)}),
        httpx.put(f"{url}/v1/store/dir/file.txt/inner", headers=h, content=b"x"),
        httpx.put(f"{url}/v1/store/a%00b", headers=h, content=b"x"),
        httpx.put(f"{url}/v1/store/../escape", headers=h, content=b"x"),
        httpx.get(f"{url}/v1/jobs/nope/logs", headers=h),
        httpx.post(f"{url}/v1/processing-jobs", headers=h, json={"ProcessingJobName": "p"}),
    ]
    statuses = [r.status_code for r in cases]
    assert statuses[4] == 200
    assert all(400 <= s < 500 for i, s in enumerate(statuses) if i != 4), statuses
    assert all(r.json().get("message") for r in cases if r.status_code >= 400)
    assert session.client.health()["status"] == "ok"
    write_script(tmp_path, "t.py", "print('x')\n")
    (tmp_path / "data").mkdir()
    with pytest.raises(ValidationError, match="channel name '..'"):
        Estimator(entry_point=str(tmp_path / "t.py"), role="r", instance_type="local").fit(
            {"..": str(tmp_path / "t.py")}, logs=False)


def test_a_rejected_create_does_not_burn_the_job_name(session, tmp_path: Path) -> None:
    write_script(tmp_path, "t.py", "print('x')\n")
    est = Estimator(entry_point=str(tmp_path / "t.py"), role="r", instance_type="local")
    with pytest.raises(ValidationError):
        est.fit({"train": str(tmp_path / "missing")}, job_name="my-job", logs=False)
    est.fit({"train": str(tmp_path / "t.py")}, job_name="my-job", logs=False)
    assert est.latest_training_job.describe()["TrainingJobStatus"] == "Completed"


def test_many_concurrent_waiters_do_not_starve_the_server(session, tmp_path: Path) -> None:
    import concurrent.futures

    write_script(tmp_path, "t.py", "import time\ntime.sleep(600)\n")
    est = Estimator(entry_point=str(tmp_path / "t.py"), role="r", instance_type="local")
    est.fit(wait=False)
    name = est.latest_training_job.name
    url, headers = session.client.url, {"Authorization": f"Bearer {session.client.token}"}
    with concurrent.futures.ThreadPoolExecutor(60) as pool:
        waits = [pool.submit(httpx.get, f"{url}/v1/jobs/{name}/wait", params={"timeout": 4}, headers=headers,
                             timeout=30) for _ in range(60)]
        time.sleep(1.0)
        started = time.monotonic()
        assert httpx.get(f"{url}/v1/health", headers=headers).status_code == 200
        assert time.monotonic() - started < 1.0
        assert all(w.result().status_code == 200 for w in waits)
    est.latest_training_job.stop()


def test_store_reads_stay_inside_the_store(session, home: Path) -> None:
    client = session.client
    uri = client.upload("notes/readme.txt", b"inside")
    assert client.read_uri(uri) == b"inside"
    with pytest.raises(ValidationError, match="outside the store"):
        client.read_uri(f"file://{home / 'token'}")
    with pytest.raises(ValidationError, match="leads out of the bucket"):
        client.read_uri(uri.rsplit("/", 2)[0] + "/../token")
    with pytest.raises(ValidationError, match="outside the store"):
        client.read_uri(str(client.health()["store"]) + "/../token")


def test_a_job_stopped_while_it_was_being_launched_ends_stopped_after_a_restart(session, tmp_path: Path,
                                                                                home: Path) -> None:
    from mlyard.catalog import Catalog

    write_script(tmp_path, "t.py", "import time\ntime.sleep(600)\n")
    running = Estimator(entry_point=str(tmp_path / "t.py"), role="r", instance_type="local", instance_count=2)
    running.fit(wait=False)
    queued = Estimator(entry_point=str(tmp_path / "t.py"), role="r", instance_type="local")
    queued.fit(wait=False)
    name = queued.latest_training_job.name
    wait_for(lambda: running.latest_training_job.describe()["SecondaryStatus"] == "Training")
    stop_local_server(home, tree=False)
    # As the catalog is when a stop lands while the job is claimed for launch, and the server dies
    # before its runner starts.
    catalog = Catalog(f"sqlite:///{home / 'catalog.db'}")
    assert catalog.update_job(name, only_if={"runner": None}, status="Stopping", secondary_status="Starting")
    catalog.dispose()
    desc = wait_for(lambda: (d := queued.latest_training_job.describe())["TrainingJobStatus"] != "Stopping" and d)
    assert desc["TrainingJobStatus"] == "Stopped" and desc["SecondaryStatus"] == "Stopped"
    running.latest_training_job.stop()
    assert running.latest_training_job.wait(logs=False)["TrainingJobStatus"] == "Stopped"
