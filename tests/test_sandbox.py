"""bubblewrap: the real /opt/ml for scripts that hard-code it, and the sandbox for untrusted code."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import bwrap_usable, procs_under, write_script

from mlyard.errors import UnexpectedStatusException, ValidationError
from mlyard.estimator import Estimator

needs_bwrap = pytest.mark.skipif(not bwrap_usable(), reason="bubblewrap is not installed (apt-get install bubblewrap)")

HARD_CODED = """
    import os
    files = sorted(os.listdir("/opt/ml/input/data/train"))
    with open("/opt/ml/model/files.txt", "w") as fh:
        fh.write(",".join(files))
    print("model dir", os.environ["SM_MODEL_DIR"], "files", files)
"""


def test_without_bubblewrap_hard_coded_paths_fail_with_a_hint(tmp_path: Path, data_dir: Path, home: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    if Path("/opt/ml").exists():
        pytest.skip("this machine has a real /opt/ml")
    monkeypatch.setenv("MLYARD_NO_BWRAP", "1")  # the server and its runners inherit it
    import mlyard

    write_script(tmp_path, "hard.py", HARD_CODED)
    est = Estimator(entry_point=str(tmp_path / "hard.py"), instance_type="local", role="r",
                    sagemaker_session=mlyard.Session())
    with pytest.raises(UnexpectedStatusException, match="install bubblewrap"):
        est.fit({"train": f"file://{data_dir}"}, logs=False)
    with pytest.raises(ValidationError, match="bubblewrap"):
        Estimator(entry_point=str(tmp_path / "hard.py"), instance_type="local", role="r", sandbox=True).fit(
            {"train": f"file://{data_dir}"}, logs=False)


@needs_bwrap
def test_sandboxed_job_has_no_network_no_system_writes_and_limits(tmp_path: Path, home: Path) -> None:
    import mlyard

    session = mlyard.Session(sandbox=True)
    port = int(session.client.url.rsplit(":", 1)[1])
    write_script(tmp_path, "probe.py", f"""
        import os, socket
        def attempt(what, fn):
            try:
                fn()
                print(what, "ALLOWED")
            except Exception as exc:
                print(what, "DENIED", type(exc).__name__)
        attempt("network", lambda: socket.create_connection(("127.0.0.1", {port}), timeout=2))
        attempt("system-write", lambda: open("/usr/mlyard-sandbox-probe", "w"))
        attempt("home-read", lambda: open({str(home / "token")!r}).read())
        attempt("model-write", lambda: open("/opt/ml/model/ok.txt", "w").write("ok"))
        attempt("tmp-write", lambda: open("/tmp/scratch", "w").write("ok"))
        print("token-env", "MLYARD_TOKEN" in os.environ)
    """)
    est = Estimator(entry_point=str(tmp_path / "probe.py"), instance_type="local", role="r",
                    sagemaker_session=session)
    est.fit(logs=False)
    log = (home / "jobs" / est.latest_training_job.name / "logs" / "algo-1.log").read_text()
    assert "network DENIED" in log
    assert "system-write DENIED" in log
    assert "home-read DENIED" in log
    assert "model-write ALLOWED" in log and "tmp-write ALLOWED" in log
    assert "token-env False" in log
    assert est.latest_training_job.describe()["MlyardConfig"]["Sandbox"] is True


@needs_bwrap
def test_sandboxed_job_cannot_reach_host_files_through_symlinks(tmp_path: Path, home: Path) -> None:
    import mlyard

    secret = tmp_path / "host-secret.txt"
    secret.write_text("hostsecret")
    target = tmp_path / "written-by-runner"
    write_script(tmp_path, "sneaky.py", f"""
        import os, shutil, sys
        shutil.rmtree("/opt/ml/model")
        os.symlink({str(tmp_path)!r}, "/opt/ml/model")              # pack the host's files as the model?
        os.symlink({str(home / "token")!r}, "/opt/ml/output/failure")  # the server token as FailureReason?
        os.symlink({str(target)!r}, "/opt/ml/output/success")         # make the runner write a host file?
        print("aws", os.environ.get("AWS_SECRET_ACCESS_KEY"), "secret", os.path.exists({str(secret)!r}),
              "root", os.listdir("/root") if os.path.isdir("/root") else [], flush=True)
        try:
            print("shadow", len(open("/etc/shadow").read()), flush=True)
        except OSError as exc:
            print("shadow denied", type(exc).__name__, flush=True)
        sys.exit(1)
    """)
    import os

    os.environ["AWS_SECRET_ACCESS_KEY"] = "do-not-leak"
    try:
        est = Estimator(entry_point=str(tmp_path / "sneaky.py"), instance_type="local", role="r",
                        sagemaker_session=mlyard.Session(sandbox=True))
        with pytest.raises(UnexpectedStatusException) as info:
            est.fit(logs=False)
    finally:
        del os.environ["AWS_SECRET_ACCESS_KEY"]
    token = (home / "token").read_text()
    desc = est.latest_training_job.describe()
    assert token not in desc["FailureReason"] and token not in str(info.value)
    assert "ExecuteUserScriptError" in desc["FailureReason"]
    assert not target.exists()
    log = (home / "jobs" / est.latest_training_job.name / "logs" / "algo-1.log").read_text()
    assert "aws None secret False root " in log
    import ast
    import sys

    root_entries = ast.literal_eval(log.split("aws None secret False root ")[1].splitlines()[0])
    python_homes = {Path(p).resolve().parts[2] for p in (sys.prefix, sys.base_prefix)
                    if Path(p).resolve().parts[1:2] == ("root",)}
    assert set(root_entries) <= python_homes  # only Python's own installation shows through
    assert "shadow denied" in log or "shadow 0" in log


HOSTILE = """
    import ctypes, errno, os, socket, subprocess
    libc = ctypes.CDLL(None, use_errno=True)
    def attempt(what, fn):
        try:
            result = fn()
            print(what, "ALLOWED", result, flush=True)
        except Exception as exc:
            print(what, "DENIED", type(exc).__name__, flush=True)
    def syscall(what, rc):
        print(what, "ALLOWED" if rc == 0 else "DENIED " + errno.errorcode.get(ctypes.get_errno(), "?"), flush=True)
    status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
    print("ids", os.getuid(), os.geteuid(), os.getgid(), os.getgroups(), flush=True)
    for key in ("CapEff", "CapPrm", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp"):
        print("status", key, status[key].strip(), flush=True)
    syscall("remount-root-rw", libc.mount(None, b"/", None, 0x20 | 0x1000, None))   # MS_REMOUNT|MS_BIND
    syscall("mount-tmpfs", libc.mount(b"none", b"/mnt", b"tmpfs", 0, None))
    syscall("umount-home", libc.umount2(HOME.encode(), 2))                          # MNT_DETACH
    syscall("unshare-user", libc.unshare(0x10000000))
    syscall("keyctl", libc.syscall(250, 0, 0, 0, 0))                                 # keyctl(GET_KEYRING_ID)
    syscall("ptrace-attach", libc.ptrace(16, 1, None, None))                          # PTRACE_ATTACH pid 1
    attempt("unshare-command", lambda: subprocess.run(["unshare", "-U", "-r", "true"], check=True))
    attempt("token-read", lambda: open(HOME + "/token").read())
    attempt("token-through-proc", lambda: open(f"/proc/{SERVER_PID}/root" + HOME + "/token").read())
    attempt("usr-write", lambda: open("/usr/mlyard-sandbox-probe", "w").write("x"))
    attempt("shadow-read", lambda: open("/etc/shadow").read())
    attempt("network", lambda: socket.create_connection(("127.0.0.1", SERVER_PORT), timeout=2))
    print("proc-pids", sorted(int(p) for p in os.listdir("/proc") if p.isdigit()), flush=True)
    print("hostname", socket.gethostname(), flush=True)
"""


@needs_bwrap
def test_hostile_sandboxed_script_cannot_escalate_remount_or_read_the_token(tmp_path: Path, home: Path) -> None:
    import json
    import os

    import mlyard

    session = mlyard.Session(sandbox=True)
    port = int(session.client.url.rsplit(":", 1)[1])
    server_pid = json.loads((home / "server.json").read_text())["pid"]
    body = (f"HOME = {str(home)!r}\nSERVER_PID = {server_pid}\nSERVER_PORT = {port}\n"
            + __import__("textwrap").dedent(HOSTILE))
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "hostile.py").write_text(body)
    est = Estimator(entry_point="hostile.py", source_dir=str(tmp_path / "src"), instance_type="local", role="r",
                    sagemaker_session=session)
    est.fit(logs=False)
    log = (home / "jobs" / est.latest_training_job.name / "logs" / "algo-1.log").read_text()
    lines = dict(line.split(" ", 1) for line in log.splitlines() if " " in line)
    if os.geteuid() == 0:  # root runs the sandbox as nobody, not as a user-namespace root
        assert lines["ids"].startswith("65534 65534 65534 []"), log
    assert "status CapEff 0000000000000000" in log and "status CapPrm 0000000000000000" in log
    assert "status CapBnd 0000000000000000" in log and "status CapAmb 0000000000000000" in log
    assert "status NoNewPrivs 1" in log and "status Seccomp 2" in log
    for what in ("remount-root-rw", "mount-tmpfs", "umount-home", "unshare-user", "keyctl", "ptrace-attach",
                 "unshare-command", "token-read", "token-through-proc", "usr-write", "shadow-read", "network"):
        assert lines[what].startswith("DENIED"), (what, log)
    assert lines["unshare-user"] == "DENIED EPERM"
    assert not Path("/usr/mlyard-sandbox-probe").exists()
    pids = __import__("ast").literal_eval(lines["proc-pids"])
    assert 1 in pids and server_pid not in pids and len(pids) <= 4, pids  # its own PID namespace
    assert lines["hostname"] == "algo-1"


@needs_bwrap
def test_sandbox_limits_hold_for_the_whole_job(tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A process flood stops at the job's process limit, and memory spread over many processes
    stops at the job's memory limit; nothing is left running afterwards."""
    import mlyard
    from mlyard.compute.cgroups import HostCgroup, Limits

    probe, why = HostCgroup.create("probe", Limits())
    if probe is None:
        pytest.skip(f"control groups are not usable here: {why}")
    probe.remove()
    monkeypatch.setenv("MLYARD_SANDBOX_PIDS", "64")
    session = mlyard.Session(sandbox=True)
    write_script(tmp_path, "flood.py", """
        import os, time
        forked = 0
        for _ in range(2000):
            try:
                if os.fork() == 0:
                    time.sleep(600)
                    os._exit(0)
                forked += 1
            except OSError:
                break
        print("forked", forked, flush=True)
    """)
    est = Estimator(entry_point=str(tmp_path / "flood.py"), instance_type="local", role="r",
                    sagemaker_session=session)
    est.fit(logs=False)
    job = est.latest_training_job.name
    forked = int((home / "jobs" / job / "logs" / "algo-1.log").read_text().split("forked ")[1].split()[0])
    assert 10 < forked < 64
    assert not procs_under(Path("flood.py")), "the flood outlived its job"

    write_script(tmp_path, "spread.py", """
        import os, time
        children = []
        for i in range(8):                       # 8 x 256 MiB, the job has 1 GiB
            pid = os.fork()
            if pid == 0:
                block = bytearray(256 * 1024 * 1024)
                print("child", i, "holds", len(block), flush=True)
                time.sleep(3)
                os._exit(0)
            children.append(pid)
        killed = [pid for pid in children if os.WIFSIGNALED(os.waitpid(pid, 0)[1])]
        raise SystemExit(f"{len(killed)} workers were killed" if killed else 0)
    """)
    est = Estimator(entry_point=str(tmp_path / "spread.py"), instance_type="local", role="r",
                    sagemaker_session=session, max_run=120)
    with pytest.raises(UnexpectedStatusException, match="OutOfMemory"):
        est.fit(logs=False)
    desc = est.latest_training_job.describe()
    assert desc["FailureReason"].startswith("OutOfMemory: the job went over its memory limit of 1024 MiB")
    log = (home / "jobs" / est.latest_training_job.name / "logs" / "algo-1.log").read_text()
    killed = int(log.split(" workers were killed")[0].rsplit("\n", 1)[-1])
    assert killed >= 4  # 8 x 256 MiB do not fit in 1 GiB together: half of them at least were killed
    assert not procs_under(Path("spread.py"))


@needs_bwrap
def test_without_cgroups_a_warning_names_the_per_process_limits(tmp_path: Path, home: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import mlyard

    monkeypatch.setenv("MLYARD_CGROUPS", "off")  # as on a machine where no cgroup is writable
    write_script(tmp_path, "big.py", """
        try:
            block = bytearray(3 * 1024 ** 3)
            print("memory ALLOWED")
        except MemoryError:
            print("memory DENIED MemoryError")
    """)
    est = Estimator(entry_point=str(tmp_path / "big.py"), instance_type="local", role="r",
                    sagemaker_session=mlyard.Session(sandbox=True))
    est.fit(logs=False)
    desc = est.latest_training_job.describe()
    assert any("No control group holds this sandboxed job's limits (MLYARD_CGROUPS=off)" in w and
               "applies to each process's address space" in w for w in desc["Warnings"]), desc["Warnings"]
    log = (home / "jobs" / est.latest_training_job.name / "logs" / "algo-1.log").read_text()
    assert "memory DENIED MemoryError" in log


@needs_bwrap
def test_live_uploads_do_not_follow_links_a_running_job_swaps_in(tmp_path: Path, home: Path) -> None:
    """Continuous outputs are uploaded while the job runs, by the runner, with more rights than
    the job: a file or folder the job swaps for a link to the server's token is not read."""
    import mlyard
    from mlyard.processing import ProcessingOutput, ScriptProcessor

    session = mlyard.Session(sandbox=True)
    session.client.request("GET", "/v1/health")
    token = home / "token"
    write_script(tmp_path, "swap.py", f"""
        import os, time
        out = "/opt/ml/processing/cont"
        os.makedirs(out + "/d", exist_ok=True)
        open(out + "/a.txt", "w").write("honest")
        open(out + "/d/b.txt", "w").write("honest")
        time.sleep(2.5)                                   # the runner uploads both
        deadline = time.time() + 5
        while time.time() < deadline:                     # then flip them between real and links
            os.link(out + "/a.txt", out + "/keep") if not os.path.exists(out + "/keep") else None
            os.symlink({str(token)!r}, out + "/x"); os.rename(out + "/x", out + "/a.txt")
            os.link(out + "/keep", out + "/y"); os.rename(out + "/y", out + "/a.txt")
            os.rename(out + "/d", out + "/d.real"); os.symlink({str(home)!r}, out + "/d")
            os.unlink(out + "/d"); os.rename(out + "/d.real", out + "/d")
    """)
    dest = tmp_path / "live"
    p = ScriptProcessor(command=["python3"], instance_type="local", role="r", sagemaker_session=session)
    p.run(code=str(tmp_path / "swap.py"), outputs=[ProcessingOutput(
        source="/opt/ml/processing/cont", destination=f"file://{dest}", s3_upload_mode="Continuous")], logs=False)
    secret = token.read_text()
    uploaded = {f.relative_to(dest).as_posix(): f.read_bytes() for f in dest.rglob("*") if f.is_file()}
    assert uploaded.get("a.txt") == b"honest" and uploaded.get("d/b.txt") == b"honest", uploaded.keys()
    assert not any(secret.encode() in data for data in uploaded.values())
    assert not any(key.startswith("d/") and key != "d/b.txt" for key in uploaded), uploaded.keys()
