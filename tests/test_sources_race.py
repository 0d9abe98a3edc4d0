"""Every job runs the code its creator submitted, however many processes create jobs at once."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

from conftest import write_script

import mlyard
from mlyard import store
from mlyard.errors import ConflictError
from mlyard.estimator import Estimator
from mlyard.utils import name_from_base

_CTX = multiprocessing.get_context("spawn")  # fresh interpreters: nothing of the parent's client is shared


def _creator(index: int, scripts: str, rounds: int, job_names: list[str | None], barrier: Any,
             results: Any) -> None:
    """One process: in each round, wait for the others, then create a job running its own script."""
    for r in range(rounds):
        script = write_script(Path(scripts) / f"p{index}-r{r}", "train.py", f"print('ran-script-of-{index}-{r}')\n")
        est = Estimator(entry_point=str(script), role="r", instance_type="local", base_job_name="race")
        barrier.wait(timeout=120)
        try:
            est.fit(job_name=job_names[r], wait=False)
        except ConflictError:
            results.put((r, index, None))
        else:
            results.put((r, index, est.latest_training_job.name))


def _race(tmp_path: Path, processes: int, job_names: list[str | None]) -> list[tuple[int, int, str | None]]:
    barrier = _CTX.Barrier(processes)
    results = _CTX.Queue()
    procs = [_CTX.Process(target=_creator, args=(i, str(tmp_path), len(job_names), job_names, barrier, results))
             for i in range(processes)]
    for p in procs:
        p.start()
    out = [results.get(timeout=300) for _ in range(processes * len(job_names))]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return out


def _log(session: mlyard.Session, name: str) -> str:
    session.wait_for_job(name)
    return b"".join(session.client.job_logs(name)).decode()


def test_racing_creators_of_one_name_each_get_their_own_code_or_a_conflict(session, tmp_path: Path) -> None:
    session.client.health()  # the server is up before the creators start
    rounds = 4
    results = _race(tmp_path, 6, [f"race-{r}" for r in range(rounds)])
    for r in range(rounds):
        winners = [(i, name) for rr, i, name in results if rr == r and name is not None]
        assert len(winners) == 1, (r, results)
        index, name = winners[0]
        assert name == f"race-{r}"
        log = _log(session, name)
        assert f"ran-script-of-{index}-{r}" in log, (r, index, log)  # the winner's script, not a loser's
        submit = session.describe_training_job(name)["HyperParameters"]["sagemaker_submit_directory"]
        assert "/sources/" in submit  # bound to the job by its content, not by the job's name
    # Nothing was stored under a job's name for any of the racing creators.
    store_root = Path(session.client.health()["store"][len("file://"):])
    assert not any((store_root / f"race-{r}" / "source").exists() for r in range(rounds))


def test_default_names_made_at_once_differ_and_each_job_runs_its_own_script(session, tmp_path: Path) -> None:
    # Within one millisecond (a timestamp's resolution) names still differ.
    names = {name_from_base("race") for _ in range(200)}
    assert len(names) == 200
    assert all(len(n) <= 63 for n in names)
    session.client.health()
    results = _race(tmp_path, 4, [None, None])
    created = [(r, i, name) for r, i, name in results]
    assert all(name is not None for _, _, name in created), created
    assert len({name for _, _, name in created}) == len(created)
    for r, index, name in created:
        assert name is not None and name.startswith("race-")
        assert f"ran-script-of-{index}-{r}" in _log(session, name)


def test_the_same_source_is_stored_once_and_never_replaced(session, tmp_path: Path, home: Path) -> None:
    import httpx

    uri = session.client.upload_source(b"some code", "sourcedir.tar.gz")
    assert session.client.upload_source(b"some code", "sourcedir.tar.gz") == uri
    assert session.client.read_uri(uri) == b"some code"
    key = uri[len(f"s3://{session.default_bucket()}") + 1:]
    assert key.startswith("sources/")
    # The generic store API cannot overwrite a content-addressed object.
    h = {"Authorization": f"Bearer {session.client.token}"}
    r = httpx.put(f"{session.client.url}/v1/store/{key}", headers=h, content=b"other code")
    assert r.status_code == 400 and "sources/" in r.json()["message"]
    assert session.client.read_uri(uri) == b"some code"
    assert [p.name for p in store.local_path(uri).parent.iterdir()] == ["sourcedir.tar.gz"]  # type: ignore[union-attr]
    assert not list((home / "uploads").iterdir())  # the refused upload left nothing behind
