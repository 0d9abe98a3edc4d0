"""Shared fixtures: every test gets its own MLYARD_HOME, and nothing it started outlives it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import sqlalchemy as sa

import mlyard.client as client_mod
from mlyard import store

POSTGRES_URL = os.environ.get("MLYARD_TEST_POSTGRES_URL")
REQUIRE_POSTGRES = os.environ.get("MLYARD_REQUIRE_POSTGRES") == "1"
ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "tf2_workflow"


def pytest_sessionstart(session: pytest.Session) -> None:
    """Where CI says the sandbox must be tested (MLYARD_REQUIRE_BWRAP=1), a machine where
    bubblewrap cannot run fails the run instead of skipping the sandbox tests."""
    if os.environ.get("MLYARD_REQUIRE_BWRAP") == "1":
        from mlyard.compute.sandbox import sandbox_problem

        if not bwrap_usable() or sandbox_problem():
            pytest.exit("MLYARD_REQUIRE_BWRAP=1 but bubblewrap cannot run here "
                        f"({sandbox_problem() or 'bwrap is missing or cannot create a namespace'}); "
                        "install it (apt-get install bubblewrap) and allow user namespaces", returncode=1)
    if os.environ.get("MLYARD_REQUIRE_RAY") == "1":
        try:
            import ray  # noqa: F401
        except ImportError as exc:
            pytest.exit(f"MLYARD_REQUIRE_RAY=1 but Ray cannot be imported ({exc}); make installs the ray extra",
                        returncode=1)


def kill_tree(pid: int) -> None:
    """SIGKILL a process and everything it started; wait for them to go."""
    try:
        proc = psutil.Process(pid)
        procs = [*proc.children(recursive=True), proc]
    except psutil.Error:
        return
    for p in procs:
        try:
            p.send_signal(signal.SIGKILL)
        except psutil.Error:
            pass
    psutil.wait_procs(procs, timeout=5)


# Lines of a test script (indented as write_script takes them; os, subprocess, sys imported and
# ``mark`` set) that leave a child (in the entry point's process group) and a double-forked daemon
# (a session of its own, holding the log pipes) behind, named ``<mark>-child`` and ``<mark>-daemon``.
LEAVE_CHILD_AND_DAEMON = """
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", mark + "-child"])
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(300)", mark + "-daemon"])
        os._exit(0)
"""


def marked_processes(mark: str) -> list[psutil.Process]:
    """Live processes whose command line carries ``mark`` (what a test's script started, by name)."""
    found = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if any(mark in arg for arg in p.info["cmdline"] or []) and p.status() != psutil.STATUS_ZOMBIE:
                found.append(p)
        except psutil.Error:
            pass
    return found


def procs_under(path: Path) -> list[psutil.Process]:
    """Live processes whose command line names ``path`` (e.g. an endpoint's runner and instances)."""
    out = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if any(str(path) in arg for arg in p.info["cmdline"] or []) and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.Error:
            pass
    return out


def stop_local_server(home: Path, tree: bool = True) -> None:
    """SIGKILL the home's server (and, with ``tree``, every process it started)."""
    try:
        info = json.loads((home / "server.json").read_text())
    except (OSError, ValueError):
        return
    if tree:
        kill_tree(int(info["pid"]))
    else:
        try:
            os.kill(int(info["pid"]), signal.SIGKILL)
        except ProcessLookupError:
            pass
    (home / "server.json").unlink(missing_ok=True)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh MLYARD_HOME; afterwards its server and every job runner it started are killed."""
    h = tmp_path / "mlyard-home"
    for var in ("MLYARD_URL", "MLYARD_TOKEN", "MLYARD_DATABASE_URL", "MLYARD_STORE", "MLYARD_RUNS", "MLYARD_EXECUTOR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MLYARD_HOME", str(h))
    monkeypatch.setenv("MLYARD_STOP_GRACE_SECONDS", "3")
    # The same machine for every test run, whatever the real one has.
    monkeypatch.setenv("MLYARD_CPUS", "2")
    monkeypatch.setenv("MLYARD_MEMORY_MIB", "8192")
    monkeypatch.setenv("MLYARD_GPUS", "0")
    client_mod._clients.clear()
    store.set_buckets({})
    yield h
    store.set_buckets({})
    end_home(h)


def end_home(h: Path) -> None:
    """Kill the home's server and everything it started; close and forget this process's clients."""
    stop_local_server(h)
    # Endpoint runners and their instances live in sessions of their own.
    for p in procs_under(h / "endpoints"):
        kill_tree(p.pid)
    for state in (h / "jobs").glob("*/state.json"):
        try:
            kill_tree(int(json.loads(state.read_text())["runner_pid"]))
        except (OSError, ValueError, KeyError):
            pass
    for c in client_mod._clients.values():
        c.close()
    client_mod._clients.clear()


@pytest.fixture
def session(home: Path):  # type: ignore[no-untyped-def]
    import mlyard

    sess = mlyard.Session()
    # The test reads what jobs wrote with the store module: it resolves the server's local buckets.
    store.set_buckets(sess.client.health()["buckets"])
    return sess


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.05):  # type: ignore[no-untyped-def]
    """Poll ``predicate`` until it returns something truthy, and return that; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not reached in time")


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd`` with a throwaway identity; return its output."""
    import subprocess

    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin", "HOME": str(cwd)}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def write_local_package(directory: Path, dist: str, module: str, code: str) -> Path:
    """A pip-installable package (distribution ``dist``, module ``module``) in ``directory``."""
    write_script(directory / module, "__init__.py", code)
    write_script(directory, "pyproject.toml", f"""
        [project]
        name = "{dist}"
        version = "0.1"
        [build-system]
        requires = ["setuptools"]
        build-backend = "setuptools.build_meta"
    """)
    return directory


def write_script(directory: Path, name: str, body: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(textwrap.dedent(body).lstrip())
    return path


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A channel with two small files."""
    d = tmp_path / "data"
    d.mkdir()
    (d / "a.csv").write_text("1,2\n3,4\n")
    (d / "b.csv").write_text("5,6\n")
    return d


@pytest.fixture(scope="session")
def example_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import sys

    sys.path.insert(0, str(EXAMPLE))
    from prepare_data import prepare

    return prepare(tmp_path_factory.mktemp("tf2-data"))


# -- the Ray executor: a real cluster of three nodes on this machine ----------------------------------------
GIB = 1024**3
RAY_NODE = {"num_cpus": 1, "memory": 2 * GIB, "object_store_memory": 100 * 1024**2}
RAY_INSTALL_HINT = "Ray is not installed: pip install 'mlyard[ray]' (make installs it)"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A head that runs no jobs (no CPUs) and two workers (1 CPU each, told apart by the resources
    node-a and node-b), so every job's runner runs on a worker node; the driver is in mlyard's
    namespace, so tests can look up its actors and placement groups by name.

    Module-scoped, not session-scoped: it starts in a few seconds, and idle Ray processes (GCS,
    three raylets, their workers) would otherwise take CPU from every module run between its
    users on a 2-core machine. Tests that remove or add nodes put the cluster back as it was."""
    pytest.importorskip("ray", reason=RAY_INSTALL_HINT)
    import ray
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "memory": GIB, "object_store_memory": 100 * 1024**2, "include_dashboard": False})
    for name in ("node-a", "node-b"):
        c.add_node(resources={name: 1}, **RAY_NODE)
    ray.init(address=c.address, namespace="mlyard", log_to_driver=False, logging_level="WARNING")
    sessions = {n.session_name for n in c.list_all_nodes()}
    try:
        yield c
    finally:
        ray.shutdown()
        c.shutdown()
        # Ray processes left running would starve the other tests of this machine's CPUs.
        left = [p for p in psutil.process_iter(["cmdline"])
                if any(s in " ".join(p.info["cmdline"] or []) for s in sessions)]
        for p in left:
            kill_tree(p.pid)
        assert not left, f"Ray processes outlived the cluster: {left}"


def ray_launchers() -> list[Any]:
    """The nodes' launchers (detached actors of the Ray executor) alive now."""
    import ray

    out = []
    for name in ray.util.list_named_actors():
        if name.startswith("mlyard-launcher-"):
            try:
                out.append(ray.get_actor(name))
            except ValueError:  # gone meanwhile (its node left)
                pass
    return out


def ray_held(job: str) -> list[str]:
    """What the launchers still hold of ``job``: its runner (key: the job's name), its host agents
    (``job/host``)."""
    import ray

    keys: list[str] = []
    for launcher in ray_launchers():
        try:
            keys += ray.get(launcher.keys.remote(), timeout=30)
        except ray.exceptions.RayError:  # its node left
            pass
    return [k for k in keys if k == job or k.startswith(job + "/")]


@pytest.fixture
def ray_session(cluster: Any, home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A Session whose server runs jobs on the test cluster (MLYARD_EXECUTOR=ray); afterwards no
    job of it is left there."""
    import ray
    from ray.util.placement_group import placement_group_table, remove_placement_group

    import mlyard

    monkeypatch.setenv("MLYARD_EXECUTOR", "ray")
    monkeypatch.setenv("RAY_ADDRESS", cluster.address)
    yield mlyard.Session()
    stop_local_server(home)
    for p in procs_under(home):  # hosts whose runner died with its node
        kill_tree(p.pid)
    for launcher in ray_launchers():  # they stay (warm) for the next test; what they started goes
        for key in ray.get(launcher.keys.remote(), timeout=30):
            ray.get(launcher.finish.remote(key, 0.0), timeout=30)
    for pg in placement_group_table().values():
        if pg["name"].startswith("mlyard-job-") and pg["state"] != "REMOVED":
            try:
                remove_placement_group(ray.util.get_placement_group(pg["name"]))
            except ValueError:  # removed meanwhile
                pass


def bwrap_usable() -> bool:
    from mlyard.compute.sandbox import bwrap_available

    return bwrap_available() and os.environ.get("MLYARD_NO_BWRAP") != "1"


def _psycopg_url(url: str) -> sa.URL:
    return sa.make_url(url).set(drivername="postgresql+psycopg")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL whose connections work in a schema of their own; the schema is dropped afterwards."""
    if not POSTGRES_URL:
        if REQUIRE_POSTGRES:
            pytest.fail("MLYARD_REQUIRE_POSTGRES=1 but MLYARD_TEST_POSTGRES_URL is not set")
        pytest.skip("PostgreSQL catalog tests need MLYARD_TEST_POSTGRES_URL "
                    "(e.g. postgresql://mlyard:mlyard@127.0.0.1:5432/mlyard_test)")
    schema = f"mlyard_test_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(_psycopg_url(POSTGRES_URL))
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        url = sa.make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


# -- real S3: an S3-compatible server on loopback -------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def moto(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A moto_server on loopback, the AWS settings pointing at it (set before mlyard's server
    starts, which inherits them); yields a bucket made there."""
    pytest.importorskip("s3fs")
    pytest.importorskip("moto")
    boto3 = pytest.importorskip("boto3")
    binary = Path(sys.executable).parent / "moto_server"
    if not binary.exists():
        pytest.skip("moto_server is not installed")
    port = free_port()
    proc = subprocess.Popen([str(binary), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for var, value in (("AWS_ENDPOINT_URL", url), ("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test"),
                       ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(var, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError("moto_server did not start") from None
                time.sleep(0.1)
        boto3.client("s3", endpoint_url=url).create_bucket(Bucket="moto-bucket")
        yield "moto-bucket"
    finally:
        proc.kill()
        proc.wait()
