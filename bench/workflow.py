"""The workflow engine (the States Language interpreter writing its history to the catalog, SQLite),
side by side with its floor. Prints one JSON line.

    python bench/workflow.py [--states 1000] [--items 1000]

- a chain of ``--states`` Pass states, against the floor: a plain Python loop that does one durable
  catalog write (one event row, its own transaction) per transition, on the same database: target
  at most 3x the floor and at most 10 ms per state;
- a Map over ``--items`` items, MaxConcurrency 50, each iteration a Pass state: target at most 5 s;
- 100 executions of a 5-state workflow at once: every one finishes, none is lost; once on the
  engine, once through a local server's HTTP API (started concurrently by 16 client threads,
  awaited through the API).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from home import isolated_home  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--states", type=int, default=1000)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--executions", type=int, default=100)
    args = parser.parse_args()

    from mlyard.catalog import Catalog
    from mlyard.catalog.schema import execution_events
    from mlyard.catalog.workflows import Workflows
    from mlyard.workflow import check
    from mlyard.workflow.interpreter import Interpreter, Outcome

    class NoTasks:
        def run(self, call: Any) -> Any:
            raise AssertionError("no Task states here")

    with tempfile.TemporaryDirectory(prefix="mlyard-bench-") as tmp:
        catalog = Catalog(f"sqlite:///{Path(tmp) / 'catalog.db'}")
        catalog.migrate()
        wf = Workflows(catalog)
        serial = [0]

        def execute(definition: dict[str, Any], data: Any) -> Outcome:
            serial[0] += 1
            execution = f"bench:e{serial[0]}"
            wf.insert_execution({"id": execution, "state_machine": "bench", "name": f"e{serial[0]}",
                                 "status": "RUNNING", "definition": definition, "input": data})

            class Log:
                def append(self, events: list[dict[str, Any]]) -> list[int]:
                    return wf.events.append(execution, events)

            outcome = Interpreter(definition, Log(), NoTasks(),
                                  execution={"Id": execution, "Name": execution, "Input": data}).run()
            wf.update_execution(execution, status=outcome.status, output=outcome.output)
            return outcome

        # 1. a chain of Pass states against one durable write per transition
        n = args.states
        chain = {"StartAt": "S0", "States": {
            f"S{i}": {"Type": "Pass", "Result": i, "ResultPath": "$.last",
                      **({"Next": f"S{i + 1}"} if i < n - 1 else {"End": True})} for i in range(n)}}
        check(chain)
        wf.insert_execution({"id": "floor:f", "state_machine": "floor", "name": "f", "status": "RUNNING",
                             "definition": {}, "input": None})
        start = time.perf_counter()
        for i in range(n):
            with catalog.engine.begin() as conn:
                conn.execute(execution_events.insert().values(
                    execution="floor:f", id=i + 1, previous=i, timestamp=time.time(), type="PassStateExited",
                    thread="", details={"name": f"S{i}", "output": {"last": i}}))
        floor = time.perf_counter() - start
        start = time.perf_counter()
        outcome = execute(chain, {})
        engine = time.perf_counter() - start
        assert outcome.status == "SUCCEEDED" and outcome.output == {"last": n - 1}

        # 2. a Map over many items, 50 at a time
        mapping = {"StartAt": "M", "States": {"M": {
            "Type": "Map", "MaxConcurrency": 50, "ItemProcessor": {"StartAt": "I", "States": {
                "I": {"Type": "Pass", "Parameters": {"double.$": "States.MathAdd($.v, $.v)"}, "End": True}}},
            "End": True}}}
        check(mapping)
        start = time.perf_counter()
        outcome = execute(mapping, [{"v": i} for i in range(args.items)])
        map_s = time.perf_counter() - start
        assert outcome.status == "SUCCEEDED" and [o["double"] for o in outcome.output] == [
            2 * i for i in range(args.items)]

        # 3. many executions at once
        five = {"StartAt": "A", "States": {
            "A": {"Type": "Pass", "Result": 1, "ResultPath": "$.a", "Next": "B"},
            "B": {"Type": "Choice", "Choices": [{"Variable": "$.a", "NumericEquals": 1, "Next": "C"}],
                  "Default": "E"},
            "C": {"Type": "Wait", "Seconds": 0, "Next": "D"},
            "D": {"Type": "Pass", "Parameters": {"id.$": "$$.Execution.Id"}, "Next": "E"},
            "E": {"Type": "Succeed"}}}
        check(five)
        outcomes: list[Outcome] = []
        lock = threading.Lock()

        def one() -> None:
            result = execute(five, {})
            with lock:
                outcomes.append(result)

        start = time.perf_counter()
        threads = [threading.Thread(target=one) for _ in range(args.executions)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        many_s = time.perf_counter() - start
        stored = wf.list_executions("bench", limit=None)
        succeeded = sum(1 for o in outcomes if o.status == "SUCCEEDED")
        catalog.dispose()

        # 4. the same, through a local server's HTTP API
        with isolated_home(Path(tmp)):
            api_s, api_succeeded = _through_api(five, args.executions)

    out = {
        "benchmark": "workflow", "database": "sqlite",
        "pass_states": n, "engine_s": round(engine, 3), "floor_s": round(floor, 3),
        "ratio_to_floor": round(engine / floor, 2), "target_ratio": 3.0,
        "ms_per_state": round(1000 * engine / n, 3), "target_ms_per_state": 10.0,
        "map_items": args.items, "map_max_concurrency": 50, "map_s": round(map_s, 2), "target_map_s": 5.0,
        "concurrent_executions": args.executions, "concurrent_succeeded": succeeded,
        "concurrent_recorded_succeeded": sum(1 for r in stored if r["status"] == "SUCCEEDED" and
                                             r["name"] not in ("e1", "e2")),
        "concurrent_s": round(many_s, 2),
        "api_executions": args.executions, "api_succeeded": api_succeeded, "api_s": round(api_s, 2),
    }
    out["met"] = (engine / floor <= 3.0 and 1000 * engine / n <= 10.0 and map_s <= 5.0
                  and succeeded == args.executions and api_succeeded == args.executions)
    print(json.dumps(out))


def _through_api(definition: dict[str, Any], count: int) -> tuple[float, int]:
    """Start ``count`` executions at once on a local server; seconds until all ended, and how many
    the server says succeeded."""
    from mlyard.client import default_client

    client = default_client()
    client.create_workflow({"name": "five", "definition": definition})
    start = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: client.start_execution("five", {"name": f"run-{i}", "input": {}}), range(count)))
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if not client.list_executions("five", status="RUNNING", limit=count):
            break
        time.sleep(0.05)
    elapsed = time.perf_counter() - start
    ended = client.list_executions("five", limit=10 * count)
    return elapsed, sum(1 for e in ended if e["status"] == "SUCCEEDED")


if __name__ == "__main__":
    main()
