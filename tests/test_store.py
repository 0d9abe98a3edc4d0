"""The artifact store over real files, and archives that never extract outside their target."""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import tarfile
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

import httpx
import psutil
import pytest
from conftest import wait_for

import mlyard
from mlyard import store
from mlyard.errors import PayloadTooLargeError, ValidationError
from mlyard.store import extract_tar, make_tar


def tree(root: Path) -> dict[str, bytes]:
    """Every file under root (links not followed) -> its bytes."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.is_symlink()}


def everything(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


@pytest.fixture
def data(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    (d / "sub" / "deeper").mkdir(parents=True)
    (d / "b.csv").write_text("b")
    (d / "a.csv").write_text("a")
    (d / "sub" / "c.csv").write_text("c")
    (d / "sub" / "deeper" / "d.bin").write_bytes(b"\x00\x01")
    (d / "empty-dir").mkdir()
    return d


# -- listing, uploading, downloading ------------------------------------------------------------

def test_list_objects_of_one_file(data: Path) -> None:
    f = data / "sub" / "c.csv"
    assert store.list_objects(f"file://{f}") == [(f"file://{f}", "c.csv")]
    assert store.list_objects(str(f)) == [(f"file://{f}", "c.csv")]


def test_list_objects_of_a_prefix_sorted_with_relative_keys(data: Path) -> None:
    found = store.list_objects(f"file://{data}")
    assert [k for _, k in found] == ["a.csv", "b.csv", "sub/c.csv", "sub/deeper/d.bin"]
    assert [store.read_bytes(uri) for uri, _ in found] == [b"a", b"b", b"c", b"\x00\x01"]
    assert store.list_objects(f"file://{data}/") == found
    assert store.list_objects(f"file://{data}/sub") == [(f"file://{data}/sub/c.csv", "c.csv"),
                                                        (f"file://{data}/sub/deeper/d.bin", "deeper/d.bin")]
    assert store.list_objects(f"file://{data}/missing") == []


def test_upload_and_download_round_trip(tmp_path: Path) -> None:
    src = tmp_path / "model.bin"
    payload = os.urandom(100_000)
    src.write_bytes(payload)
    uri = f"file://{tmp_path}/bucket/jobs/j1/output/model.bin"
    assert not store.exists(uri)
    assert store.upload_file(src, uri) == uri
    assert store.exists(uri)
    assert store.read_bytes(uri) == payload
    dest = store.download(uri, tmp_path / "down" / "again" / "model.bin")
    assert dest.read_bytes() == payload
    assert everything(tmp_path / "bucket") == ["jobs", "jobs/j1", "jobs/j1/output", "jobs/j1/output/model.bin"]


def test_upload_bytes_replaces_and_reads_back(tmp_path: Path) -> None:
    uri = store.join(f"file://{tmp_path}/bucket/", "/prefix/", "obj.json")
    assert uri == f"file://{tmp_path}/bucket/prefix/obj.json"
    store.upload_bytes(b'{"v": 1}', uri)
    store.upload_bytes(b'{"v": 2}', uri)
    assert store.read_bytes(uri) == b'{"v": 2}'
    assert store.list_objects(f"file://{tmp_path}/bucket") == [(uri, "prefix/obj.json")]
    assert store.local_path(uri) == tmp_path / "bucket" / "prefix" / "obj.json"
    assert store.local_path("s3://bucket/key") is None


def test_sync_dir_to_mirrors_the_directory_deletions_included(tmp_path: Path, data: Path) -> None:
    dest = f"file://{tmp_path}/bucket/checkpoints"
    sibling = tmp_path / "bucket" / "checkpoints-other" / "keep.txt"
    sibling.parent.mkdir(parents=True)
    sibling.write_text("keep")
    store.sync_dir_to(data, dest)
    assert tree(tmp_path / "bucket" / "checkpoints") == tree(data)
    (data / "a.csv").unlink()
    (data / "sub" / "deeper" / "d.bin").unlink()
    (data / "b.csv").write_text("b, changed")
    (data / "new.txt").write_text("new")
    store.sync_dir_to(data, dest)
    assert tree(tmp_path / "bucket" / "checkpoints") == {"b.csv": b"b, changed", "new.txt": b"new",
                                                         "sub/c.csv": b"c"}
    assert [k for _, k in store.list_objects(dest)] == ["b.csv", "new.txt", "sub/c.csv"]
    assert sibling.read_text() == "keep"


# -- archives -----------------------------------------------------------------------------------

def build_tar(path: Path, members: list[tarfile.TarInfo], payloads: dict[str, bytes] | None = None) -> Path:
    payloads = payloads or {}
    with tarfile.open(path, "w:gz") as tar:
        for m in members:
            data = payloads.get(m.name)
            if data is not None:
                m.size = len(data)
            tar.addfile(m, io.BytesIO(data) if data is not None else None)
    with tarfile.open(path) as tar:  # the archive really holds the names under test
        assert tar.getnames() == [m.name for m in members]
    return path


def file_member(name: str) -> tarfile.TarInfo:
    return tarfile.TarInfo(name)


def link_member(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    m = tarfile.TarInfo(name)
    m.type = kind
    m.linkname = target
    return m


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    """A directory holding the target and a bystander the archives try to reach."""
    box = tmp_path / "box"
    box.mkdir()
    (box / "bystander.txt").write_text("untouched")
    return box


def assert_refused(archive: Path, target: Path, box: Path, match: str) -> None:
    before = everything(box)
    with pytest.raises(ValidationError, match=match):
        extract_tar(archive, target)
    assert everything(target) == []  # refused before anything was written
    assert everything(box) == sorted({*before, "target"})
    assert (box / "bystander.txt").read_text() == "untouched"


def test_make_tar_and_extract_tar_round_trip(tmp_path: Path, data: Path) -> None:
    archive = make_tar(tmp_path / "out" / "model.tar.gz", [(data, "")])
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert "a.csv" in names and "sub/deeper/d.bin" in names and not any(n.startswith("data") for n in names)
    target = tmp_path / "extracted"
    extract_tar(archive, target)
    assert tree(target) == tree(data)
    assert (target / "empty-dir").is_dir()


def test_make_tar_with_named_members(tmp_path: Path, data: Path) -> None:
    archive = make_tar(tmp_path / "source.tar.gz", [(data / "a.csv", "code/train.py"), (data / "sub", "")])
    target = tmp_path / "x"
    extract_tar(archive, target)
    assert tree(target) == {"code/train.py": b"a", "c.csv": b"c", "deeper/d.bin": b"\x00\x01"}


def test_extract_tar_extracts_a_normal_archive_with_inner_links(sandbox: Path) -> None:
    d = file_member("pkg")
    d.type = tarfile.DIRTYPE
    archive = build_tar(sandbox.parent / "ok.tar.gz", [
        d, file_member("pkg/model.bin"), file_member("pkg/../top.txt"),
        link_member("latest", "pkg/model.bin"), link_member("pkg/up", "../top.txt"),
        link_member("hard", "pkg/model.bin", tarfile.LNKTYPE),
    ], {"pkg/model.bin": b"weights", "pkg/../top.txt": b"top"})
    target = sandbox / "target"
    extract_tar(archive, target)
    assert (target / "pkg" / "model.bin").read_bytes() == b"weights"
    assert (target / "top.txt").read_bytes() == b"top"
    assert (target / "latest").is_symlink() and (target / "latest").read_bytes() == b"weights"
    assert (target / "pkg" / "up").read_bytes() == b"top"
    assert (target / "hard").read_bytes() == b"weights" and not (target / "hard").is_symlink()
    assert everything(sandbox) == ["bystander.txt", "target", "target/hard", "target/latest", "target/pkg",
                                   "target/pkg/model.bin", "target/pkg/up", "target/top.txt"]


def test_extract_tar_refuses_absolute_member_paths(sandbox: Path) -> None:
    evil = str(sandbox / "bystander.txt")
    archive = build_tar(sandbox.parent / "abs.tar.gz", [file_member("fine.txt"), file_member(evil)],
                        {"fine.txt": b"ok", evil: b"owned"})
    assert_refused(archive, sandbox / "target", sandbox, "escapes the target")


@pytest.mark.parametrize("name", ["../escaped.txt", "sub/../../escaped.txt", "a/b/../../../../escaped.txt"])
def test_extract_tar_refuses_dot_dot_members(sandbox: Path, name: str) -> None:
    archive = build_tar(sandbox.parent / "dotdot.tar.gz", [file_member("fine.txt"), file_member(name)],
                        {"fine.txt": b"ok", name: b"owned"})
    assert_refused(archive, sandbox / "target", sandbox, "escapes the target")
    assert not (sandbox / "escaped.txt").exists() and not (sandbox.parent / "escaped.txt").exists()


@pytest.mark.parametrize("link", ["../bystander.txt", "sub/../../bystander.txt", "/etc/passwd", "ABSOLUTE_BOX"])
def test_extract_tar_refuses_symlinks_pointing_outside(sandbox: Path, link: str) -> None:
    link = str(sandbox / "bystander.txt") if link == "ABSOLUTE_BOX" else link
    archive = build_tar(sandbox.parent / "sym.tar.gz", [file_member("fine.txt"), link_member("out", link)],
                        {"fine.txt": b"ok"})
    assert_refused(archive, sandbox / "target", sandbox, "points outside the target")


def test_extract_tar_refuses_hard_links_outside(sandbox: Path) -> None:
    archive = build_tar(sandbox.parent / "hard.tar.gz",
                        [file_member("fine.txt"), link_member("h", "../bystander.txt", tarfile.LNKTYPE)],
                        {"fine.txt": b"ok"})
    assert_refused(archive, sandbox / "target", sandbox, "points outside the target")


def test_extract_tar_refuses_a_file_written_through_a_link_already_there(sandbox: Path) -> None:
    target = sandbox / "target"
    target.mkdir()
    (target / "out").symlink_to(sandbox)
    archive = build_tar(sandbox.parent / "through.tar.gz", [file_member("out/bystander.txt")],
                        {"out/bystander.txt": b"owned"})
    with pytest.raises(ValidationError, match="escapes the target"):
        extract_tar(archive, target)
    assert (sandbox / "bystander.txt").read_text() == "untouched"


def test_extract_tar_refuses_devices(sandbox: Path) -> None:
    dev = file_member("null")
    dev.type = tarfile.CHRTYPE
    dev.devmajor, dev.devminor = 1, 3
    archive = build_tar(sandbox.parent / "dev.tar.gz", [file_member("fine.txt"), dev], {"fine.txt": b"ok"})
    assert_refused(archive, sandbox / "target", sandbox, "device")


def chained_link_archive(sandbox: Path) -> Path:
    # "x" -> "." is harmless, and so is "x/y" -> ".." read naively; but once "x" exists,
    # "x/y" is "target/y" and points at target's parent.
    return build_tar(sandbox.parent / "chain.tar.gz", [link_member("x", "."), link_member("x/y", "..")])


def test_extract_tar_never_follows_chained_links_out(sandbox: Path) -> None:
    target = sandbox / "target"
    with pytest.raises((ValidationError, tarfile.TarError)):
        extract_tar(chained_link_archive(sandbox), target)
    assert not (target / "y").exists()
    assert everything(sandbox) in (["bystander.txt", "target"], ["bystander.txt", "target", "target/x"])


def test_extract_tar_refuses_chained_links_before_writing(sandbox: Path) -> None:
    assert_refused(chained_link_archive(sandbox), sandbox / "target", sandbox, "outside the destination")


# -- through the control plane: streamed, bounded, atomic ------------------------------------------

MIB = 1 << 20


def _server(home: Path) -> psutil.Process:
    return psutil.Process(int(json.loads((home / "server.json").read_text())["pid"]))


def _peak_rss(proc: psutil.Process) -> int:
    """The process's peak resident memory since it started (the kernel's high-water mark)."""
    for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc")


def _sparse_object(path: Path, size: int) -> str:
    """A ``size``-byte file that takes almost no disk (holes, with a distinct marker every
    64 MiB so that lost, repeated or reordered pieces change its hash); its SHA-256."""
    with path.open("wb") as fh:
        fh.truncate(size)
        for offset in range(0, size, 64 * MIB):
            fh.seek(offset)
            fh.write(f"piece at {offset}\n".encode() * 100)
    return _sha256(path.open("rb"))


def _sha256(chunks: Iterable[bytes] | BinaryIO) -> str:
    h = hashlib.sha256()
    if hasattr(chunks, "read"):
        with chunks:
            while piece := chunks.read(MIB):
                h.update(piece)
    else:
        for piece in chunks:
            h.update(piece)
    return h.hexdigest()


def _store_files(home: Path) -> list[str]:
    """Every file in the store and among the server's uploads in progress."""
    return sorted(p.relative_to(home).as_posix() for d in ("store", "uploads") if (home / d).exists()
                  for p in (home / d).rglob("*") if p.is_file())


@pytest.mark.slow
def test_a_1_gib_object_goes_up_and_down_in_bounded_server_memory(session, home: Path, tmp_path: Path) -> None:
    client = session.client
    server = _server(home)
    src = tmp_path / "big.bin"
    expected = _sparse_object(src, 1 << 30)
    # Warm the paths the transfers take, so the idle figure holds what they import.
    small = client.upload("warm/small.bin", b"x" * MIB)
    client.download(small, tmp_path / "small.bin")
    time.sleep(0.2)
    idle, hwm_before = server.memory_info().rss, _peak_rss(server)
    peak, done = idle, threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, server.memory_info().rss)
            time.sleep(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        uri = client.upload("big/object.bin", src)
        headers = {"Authorization": f"Bearer {client.token}"}
        with httpx.stream("GET", f"{client.url}/v1/store/big/object.bin", headers=headers, timeout=60) as resp:
            assert resp.status_code == 200 and resp.headers["content-length"] == str(1 << 30)
            got = _sha256(resp.iter_raw())
        down = client.download(uri, tmp_path / "down" / "object.bin")
    finally:
        done.set()
        sampler.join()
    print(f"server RSS: idle {idle / MIB:.0f} MiB, peak during transfers {peak / MIB:.0f} MiB, "
          f"high-water mark {hwm_before / MIB:.0f} -> {_peak_rss(server) / MIB:.0f} MiB")
    assert got == expected
    assert down.stat().st_size == 1 << 30 and _sha256(down.open("rb")) == expected
    assert peak <= idle + 64 * MIB
    assert _peak_rss(server) <= max(hwm_before, idle + 64 * MIB)  # no spike between samples either
    assert _store_files(home) == ["store/big/object.bin", "store/warm/small.bin"]
    assert sorted(p.name for p in (tmp_path / "down").iterdir()) == ["object.bin"]


def test_uploads_over_the_limit_get_413_and_leave_nothing(home: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLYARD_MAX_UPLOAD_BYTES", str(4 * MIB))
    client = mlyard.Session().client
    headers = {"Authorization": f"Bearer {client.token}"}
    at_limit = tmp_path / "at-limit.bin"
    at_limit.write_bytes(b"a" * (4 * MIB))
    assert client.read_uri(client.upload("ok.bin", at_limit)) == at_limit.read_bytes()
    over = tmp_path / "over.bin"
    over.write_bytes(b"b" * (64 * MIB))
    with pytest.raises(PayloadTooLargeError, match="limit of 4194304 bytes"):
        client.upload("over.bin", over)  # declared too large: refused before the body is read

    def chunked() -> Iterator[bytes]:  # no Content-Length: refused once the limit is crossed
        for _ in range(16):
            yield b"c" * MIB

    resp = httpx.put(f"{client.url}/v1/store/chunked.bin", headers=headers, content=chunked())
    assert resp.status_code == 413
    assert resp.json()["error"] == "PayloadTooLarge" and "MLYARD_MAX_UPLOAD_BYTES" in resp.json()["message"]
    # A replaced object stays whole: a refused upload under its key does not touch it.
    resp = httpx.put(f"{client.url}/v1/store/ok.bin", headers=headers, content=chunked())
    assert resp.status_code == 413
    assert client.read_uri(f"{client.health()['store']}/ok.bin") == at_limit.read_bytes()
    assert _store_files(home) == ["store/ok.bin"]


def test_sources_stream_under_the_same_limit_and_are_named_by_their_hash(home: Path, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLYARD_MAX_UPLOAD_BYTES", str(4 * MIB))
    client = mlyard.Session().client
    code = tmp_path / "sourcedir.tar.gz"
    code.write_bytes(os.urandom(3 * MIB))
    digest = hashlib.sha256(code.read_bytes()).hexdigest()
    uri = client.upload_source(code, code.name)  # sent from disk
    assert uri == f"s3://{client.health()['default_bucket']}/sources/{digest}/sourcedir.tar.gz"
    assert client.upload_source(code.read_bytes(), code.name) == uri  # the same content: the same object
    over = tmp_path / "over.tar.gz"
    over.write_bytes(b"b" * (8 * MIB))
    with pytest.raises(PayloadTooLargeError, match="limit of 4194304 bytes"):
        client.upload_source(over, over.name)

    def chunked() -> Iterator[bytes]:  # no Content-Length: refused once the limit is crossed
        for _ in range(16):
            yield b"c" * MIB

    resp = httpx.put(f"{client.url}/v1/sources/sourcedir.tar.gz", content=chunked(),
                     headers={"Authorization": f"Bearer {client.token}"})
    assert resp.status_code == 413 and resp.json()["error"] == "PayloadTooLarge"
    assert _store_files(home) == [f"store/sources/{digest}/sourcedir.tar.gz"]


def test_an_object_written_by_content_is_named_by_its_hash_and_never_replaced(tmp_path: Path) -> None:
    root = f"file://{tmp_path}/store"
    first, second = (store.ObjectWriter(f"{root}/sources/code.py", by_content=True) for _ in range(2))
    for writer in (first, second):
        writer.write(b"print(1)\n")
    digest = hashlib.sha256(b"print(1)\n").hexdigest()
    uri = first.commit()
    assert uri == f"{root}/sources/{digest}/code.py" and first.sha256 == digest
    inode = os.stat(uri[len("file://"):]).st_ino
    assert second.commit() == uri and os.stat(uri[len("file://"):]).st_ino == inode  # the first one stays
    assert everything(tmp_path / "store") == ["sources", f"sources/{digest}", f"sources/{digest}/code.py"]


def test_an_interrupted_upload_leaves_nothing(session, home: Path) -> None:
    client = session.client
    host, port = client.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(f"PUT /v1/store/cut/short.bin HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer "
                     f"{client.token}\r\nContent-Length: {64 * MIB}\r\n\r\n".encode() + b"x" * (8 * MIB))
        wait_for(lambda: any((home / "uploads").glob("*.partial")) or None, timeout=10)
    # The server sees the connection go, drops what it had, and stores nothing.
    wait_for(lambda: _store_files(home) == [], timeout=10)
    assert client.upload("cut/short.bin", b"whole") and _store_files(home) == ["store/cut/short.bin"]
