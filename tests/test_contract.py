"""The pure parts of a job's contract: SM_* variables and arguments, metric parsing, channel
sharding, instance types and the fitting of requests to this machine, and admission."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlyard import store
from mlyard.compute.instance_types import INSTANCE_TYPES, Resources, lookup
from mlyard.compute.resources import detect_gpus, fit_request, machine
from mlyard.compute.scheduler import Allocation, Scheduler
from mlyard.errors import ValidationError
from mlyard.runtime.channels import assign, resolve_objects
from mlyard.runtime.contract import (
    RESERVED_HYPERPARAMETERS,
    HostLayout,
    cli_args,
    decode_hyperparameters,
    sm_env,
    split_hyperparameters,
)
from mlyard.runtime.metrics import LineSplitter, MetricParser, compile_definitions


def compact(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


# -- hyperparameters and the command line ------------------------------------------------------

def test_decode_hyperparameters_json_decodes_and_keeps_raw_strings() -> None:
    raw = {"epochs": "5", "lr": "0.01", "optimizer": '"adam"', "flag": "true", "nothing": "null",
           "layers": "[64, 32]", "d": '{"k": 1}', "plain": "adam", "path": "/opt/ml/model", "tiny": "1e-3"}
    assert decode_hyperparameters(raw) == {
        "epochs": 5, "lr": 0.01, "optimizer": "adam", "flag": True, "nothing": None, "layers": [64, 32],
        "d": {"k": 1}, "plain": "adam", "path": "/opt/ml/model", "tiny": 0.001}
    assert isinstance(decode_hyperparameters({"epochs": "5"})["epochs"], int)


def test_split_hyperparameters_separates_reserved_and_framework_parameters() -> None:
    decoded = {"epochs": 5, "model_dir": "/opt/ml/model", "sagemaker_program": "train.py",
               "sagemaker_submit_directory": "file:///x/sourcedir.tar.gz", "sagemaker_region": "local",
               "sagemaker_container_log_level": 20, "sagemaker_job_name": "j",
               "_tuning_objective_metric": "loss", "sagemaker_mpi_enabled": True,
               "sagemaker_distributed_dataparallel_enabled": False}
    user, reserved, extra = split_hyperparameters(decoded)
    assert user == {"epochs": 5, "model_dir": "/opt/ml/model"}
    assert reserved == {"sagemaker_program": "train.py", "sagemaker_submit_directory": "file:///x/sourcedir.tar.gz",
                        "sagemaker_region": "local", "sagemaker_container_log_level": 20,
                        "sagemaker_job_name": "j", "_tuning_objective_metric": "loss"}
    assert extra == {"sagemaker_mpi_enabled": True, "sagemaker_distributed_dataparallel_enabled": False}
    assert set(reserved) <= RESERVED_HYPERPARAMETERS


def test_cli_args_match_the_tf2_sample_command_line() -> None:
    user = {"learning_rate": 0.01, "model_dir": "/opt/ml/model", "epochs": 5, "batch_size": 128}
    assert cli_args(user) == ["--batch_size", "128", "--epochs", "5", "--learning_rate", "0.01",
                              "--model_dir", "/opt/ml/model"]


def test_cli_args_one_char_keys_booleans_and_dicts() -> None:
    user = {"name": "x", "d": {"k1": "v1", "k2": 2}, "b": True, "alpha": 0.5, "off": False, "n": None}
    assert cli_args(user) == ["--alpha", "0.5", "-b", "True", "-d", "k1=v1,k2=2", "-n", "None",
                              "--name", "x", "--off", "False"]
    assert cli_args({}) == []


def test_cli_args_render_dict_items_sorted_like_the_toolkit() -> None:
    assert cli_args({"d": {"z": 1, "a": 2}}) == ["-d", "a=2,z=1"]


def test_raw_hyperparameters_to_command_line() -> None:
    raw = {"epochs": "5", "batch_size": "128", "optimizer": '"adam"', "sagemaker_program": '"train.py"',
           "sagemaker_job_name": '"j"', "sagemaker_mpi_enabled": "true"}
    user, _, extra = split_hyperparameters(decode_hyperparameters(raw))
    assert cli_args(user) == ["--batch_size", "128", "--epochs", "5", "--optimizer", "adam"]
    assert extra == {"sagemaker_mpi_enabled": True}


# -- SM_* variables ---------------------------------------------------------------------------

# Section 1.3 of reference/sagemaker-contracts.md (SM_TOPOLOGY is for GB200 clusters only).
SM_VARIABLES = [
    "SM_MODEL_DIR", "SM_CHANNELS", "SM_HPS", "SM_USER_ARGS", "SM_USER_ENTRY_POINT", "SM_MODULE_NAME",
    "SM_MODULE_DIR", "SM_FRAMEWORK_MODULE", "SM_FRAMEWORK_PARAMS", "SM_HOSTS", "SM_CURRENT_HOST",
    "SM_CURRENT_INSTANCE_TYPE", "SM_CURRENT_INSTANCE_GROUP", "SM_CURRENT_INSTANCE_GROUP_HOSTS",
    "SM_INSTANCE_GROUPS", "SM_INSTANCE_GROUPS_DICT", "SM_DISTRIBUTION_INSTANCE_GROUPS", "SM_IS_HETERO",
    "SM_NUM_GPUS", "SM_NUM_CPUS", "SM_NUM_NEURONS", "SM_NETWORK_INTERFACE_NAME", "SM_LOG_LEVEL",
    "SM_INPUT_DIR", "SM_INPUT_CONFIG_DIR", "SM_OUTPUT_DIR", "SM_OUTPUT_DATA_DIR", "SM_OUTPUT_INTERMEDIATE_DIR",
    "SM_RESOURCE_CONFIG", "SM_INPUT_DATA_CONFIG", "SM_TRAINING_ENV",
]

USER_HPS = {"epochs": 5, "optimizer": "adam", "learning-rate": 0.1, "layers": [64, 32],
            "opts": {"zeta": 1, "alpha": True}, "flag": False}
RESOURCE_CONFIG = {"hosts": ["algo-1", "algo-2"], "network_interface_name": "eth0", "current_host": "algo-2",
                   "current_instance_type": "ml.m5.xlarge"}
INPUT_DATA_CONFIG = {"train": {"TrainingInputMode": "File", "S3DistributionType": "ShardedByS3Key",
                               "RecordWrapperType": "None"},
                     "test": {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated",
                              "RecordWrapperType": "None"}}


def make_env(layout: HostLayout, current_host: str = "algo-2") -> dict[str, str]:
    return sm_env(layout=layout, job_name="job-1", hosts=["algo-1", "algo-2"], current_host=current_host,
                  instance_type="ml.m5.xlarge", user_hps=USER_HPS, framework_extra={"sagemaker_mpi_enabled": True},
                  module_dir="/opt/ml/code", entry_point="train.py", log_level=20, num_cpus=4, num_gpus=0,
                  resource_config=RESOURCE_CONFIG, input_data_config=INPUT_DATA_CONFIG,
                  user_args=cli_args(USER_HPS), region="local")


@pytest.fixture
def layout(tmp_path: Path) -> HostLayout:
    return HostLayout(real=tmp_path / "hosts" / "algo-2", seen="/opt/ml", channels=["train", "test"])


def test_sm_env_has_every_documented_variable_as_a_string(layout: HostLayout) -> None:
    env = make_env(layout)
    missing = [name for name in SM_VARIABLES if name not in env]
    assert missing == []
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in env.items())
    assert env["CURRENT_HOST"] == "algo-2"
    assert env["SAGEMAKER_JOB_NAME"] == "job-1" and env["TRAINING_JOB_NAME"] == "job-1"
    assert env["SAGEMAKER_REGION"] == "local"


def test_sm_env_paths_follow_the_opt_ml_layout(layout: HostLayout) -> None:
    env = make_env(layout)
    assert env["SM_MODEL_DIR"] == "/opt/ml/model"
    assert env["SM_INPUT_DIR"] == "/opt/ml/input"
    assert env["SM_INPUT_CONFIG_DIR"] == "/opt/ml/input/config"
    assert env["SM_OUTPUT_DIR"] == "/opt/ml/output"
    assert env["SM_OUTPUT_DATA_DIR"] == "/opt/ml/output/data"
    assert env["SM_OUTPUT_INTERMEDIATE_DIR"] == "/opt/ml/output/intermediate"
    assert env["SM_CHANNEL_TRAIN"] == "/opt/ml/input/data/train"
    assert env["SM_CHANNEL_TEST"] == "/opt/ml/input/data/test"
    assert not any(k.startswith("SM_CHANNEL_") and k != k.upper() for k in env)


def test_sm_env_strings_as_is_everything_else_compact_sorted_json(layout: HostLayout) -> None:
    env = make_env(layout)
    # strings, unquoted
    assert env["SM_CURRENT_HOST"] == "algo-2"
    assert env["SM_USER_ENTRY_POINT"] == "train.py" and env["SM_MODULE_NAME"] == "train"
    assert env["SM_MODULE_DIR"] == "/opt/ml/code"
    assert env["SM_CURRENT_INSTANCE_TYPE"] == "ml.m5.xlarge"
    assert env["SM_NETWORK_INTERFACE_NAME"] == "eth0"
    assert env["SM_HP_OPTIMIZER"] == "adam"
    # everything else: compact JSON, keys sorted
    assert env["SM_HOSTS"] == '["algo-1","algo-2"]'
    assert env["SM_CHANNELS"] == '["test","train"]'
    assert env["SM_NUM_CPUS"] == "4" and env["SM_NUM_GPUS"] == "0" and env["SM_LOG_LEVEL"] == "20"
    assert env["SM_IS_HETERO"] == "false"
    assert env["SM_HPS"] == ('{"epochs":5,"flag":false,"layers":[64,32],"learning-rate":0.1,'
                             '"optimizer":"adam","opts":{"alpha":true,"zeta":1}}')
    assert env["SM_HP_OPTS"] == '{"alpha":true,"zeta":1}'
    assert env["SM_HP_LAYERS"] == "[64,32]"
    assert env["SM_HP_EPOCHS"] == "5" and env["SM_HP_FLAG"] == "false"
    assert env["SM_FRAMEWORK_PARAMS"] == '{"sagemaker_mpi_enabled":true}'
    assert env["SM_RESOURCE_CONFIG"] == compact(RESOURCE_CONFIG)
    assert env["SM_RESOURCE_CONFIG"].startswith('{"current_host":"algo-2","current_instance_type"')
    assert env["SM_INPUT_DATA_CONFIG"] == compact(INPUT_DATA_CONFIG)
    assert env["SM_USER_ARGS"] == compact(cli_args(USER_HPS))
    for name in ("SM_TRAINING_ENV", "SM_INSTANCE_GROUPS_DICT", "SM_HPS"):
        assert env[name] == compact(json.loads(env[name])), name
        assert ": " not in env[name] and ", " not in env[name]


def test_sm_env_hyperparameter_names_keep_hyphens(layout: HostLayout) -> None:
    env = make_env(layout)
    assert env["SM_HP_LEARNING-RATE"] == "0.1"
    assert "SM_HP_LEARNING_RATE" not in env
    hp_vars = {k for k in env if k.startswith("SM_HP_")}
    assert hp_vars == {"SM_HP_EPOCHS", "SM_HP_OPTIMIZER", "SM_HP_LEARNING-RATE", "SM_HP_LAYERS", "SM_HP_OPTS",
                       "SM_HP_FLAG"}


def test_sm_env_training_env_describes_the_host(layout: HostLayout) -> None:
    worker = json.loads(make_env(layout)["SM_TRAINING_ENV"])
    assert worker["job_name"] == "job-1"
    assert worker["hyperparameters"] == USER_HPS
    assert worker["channel_input_dirs"] == {"test": "/opt/ml/input/data/test", "train": "/opt/ml/input/data/train"}
    assert worker["module_dir"] == "/opt/ml/code" and worker["module_name"] == "train"
    assert worker["current_host"] == "algo-2" and worker["master_hostname"] == "algo-1"
    assert worker["is_master"] is False
    assert worker["additional_framework_parameters"] == {"sagemaker_mpi_enabled": True}
    master = json.loads(make_env(layout, current_host="algo-1")["SM_TRAINING_ENV"])
    assert master["is_master"] is True


def test_sm_env_without_a_sandbox_uses_the_real_paths(tmp_path: Path) -> None:
    real = tmp_path / "hosts" / "algo-1"
    layout = HostLayout(real=real, seen=str(real), channels=["training"])
    layout.create()
    env = make_env(layout, current_host="algo-1")
    assert env["SM_MODEL_DIR"] == str(real / "model")
    assert env["SM_CHANNEL_TRAINING"] == str(real / "input" / "data" / "training")
    for name in ("SM_MODEL_DIR", "SM_CHANNEL_TRAINING", "SM_OUTPUT_DATA_DIR", "SM_INPUT_CONFIG_DIR",
                 "SM_OUTPUT_INTERMEDIATE_DIR"):
        assert Path(env[name]).is_dir(), name
    seen = HostLayout(real=real, seen="/opt/ml")
    assert seen.to_seen(str(real / "model" / "m.h5")) == "/opt/ml/model/m.h5"
    assert seen.to_seen("/elsewhere/x") == "/elsewhere/x"


# -- metrics from log lines -------------------------------------------------------------------

KERAS_DEFS = [{"Name": "loss", "Regex": " loss: ([0-9\\.]+)"}, {"Name": "val_loss", "Regex": " val_loss: ([0-9\\.]+)"}]


def lines_of(chunks: list[str]) -> list[str]:
    splitter = LineSplitter()
    out = [line for chunk in chunks for line in splitter.feed(chunk)]
    return out + list(splitter.flush())


def test_line_splitter_breaks_at_cr_and_lf_and_carries_partial_lines() -> None:
    splitter = LineSplitter()
    assert list(splitter.feed("first\nsec")) == ["first"]
    assert list(splitter.feed("ond\rthi")) == ["second"]
    assert list(splitter.feed("rd")) == []
    assert list(splitter.feed("\r\n\n")) == ["third"]
    assert list(splitter.feed("tail")) == []
    assert list(splitter.flush()) == ["tail"]
    assert list(splitter.flush()) == []


def test_line_splitter_drops_backspaces() -> None:
    assert lines_of(["ab\b\bcd\n", "\b\b\b\r", "x\by"]) == ["abcd", "xy"]


def test_metric_parser_reads_keras_epoch_lines() -> None:
    parser = MetricParser(KERAS_DEFS)
    assert parser
    keras3 = "12/12 - 0s - 5ms/step - loss: 2866.3276 - val_loss: 2718.3511"
    assert list(parser.parse(keras3)) == [("loss", 2866.3276), ("val_loss", 2718.3511)]
    keras2 = "12/12 [==============================] - 0s 5ms/step - loss: 12.5000 - val_loss: 13.0000"
    assert list(parser.parse(keras2)) == [("loss", 12.5), ("val_loss", 13.0)]


def test_loss_regex_does_not_match_val_loss() -> None:
    parser = MetricParser(KERAS_DEFS)
    assert list(parser.parse("Epoch 3/5 - val_loss: 2718.3511")) == [("val_loss", 2718.3511)]
    assert list(parser.parse("nothing to see here")) == []


def test_metric_parser_skips_nan_and_non_numbers() -> None:
    parser = MetricParser([{"Name": "acc", "Regex": "acc=(\\S+)"}, {"Name": "step", "Regex": "step [0-9]+"}])
    assert list(parser.parse("acc=nan acc=oops acc=0.75")) == [("acc", 0.75)]
    # without a group, the whole match is the value; it is no number here, so nothing
    assert list(parser.parse("step 3")) == []
    assert not MetricParser([])
    with pytest.raises(re.error):
        compile_definitions([{"Name": "bad", "Regex": "loss: ([0-9"}])


def keras_progress_stream() -> str:
    """What tf.keras writes to a terminal for one epoch of three steps with validation: each update
    erases the previous bar with backspaces, returns with \\r, and the epoch ends with \\n."""
    updates = ["1/3 [=========>....................] - ETA: 0s - loss: 3.0000",
               "2/3 [===================>..........] - ETA: 0s - loss: 2.5000",
               "3/3 [==============================] - 0s 5ms/step - loss: 2.0000 - val_loss: 1.9000"]
    out, prev = "", 0
    for i, update in enumerate(updates):
        out += "\b" * prev + "\r" + update
        prev = len(update)
        if i == len(updates) - 1:
            out += "\n"
    return "Epoch 1/1\n" + out + "done\n"


def test_keras_progress_bar_in_any_chunking_gives_the_same_metrics() -> None:
    stream = keras_progress_stream()
    whole = lines_of([stream])
    assert whole[0] == "Epoch 1/1" and whole[-1] == "done"
    assert not any("\b" in line or "\r" in line for line in whole)
    parser = MetricParser(KERAS_DEFS)
    found = [m for line in whole for m in parser.parse(line)]
    assert found == [("loss", 3.0), ("loss", 2.5), ("loss", 2.0), ("val_loss", 1.9)]
    for size in range(1, len(stream) + 1):
        chunks = [stream[i:i + size] for i in range(0, len(stream), size)]
        assert lines_of(chunks) == whole, size
    rng = random.Random(7)
    for _ in range(50):
        cuts = sorted(rng.sample(range(1, len(stream)), 12))
        chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
        assert lines_of(chunks) == whole


# -- channels: which host gets which objects ---------------------------------------------------

def objects(n: int) -> list[tuple[str, str]]:
    return [(f"file:///data/part-{i:03d}.csv", f"part-{i:03d}.csv") for i in range(n)]


def test_sharded_by_s3_key_gives_each_object_to_exactly_one_host() -> None:
    objs = objects(10)
    hosts = ["algo-1", "algo-2", "algo-3"]
    shards = assign(objs, hosts, "ShardedByS3Key")
    assert set(shards) == set(hosts)
    dealt = [o for h in hosts for o in shards[h]]
    assert sorted(dealt) == sorted(objs) and len(dealt) == len(objs)
    assert sorted(len(s) for s in shards.values()) == [3, 3, 4]
    shuffled = list(objs)
    random.Random(3).shuffle(shuffled)
    assert assign(shuffled, hosts, "ShardedByS3Key") == shards


def test_sharding_with_more_hosts_than_objects_leaves_some_hosts_empty() -> None:
    shards = assign(objects(2), ["algo-1", "algo-2", "algo-3"], "ShardedByS3Key")
    assert sorted(len(s) for s in shards.values()) == [0, 1, 1]
    assert sorted(o for s in shards.values() for o in s) == objects(2)


def test_fully_replicated_gives_every_host_everything() -> None:
    objs = objects(5)
    shards = assign(objs, ["algo-1", "algo-2"], "FullyReplicated")
    assert shards == {"algo-1": objs, "algo-2": objs}


def test_bad_distribution_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="FullyReplicated or ShardedByS3Key"):
        assign(objects(2), ["algo-1"], "Sharded")


def test_resolve_objects_for_a_prefix_and_a_manifest_file(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "a.csv").write_text("a")
    (data / "b.csv").write_text("b")
    (data / "sub" / "c.csv").write_text("c")
    assert [k for _, k in resolve_objects(f"file://{data}")] == ["a.csv", "b.csv", "sub/c.csv"]
    manifest = tmp_path / "train.manifest"
    manifest.write_text(json.dumps([{"prefix": f"file://{data}/"}, "sub/c.csv", "a.csv"]))
    found = resolve_objects(f"file://{manifest}", "ManifestFile")
    assert [k for _, k in found] == ["sub/c.csv", "a.csv"]
    assert [store.read_bytes(uri) for uri, _ in found] == [b"c", b"a"]
    shards = assign(found, ["algo-1", "algo-2"], "ShardedByS3Key")
    assert shards == {"algo-1": [found[1]], "algo-2": [found[0]]}


def test_resolve_objects_rejects_bad_manifests_and_data_types(tmp_path: Path) -> None:
    bad = tmp_path / "bad.manifest"
    bad.write_text(json.dumps(["a.csv"]))
    with pytest.raises(ValidationError, match="manifest"):
        resolve_objects(str(bad), "ManifestFile")
    bad.write_text("not json")
    with pytest.raises(ValidationError, match="manifest"):
        resolve_objects(str(bad), "ManifestFile")
    with pytest.raises(ValidationError, match="S3Prefix or ManifestFile"):
        resolve_objects(str(tmp_path), "AugmentedManifestFile")


# -- instance types and this machine -----------------------------------------------------------

def test_lookup_knows_sagemaker_sizes() -> None:
    m5 = lookup("ml.m5.xlarge")
    assert m5.name == "ml.m5.xlarge" and not m5.local
    assert m5.resources == Resources(cpus=4, memory_mib=16 * 1024, gpus=0)
    assert lookup("ml.p3.2xlarge").resources.gpus == 1
    assert lookup("ml.c4.large").resources.memory_mib == int(3.75 * 1024)
    assert lookup("local").local and lookup("local_gpu").resources.gpus == 1
    assert all(name in ("local", "local_gpu") or name.startswith("ml.") for name in INSTANCE_TYPES)


def test_unknown_instance_type_suggests_close_names() -> None:
    with pytest.raises(ValidationError) as info:
        lookup("ml.m5.xlarg")
    assert "ml.m5.xlarge" in str(info.value) and "Did you mean" in str(info.value)
    with pytest.raises(ValidationError, match="unknown instance type 'gpu-monster'"):
        lookup("gpu-monster")


def test_fit_request_that_fits_is_unchanged() -> None:
    fitted = fit_request(lookup("ml.m5.xlarge"), 2, Resources(16, 65536, 0))
    assert fitted.per_host == Resources(4, 16384, 0) and fitted.warning is None


def test_fit_request_scales_down_on_a_small_machine_with_a_warning() -> None:
    capacity = Resources(2, 8192, 0)
    fitted = fit_request(lookup("ml.m5.xlarge"), 2, capacity)
    assert fitted.per_host == Resources(1, 4096, 0)
    assert fitted.per_host.times(2).fits_in(capacity)
    assert fitted.warning is not None
    assert "2 x ml.m5.xlarge" in fitted.warning and "scaled down" in fitted.warning
    assert "1 CPU, 4 GiB" in fitted.warning


def test_fit_request_gpu_instance_on_a_cpu_machine_runs_on_cpu() -> None:
    fitted = fit_request(lookup("ml.p3.2xlarge"), 1, Resources(4, 16384, 0))
    assert fitted.per_host.gpus == 0
    assert fitted.warning is not None and "runs on the CPU" in fitted.warning


def test_local_gpu_without_a_gpu_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="instance_type='local'"):
        fit_request(lookup("local_gpu"), 1, Resources(8, 32768, 0))
    assert fit_request(lookup("local_gpu"), 1, Resources(8, 32768, 1)).per_host.gpus == 1


@pytest.fixture
def fresh_machine() -> Iterator[None]:
    machine.cache_clear()
    yield
    machine.cache_clear()


def test_machine_honours_overrides(monkeypatch: pytest.MonkeyPatch, fresh_machine: None) -> None:
    monkeypatch.setenv("MLYARD_CPUS", "2")
    monkeypatch.setenv("MLYARD_MEMORY_MIB", "8192")
    monkeypatch.setenv("MLYARD_GPUS", "0")
    assert detect_gpus() == 0
    assert machine() == Resources(2, 8192, 0)
    fitted = fit_request(lookup("ml.m5.xlarge"), 2, machine())
    assert fitted.per_host == Resources(1, 4096, 0) and fitted.warning
    with pytest.raises(ValidationError):
        fit_request(lookup("local_gpu"), 1, machine())


# -- admission ---------------------------------------------------------------------------------

def test_scheduler_admits_backfills_and_releases() -> None:
    sched = Scheduler(Resources(4, 8192, 0))
    big = sched.try_admit("big", Resources(3, 1024), 1)
    assert big is not None and big.gpu_ids is None
    assert sched.try_admit("waiting", Resources(2, 1024), 1) is None
    assert "waiting" not in sched.running
    small = sched.try_admit("small", Resources(1, 1024), 1)
    assert small is not None  # backfill: the waiting job does not block a smaller one
    assert sched.free() == Resources(0, 6144, 0)
    assert sched.try_admit("waiting", Resources(0.5, 512), 1) is None
    sched.release("big")
    sched.release("never-admitted")
    assert sched.free() == Resources(3, 7168, 0)
    assert sched.try_admit("waiting", Resources(2, 1024), 1) is not None
    assert set(sched.running) == {"small", "waiting"}


def test_scheduler_counts_every_host_and_memory() -> None:
    sched = Scheduler(Resources(8, 4096, 0))
    assert sched.try_admit("too-much-memory", Resources(1, 4097), 1) is None
    alloc = sched.try_admit("pair", Resources(2, 1024), 2)
    assert alloc is not None and alloc.total == Resources(4, 2048, 0)
    assert sched.try_admit("three", Resources(2, 1024), 3) is None
    assert sched.try_admit("two", Resources(2, 1024), 2) is not None
    assert sched.free() == Resources(0, 0, 0)


def test_scheduler_hands_out_distinct_gpu_ids() -> None:
    sched = Scheduler(Resources(32, 65536, 4))
    a = sched.try_admit("a", Resources(2, 1024, 1), 2)
    b = sched.try_admit("b", Resources(2, 1024, 2), 1)
    assert a is not None and b is not None
    assert a.gpu_ids == [[0], [1]] and b.gpu_ids == [[2, 3]]
    assert sched.try_admit("c", Resources(1, 1024, 1), 1) is None  # no GPU left
    cpu_only = sched.try_admit("cpu", Resources(1, 1024, 0), 1)
    assert cpu_only is not None and cpu_only.gpu_ids == [[]]
    sched.release("a")
    c = sched.try_admit("c", Resources(1, 1024, 1), 1)
    d = sched.try_admit("d", Resources(1, 1024, 1), 1)
    assert c is not None and d is not None
    held = [g for alloc in sched.running.values() for ids in alloc.gpu_ids or [] for g in ids]
    assert sorted(held) == [0, 1, 2, 3]
    assert sorted(c.gpu_ids[0] + d.gpu_ids[0]) == [0, 1]


def test_allocations_held_after_a_restart_keep_their_gpus() -> None:
    before = Allocation(Resources(2, 1024, 1), 1, [[1]])
    restored = Allocation.from_json(json.loads(json.dumps(before.to_json())))
    assert restored == before
    sched = Scheduler(Resources(8, 8192, 2))
    sched.hold("old", restored)
    new = sched.try_admit("new", Resources(2, 1024, 1), 1)
    assert new is not None and new.gpu_ids == [[0]]
    assert sched.try_admit("third", Resources(1, 1024, 1), 1) is None
