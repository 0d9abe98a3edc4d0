"""Batch transform: Transformer jobs through real model servers, and the record handling under them."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from conftest import write_script
from hypothesis import given
from hypothesis import strategies as st

from mlyard.errors import UnexpectedStatusException, ValidationError
from mlyard.model import Model
from mlyard.runtime import records
from mlyard.sklearn import SKLearnModel
from mlyard.transformer import Transformer

MAGIC = 0xCED7230A


@dataclass
class Iris:
    x: np.ndarray
    pred: np.ndarray
    tar: Path


@pytest.fixture(scope="module")
def iris(tmp_path_factory: pytest.TempPathFactory) -> Iris:
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    root = tmp_path_factory.mktemp("iris-transform")
    x, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=1000).fit(x, y)
    joblib.dump(model, root / "model.joblib")
    with tarfile.open(root / "model.tar.gz", "w:gz") as tar:
        tar.add(root / "model.joblib", arcname="model.joblib")
    return Iris(x, model.predict(x), root / "model.tar.gz")


def _csv_rows(rows: np.ndarray) -> str:
    return "".join(",".join(map(str, r)) + "\n" for r in rows)


def _outputs(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def _ints(body: bytes) -> list[int]:
    return [int(v) for v in body.split()]


def _recordio(payload: bytes) -> bytes:
    return struct.pack("<II", MAGIC, len(payload)) + payload + b"\0" * (-len(payload) % 4)


def _tfrecord(payload: bytes) -> bytes:
    return struct.pack("<Q", len(payload)) + b"\0\0\0\0" + payload + b"\0\0\0\0"


# -- jobs -----------------------------------------------------------------------------------------

def test_csv_lines_single_and_multi_record_on_two_instances(session, home: Path, tmp_path: Path,
                                                            iris: Iris) -> None:
    data = tmp_path / "in"
    parts = {"part-0.csv": slice(0, 50), "part-1.csv": slice(50, 110), "nested/part-2.csv": slice(110, 150)}
    for key, rows in parts.items():
        (data / key).parent.mkdir(parents=True, exist_ok=True)
        (data / key).write_text(_csv_rows(iris.x[rows]))
    model = SKLearnModel(model_data=str(iris.tar), role="r", framework_version="1.5")
    results = {}
    for strategy in ("MultiRecord", "SingleRecord"):
        out = tmp_path / f"out-{strategy}"
        transformer = model.transformer(instance_count=2, instance_type="local", strategy=strategy,
                                        assemble_with="Line", accept="text/csv", output_path=str(out))
        assert isinstance(transformer, Transformer)
        transformer.transform(str(data), content_type="text/csv", split_type="Line", logs=False)
        results[strategy] = _outputs(out)
        desc = transformer.describe()
        assert desc["TransformJobStatus"] == "Completed" and "FailureReason" not in desc
        assert desc["TransformJobName"] == transformer.latest_transform_job.job_name
        assert desc["ModelName"] == model.name and desc["BatchStrategy"] == strategy
        assert desc["TransformInput"]["SplitType"] == "Line"
        assert desc["TransformInput"]["ContentType"] == "text/csv"
        # The client's local input, uploaded by its content.
        assert desc["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"].startswith(
            f"s3://{session.default_bucket()}/inputs/")
        assert desc["TransformOutput"] == {"S3OutputPath": f"file://{out}", "Accept": "text/csv",
                                           "AssembleWith": "Line", "KmsKeyId": None}
        assert desc["TransformResources"] == {"InstanceType": "local", "InstanceCount": 2}
        assert desc["TransformStartTime"] and desc["TransformEndTime"]
        assert [t["Status"] for t in desc["SecondaryStatusTransitions"]][-1] == "Completed"
        # The objects were shared between two model servers.
        logs = home / "jobs" / transformer.latest_transform_job.job_name / "logs"
        for host in ("algo-1", "algo-2"):
            assert "mlyard model server (sklearn) listening on" in (logs / f"{host}.log").read_text()
    assert results["MultiRecord"] == results["SingleRecord"]
    assert set(results["MultiRecord"]) == {f"{k}.out" for k in parts}
    for key, rows in parts.items():
        assert _ints(results["MultiRecord"][f"{key}.out"]) == iris.pred[rows].tolist()
    listed = subprocess.run([sys.executable, "-m", "mlyard", "jobs", "list"], capture_output=True, text=True,
                            env={**os.environ, "MLYARD_HOME": str(home), "COLUMNS": "250"}, timeout=120)
    lines = [line for line in listed.stdout.splitlines() if "-transform-" in line]
    assert len(lines) == 2 and all("transform" in line.split() and "Completed" in line for line in lines), \
        listed.stdout
    assert {j["JobName"] for j in session.client.list_jobs(kind="transform")} == \
        {j["JobName"] for j in session.client.list_jobs() if "-transform-" in j["JobName"]}


def test_mini_batches_and_assemble_with(session, tmp_path: Path, iris: Iris) -> None:
    data = tmp_path / "in"
    data.mkdir()
    reps = 1100  # 165,000 rows, about 2.6 MB: three mini-batches of at most 1 MB
    (data / "all.csv").write_text(_csv_rows(iris.x) * reps)
    expected = iris.pred.tolist() * reps
    outs = {}
    for assemble in ("Line", "None"):
        out = tmp_path / f"out-{assemble}"
        transformer = Transformer(SKLearnModel(model_data=str(iris.tar), role="r").create(), 1, "local",
                                  strategy="MultiRecord", assemble_with=assemble, accept="application/json",
                                  max_payload=1, output_path=str(out))
        transformer.transform(str(data), content_type="text/csv", split_type="Line", logs=False)
        outs[assemble] = (out / "all.csv.out").read_bytes()
    batches = [json.loads(line) for line in outs["Line"].splitlines()]
    assert len(batches) == 3 and all(len(b) * 16 <= 2**20 for b in batches)  # every row is 16 bytes with its newline
    assert [v for b in batches for v in b] == expected
    # Line: a newline after each response; None: the responses back to back.
    assert outs["Line"].endswith(b"]\n") and outs["Line"].count(b"\n") == len(batches)
    assert outs["None"] == outs["Line"].replace(b"\n", b"")


def test_max_payload_under_one_mb(session, tmp_path: Path, iris: Iris) -> None:
    (tmp_path / "in.csv").write_text(_csv_rows(iris.x))
    out = tmp_path / "out"
    SKLearnModel(model_data=str(iris.tar), role="r").transformer(
        instance_count=1, instance_type="local", assemble_with="Line", accept="application/json",
        max_payload=500 / 2**20, output_path=str(out)).transform(
        str(tmp_path / "in.csv"), content_type="text/csv", split_type="Line", logs=False)
    batches = [json.loads(line) for line in (out / "in.csv.out").read_bytes().splitlines()]
    assert len(batches) > 1 and [v for b in batches for v in b] == iris.pred.tolist()


def test_split_none_sends_whole_objects(session, tmp_path: Path, iris: Iris) -> None:
    data = tmp_path / "in"
    data.mkdir()
    cuts = {"a.json": slice(0, 10), "b.json": slice(10, 75), "c.json": slice(75, 150)}
    for key, rows in cuts.items():
        (data / key).write_text(json.dumps(iris.x[rows].tolist(), indent=1))  # multi-line JSON documents
    out = tmp_path / "out"
    transformer = SKLearnModel(model_data=str(iris.tar), role="r").transformer(
        instance_count=1, instance_type="local", output_path=str(out))
    transformer.transform(str(data), content_type="application/json", logs=False)
    outputs = _outputs(out)
    assert set(outputs) == {f"{k}.out" for k in cuts}
    for key, rows in cuts.items():  # one request per object: one JSON answer per object
        assert json.loads(outputs[f"{key}.out"]) == iris.pred[rows].tolist()
    assert transformer.describe()["TransformInput"]["SplitType"] == "None"


INFERENCE = """
    import json
    import struct

    import numpy as np

    MAGIC = 0xCED7230A


    def _recordio(body):
        rows, pos = [], 0
        while pos < len(body):
            magic, word = struct.unpack_from("<II", body, pos)
            if magic != MAGIC:
                raise ValueError(f"not RecordIO framing at byte {pos}")
            n = word & ((1 << 29) - 1)
            rows.append(json.loads(body[pos + 8: pos + 8 + n]))
            pos += 8 + n + (-n % 4)
        return rows


    def _tfrecord(body):
        rows, pos = [], 0
        while pos < len(body):
            (n,) = struct.unpack_from("<Q", body, pos)
            if len(body) < pos + 16 + n:
                raise ValueError(f"not TFRecord framing at byte {pos}")
            rows.append(json.loads(body[pos + 12: pos + 12 + n]))
            pos += 16 + n
        return rows


    def input_fn(body, content_type):
        parse = {"application/x-recordio": _recordio, "application/x-tfrecord": _tfrecord}[content_type]
        return np.asarray(parse(body), dtype="float64")


    def output_fn(prediction, accept):
        return json.dumps({"records": len(prediction), "predictions": prediction.tolist()}), "application/json"
"""


@pytest.mark.parametrize("split", ["RecordIO", "TFRecord"])
def test_framed_records_reach_the_model_framed(session, tmp_path: Path, iris: Iris, split: str) -> None:
    write_script(tmp_path / "code", "inference.py", INFERENCE)
    model = Model(model_data=str(iris.tar), entry_point="inference.py", source_dir=str(tmp_path / "code"), role="r")
    frame, content_type = (_recordio, "application/x-recordio") if split == "RecordIO" \
        else (_tfrecord, "application/x-tfrecord")
    data = tmp_path / "in"
    data.mkdir()
    rows = {"a.rec": slice(0, 30), "b.rec": slice(30, 50)}
    for key, sl in rows.items():  # records of assorted lengths: RecordIO pads some of them
        payloads = [(json.dumps(r.tolist()) + " " * (i % 4)).encode() for i, r in enumerate(iris.x[sl])]
        assert {len(p) % 4 for p in payloads} == {0, 1, 2, 3}
        (data / key).write_bytes(b"".join(frame(p) for p in payloads))
    out = {}
    for strategy, assemble in (("MultiRecord", "None"), ("SingleRecord", "Line")):
        out[strategy] = tmp_path / f"out-{strategy}"
        model.transformer(instance_count=1, instance_type="local", strategy=strategy, assemble_with=assemble,
                          accept="application/json", output_path=str(out[strategy])).transform(
            str(data), content_type=content_type, split_type=split, logs=False)
    for key, sl in rows.items():
        whole = json.loads((out["MultiRecord"] / f"{key}.out").read_bytes())
        assert whole == {"records": sl.stop - sl.start, "predictions": iris.pred[sl].tolist()}
        single = [json.loads(line) for line in (out["SingleRecord"] / f"{key}.out").read_bytes().splitlines()]
        assert [s["records"] for s in single] == [1] * (sl.stop - sl.start)
        assert [p for s in single for p in s["predictions"]] == iris.pred[sl].tolist()


def test_input_filter_join_and_output_filter_on_csv(session, tmp_path: Path, iris: Iris) -> None:
    data = tmp_path / "in"
    data.mkdir()
    ids = [f"id{i:03d}" for i in range(len(iris.x))]
    (data / "rows.csv").write_text("".join(f"{i},{','.join(map(str, r))}\n" for i, r in zip(ids, iris.x,
                                                                                             strict=True)))
    out = tmp_path / "out"
    transformer = SKLearnModel(model_data=str(iris.tar), role="r").transformer(  # one request per row
        instance_count=1, instance_type="local", strategy="SingleRecord", assemble_with="Line", accept="text/csv",
        output_path=str(out))
    transformer.transform(str(data), content_type="text/csv", split_type="Line", input_filter="$[1:]",
                          join_source="Input", output_filter="$[0,-1]", logs=False)
    lines = (out / "rows.csv.out").read_text().splitlines()
    assert lines == [f"{i},{p}" for i, p in zip(ids, iris.pred, strict=True)]
    assert transformer.describe()["DataProcessing"] == {"InputFilter": "$[1:]", "OutputFilter": "$[0,-1]",
                                                        "JoinSource": "Input"}
    # Joined, unfiltered: the whole input row, then the output.
    out2 = tmp_path / "out2"
    SKLearnModel(model_data=str(iris.tar), role="r").transformer(
        instance_count=1, instance_type="local", assemble_with="Line", accept="text/csv",
        output_path=str(out2)).transform(str(data), content_type="text/csv", split_type="Line",
                                         input_filter="$[1:]", join_source="Input", logs=False)
    src = (data / "rows.csv").read_text().splitlines()
    assert (out2 / "rows.csv.out").read_text().splitlines() == [f"{s},{p}" for s, p in zip(src, iris.pred,
                                                                                             strict=True)]


def test_json_lines_filter_and_join(session, tmp_path: Path, iris: Iris) -> None:
    data = tmp_path / "in"
    data.mkdir()
    docs = [{"id": i, "features": r.tolist(), "note": "x" * (i % 3)} for i, r in enumerate(iris.x)]
    (data / "rows.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    out = tmp_path / "out"
    transformer = SKLearnModel(model_data=str(iris.tar), role="r").transformer(
        instance_count=1, instance_type="local", assemble_with="Line", output_path=str(out))
    transformer.transform(str(data), content_type="application/jsonlines", split_type="Line",
                          input_filter="$.features", join_source="Input", logs=False)
    got = [json.loads(line) for line in (out / "rows.jsonl.out").read_text().splitlines()]
    assert got == [{**d, "SageMakerOutput": int(p)} for d, p in zip(docs, iris.pred, strict=True)]


def test_a_rejected_object_fails_the_job_without_its_output(session, tmp_path: Path, iris: Iris) -> None:
    data = tmp_path / "in"
    data.mkdir()
    (data / "bad.csv").write_text(_csv_rows(iris.x[:5, :2]))  # two features where the model takes four
    out = tmp_path / "out"
    transformer = SKLearnModel(model_data=str(iris.tar), role="r").transformer(
        instance_count=1, instance_type="local", accept="text/csv", output_path=str(out))
    with pytest.raises(UnexpectedStatusException, match="Failed") as raised:
        transformer.transform(str(data), content_type="text/csv", split_type="Line", logs=False)
    assert raised.value.actual_status == "Failed"
    desc = transformer.describe()
    assert desc["TransformJobStatus"] == "Failed"
    reason = desc["FailureReason"]
    assert "bad.csv" in reason and "400" in reason and "features" in reason
    assert not (out / "bad.csv.out").exists()


def test_missing_input_is_rejected_before_the_job_starts(session, tmp_path: Path, iris: Iris) -> None:
    model = SKLearnModel(model_data=str(iris.tar), role="r")
    transformer = model.transformer(instance_count=1, instance_type="local", output_path=str(tmp_path / "out"))
    with pytest.raises(ValidationError, match="does not exist"):
        transformer.transform(str(tmp_path / "nowhere"), content_type="text/csv", logs=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValidationError, match="is empty"):
        transformer.transform(str(tmp_path / "empty"), content_type="text/csv", logs=False)
    (tmp_path / "in.csv").write_text("1,2,3,4\n")
    with pytest.raises(ValidationError, match="InputFilter"):
        transformer.transform(str(tmp_path / "in.csv"), content_type="text/csv", input_filter="features", logs=False)
    with pytest.raises(ValidationError, match="instance_count"):
        model.transformer(instance_count=0, instance_type="local")
    assert session.client.list_jobs(kind="transform") == []
    assert not (tmp_path / "out").exists()


def test_describe_times_are_datetimes(session, tmp_path: Path, iris: Iris) -> None:
    from datetime import datetime

    (tmp_path / "in.csv").write_text(_csv_rows(iris.x[:3]))
    transformer = SKLearnModel(model_data=str(iris.tar), role="r").transformer(
        instance_count=1, instance_type="local", output_path=str(tmp_path / "out"))
    transformer.transform(str(tmp_path / "in.csv"), content_type="text/csv", split_type="Line", logs=False)
    desc = transformer.describe()
    assert isinstance(desc["CreationTime"], datetime)
    assert isinstance(desc["TransformStartTime"], datetime) and isinstance(desc["TransformEndTime"], datetime)


# -- records.py -----------------------------------------------------------------------------------

def test_split_none_and_line() -> None:
    assert records.split_records(b"a\nb", None) == [b"a\nb"]
    assert records.split_records(b"a\nb", "None") == [b"a\nb"]
    assert records.split_records(b"", "None") == []
    assert records.split_records(b"1,2\r\n\n3,4\n  \n5,6", "Line") == [b"1,2", b"3,4", b"5,6"]
    with pytest.raises(ValueError, match="SplitType"):
        records.split_records(b"x", "Paragraph")


def test_split_recordio_keeps_the_framing() -> None:
    payloads = [b"", b"a", b"abcd", b"abcdefg", bytes(range(256))]
    blob = b"".join(_recordio(p) for p in payloads)
    split = records.split_records(blob, "RecordIO")
    assert split == [_recordio(p) for p in payloads]
    assert all(len(r) % 4 == 0 for r in split)
    with pytest.raises(ValueError, match="magic"):
        records.split_records(b"\0" * 8, "RecordIO")
    with pytest.raises(ValueError, match="truncated"):
        records.split_records(blob[:-1], "RecordIO")
    with pytest.raises(ValueError, match="truncated"):
        records.split_records(_recordio(b"abc") + struct.pack("<I", MAGIC), "RecordIO")


def test_split_tfrecord_keeps_the_framing() -> None:
    payloads = [b"x", b"", b"hello tfrecord"]
    blob = b"".join(_tfrecord(p) for p in payloads)
    assert records.split_records(blob, "TFRecord") == [_tfrecord(p) for p in payloads]
    with pytest.raises(ValueError, match="truncated"):
        records.split_records(blob[:-2], "TFRecord")
    with pytest.raises(ValueError, match="truncated"):
        records.split_records(struct.pack("<Q", 5), "TFRecord")


@given(st.lists(st.binary(min_size=0, max_size=40), max_size=30),
       st.sampled_from(["RecordIO", "TFRecord"]))
def test_framed_split_round_trips(payloads: list[bytes], split: str) -> None:
    frame = _recordio if split == "RecordIO" else _tfrecord
    assert records.split_records(b"".join(frame(p) for p in payloads), split) == [frame(p) for p in payloads]


@given(st.lists(st.binary(min_size=1, max_size=50), max_size=40), st.integers(1, 200),
       st.sampled_from(["Line", "RecordIO", None]))
def test_multi_record_batches_are_full_and_in_order(recs: list[bytes], limit: int, split: str | None) -> None:
    batches = list(records.mini_batches(recs, "MultiRecord", limit, split))
    assert [r for b in batches for r in b] == recs
    assert all(batches)
    sep = 1 if split == "Line" else 0
    for i, batch in enumerate(batches):
        size = len(records.join_payload(batch, split))
        assert size == sum(len(r) + sep for r in batch)
        assert size <= limit or len(batch) == 1  # only a record too large by itself goes over
        if i + 1 < len(batches):  # no batch could have taken the next record too
            assert size + len(batches[i + 1][0]) + sep > limit


def test_single_record_batches() -> None:
    recs = [b"a", b"bb", b"c"]
    assert list(records.mini_batches(recs, "SingleRecord", 10**6, "Line")) == [[b"a"], [b"bb"], [b"c"]]
    assert list(records.mini_batches([], "MultiRecord", 10, "Line")) == []
    assert list(records.mini_batches(recs, "MultiRecord", 10**6, "Line")) == [recs]
    assert records.join_payload([b"1,2", b"3,4"], "Line") == b"1,2\n3,4\n"
    assert records.join_payload([b"ab", b"cd"], "RecordIO") == b"abcd"


def test_jsonpath() -> None:
    row = ["id7", "5.1", "3.5", "1.4", "0.2"]
    assert records.jsonpath(row, "$") == row
    assert records.jsonpath(row, "$[1:]") == row[1:]
    assert records.jsonpath(row, "$[:2]") == row[:2]
    assert records.jsonpath(row, "$[-2:]") == row[-2:]
    assert records.jsonpath(row, "$[0,-1]") == ["id7", "0.2"]
    assert records.jsonpath(row, "$[ 0 , 2 ]") == ["id7", "3.5"]
    assert records.jsonpath(row, "$[1]") == "5.1"
    doc = {"features": [1, 2, 3], "meta": {"the id": 7, "tags": ["a", "b"]}}
    assert records.jsonpath(doc, "$.features") == [1, 2, 3]
    assert records.jsonpath(doc, "$.features[1:]") == [2, 3]
    assert records.jsonpath(doc, "$['meta']['the id']") == 7
    assert records.jsonpath(doc, '$["meta"].tags[-1]') == "b"
    with pytest.raises(ValueError, match="out of range"):
        records.jsonpath(row, "$[0,9]")
    with pytest.raises(ValueError, match="no key 'label'"):
        records.jsonpath(doc, "$.label")
    with pytest.raises(ValueError, match="must start with"):
        records.jsonpath(doc, "features")
    with pytest.raises(ValueError, match="cannot read"):
        records.jsonpath(doc, "$..features")
    with pytest.raises(ValueError, match="indexing a dict"):
        records.jsonpath(doc, "$[0]")
    with pytest.raises(ValueError, match="slicing a str"):
        records.jsonpath("abc", "$[1:]")


def test_join_parse_render_and_split_response() -> None:
    assert records.join(["a", "1.5"], "2", "text/csv") == ["a", "1.5", "2"]
    assert records.join(["a"], ["0.1", "0.9"], "text/csv") == ["a", "0.1", "0.9"]
    assert records.join("a", "2", "text/csv") == ["a", "2"]
    assert records.join({"f": [1]}, 2, "application/json") == {"f": [1], "SageMakerOutput": 2}
    assert records.join([1, 2], 0, "application/jsonlines") == {"SageMakerInput": [1, 2], "SageMakerOutput": 0}
    assert records.join(3.5, [0, 1], "application/json") == {"SageMakerInput": 3.5, "SageMakerOutput": [0, 1]}
    # CSV fields travel as text, quotes included.
    parsed = records.parse_record(b'a,"b,c",1.50', "text/csv")
    assert parsed == ["a", "b,c", "1.50"]
    assert records.render_record(parsed, "text/csv") == b'a,"b,c",1.50'
    assert records.render_record("x", "text/csv") == b"x"
    assert records.parse_record(b'{"a": [1, 2]}', "application/jsonlines") == {"a": [1, 2]}
    assert records.render_record({"a": [1, 2]}, "application/json") == b'{"a":[1,2]}'
    assert records.split_response(b"0\n1\n2\n", "text/csv; charset=utf-8", 3) == ["0", "1", "2"]
    assert records.split_response(b"0.1,0.9\n0.8,0.2\n", "text/csv", 2) == [["0.1", "0.9"], ["0.8", "0.2"]]
    assert records.split_response(b"0\n1\n", "text/csv", 3) is None
    assert records.split_response(b"[0, 1, 2]", "application/json", 3) == [0, 1, 2]
    assert records.split_response(b'{"predictions": [[0.5], [0.7]]}', "application/json", 2) == [0.5, 0.7]
    assert records.split_response(b"[0, 1]", "application/json", 3) is None
    assert records.split_response(b'{"a": 1}\n{"a": 2}\n', "application/jsonlines", 2) == [{"a": 1}, {"a": 2}]
    assert records.split_response(b"\x93NUMPY", "application/x-npy", 1) is None


def test_default_bucket_uris_for_model_input_and_output(session, tmp_path: Path, iris: Iris) -> None:
    """A notebook's URIs: the model and the data in the default bucket, the output where mlyard
    puts it by default (under the default bucket); every description shows those s3:// URIs."""
    from mlyard.s3 import S3Downloader, S3Uploader

    bucket = session.default_bucket()
    model_data = S3Uploader.upload(str(iris.tar), f"s3://{bucket}/iris/model")
    (tmp_path / "in.csv").write_text(_csv_rows(iris.x))
    data = session.upload_data(str(tmp_path / "in.csv"), key_prefix="iris/batch")
    model = SKLearnModel(model_data=model_data, role="r", framework_version="1.5")
    transformer = model.transformer(instance_count=1, instance_type="local", assemble_with="Line",
                                    accept="text/csv")
    transformer.transform(data, content_type="text/csv", split_type="Line", logs=False)
    desc = transformer.describe()
    name = desc["TransformJobName"]
    assert desc["TransformJobStatus"] == "Completed", desc.get("FailureReason")
    assert desc["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"] == f"s3://{bucket}/iris/batch/in.csv"
    assert desc["TransformOutput"]["S3OutputPath"] == f"s3://{bucket}/{name}/output"
    assert "file://" not in json.dumps(desc, default=str)
    model_desc = session.client.request("GET", f"/v1/models/{model.name}")
    assert model_desc["PrimaryContainer"]["ModelDataUrl"] == f"s3://{bucket}/iris/model/model.tar.gz"
    out = S3Downloader.read_file(f"s3://{bucket}/{name}/output/in.csv.out")
    assert [float(v) for v in out.split()] == [float(v) for v in iris.pred]
