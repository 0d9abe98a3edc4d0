"""The ``mlyard`` command line."""

from __future__ import annotations

import json
import sys
from datetime import datetime

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mlyard.errors import MlyardError

app = typer.Typer(help="mlyard: SageMaker's machine-learning workflow on your own machine.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
jobs_app = typer.Typer(help="Processing and training jobs.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
endpoints_app = typer.Typer(help="Real-time endpoints.", no_args_is_help=True)
app.add_typer(endpoints_app, name="endpoints")
tuning_app = typer.Typer(help="Hyperparameter tuning jobs.", no_args_is_help=True)
app.add_typer(tuning_app, name="tuning")
buckets_app = typer.Typer(help="Buckets kept in mlyard's own store (s3://NAME/... URIs).", no_args_is_help=True)
app.add_typer(buckets_app, name="buckets")
workflows_app = typer.Typer(help="Workflows (Step Functions state machines) and their executions.",
                            no_args_is_help=True)
app.add_typer(workflows_app, name="workflows")
functions_app = typer.Typer(help="Functions that workflows invoke (lambda:invoke), each run in a job.",
                            no_args_is_help=True)
app.add_typer(functions_app, name="functions")
models_app = typer.Typer(help="The model registry: model package groups and their versions.", no_args_is_help=True)
app.add_typer(models_app, name="models")
packages_app = typer.Typer(help="Model packages (versions in a group): list, describe, approve, reject.",
                           no_args_is_help=True)
models_app.add_typer(packages_app, name="packages")
groups_app = typer.Typer(help="Model package groups, and what approving a version runs.", no_args_is_help=True)
models_app.add_typer(groups_app, name="groups")
pipelines_app = typer.Typer(help="SageMaker pipelines and their executions.", no_args_is_help=True)
app.add_typer(pipelines_app, name="pipelines")
console = Console()
_COLORS = {"Completed": "green", "Failed": "red", "InProgress": "cyan", "Stopped": "yellow", "Stopping": "yellow",
           "SUCCEEDED": "green", "FAILED": "red", "RUNNING": "cyan", "ABORTED": "yellow", "TIMED_OUT": "red"}


def _status(status: str) -> str:
    return f"[{_COLORS.get(status, 'white')}]{escape(status)}[/]"


def _client():  # type: ignore[no-untyped-def]
    from mlyard.client import default_client

    return default_client()


@app.command()
def server(host: str = typer.Option("127.0.0.1", help="Address to bind; keep loopback unless the "
                                    "network is trusted (every request still needs the token)."),
           port: int = typer.Option(0, help="Port; 0 picks a free one."),
           executor: str = typer.Option(None, help="Where jobs run: local (the default) or ray "
                                        "(also MLYARD_EXECUTOR)."),
           ray_address: str = typer.Option(None, help="The Ray cluster the ray executor uses: HOST:PORT of its "
                                           "head node, or auto (also RAY_ADDRESS; default auto).")) -> None:
    """Run the control plane in the foreground."""
    from mlyard.server.main import serve

    serve(host, port, executor, ray_address)


@app.command()
def serve(model_dir: str = typer.Argument(..., help="A model directory (e.g. an unpacked model.tar.gz)."),
          host: str = typer.Option("127.0.0.1", help="Address to bind."),
          port: int = typer.Option(8080, help="Port; 0 picks a free one."),
          max_batch_size: int = typer.Option(64, help="Most rows run in one batch."),
          max_latency_ms: float = typer.Option(2.0, help="Longest a request waits for others to batch with."),
          ready_file: str = typer.Option(None, hidden=True, help="Write the bound port here once serving."),
          unix_socket: str = typer.Option(None, hidden=True, help="Also listen on this Unix socket "
                                          "('@name': Linux's abstract namespace).")
          ) -> None:
    """Serve one model in the foreground (SageMaker /invocations, TF Serving and v2 protocols)."""
    from mlyard.serving.main import serve_model

    serve_model(model_dir, host, port, max_batch_size, max_latency_ms, ready_file, unix_socket)


@jobs_app.command("list")
def jobs_list(kind: str = typer.Option(None, help="training, processing or transform"),
              status: str = typer.Option(None, help="InProgress, Completed, Failed, Stopping or Stopped"),
              limit: int = typer.Option(50)) -> None:
    """List jobs, newest first."""
    rows = _client().list_jobs(kind=kind, status=status, limit=limit)
    table = Table("name", "kind", "status", "detail", "instances", "created")
    for r in rows:
        table.add_row(r["JobName"], r["Kind"], _status(r["Status"]), escape(r["SecondaryStatus"]),
                      f"{r['InstanceCount']} x {r['InstanceType']}", (r["CreationTime"] or "")[:19])
    console.print(table)


@jobs_app.command("describe")
def jobs_describe(name: str) -> None:
    """Show a job's full description (JSON, SageMaker's field names)."""
    print(json.dumps(_client().describe_job(name), indent=2))


@jobs_app.command("logs")
def jobs_logs(name: str, follow: bool = typer.Option(False, "--follow", "-f", help="Keep streaming until the job ends.")
              ) -> None:
    """Print a job's logs."""
    out = sys.stdout.buffer
    for chunk in _client().job_logs(name, follow=follow):
        out.write(chunk)
        out.flush()


@jobs_app.command("stop")
def jobs_stop(name: str) -> None:
    """Stop a running or queued job."""
    from mlyard.server.describe import status

    console.print(f"{name}: {status(_client().stop_job(name))}")


@endpoints_app.command("list")
def endpoints_list() -> None:
    """List endpoints and their URLs."""
    table = Table("name", "status", "url", "config", "created")
    for e in _client().list_endpoints():
        table.add_row(e["EndpointName"], e["EndpointStatus"], e.get("EndpointUrl") or "", e["EndpointConfigName"],
                      (e["CreationTime"] or "")[:19])
    console.print(table)


@endpoints_app.command("describe")
def endpoints_describe(name: str) -> None:
    """Show an endpoint (JSON): status, URL (EndpointUrl), variants, instances."""
    print(json.dumps(_client().describe_endpoint(name), indent=2))


@endpoints_app.command("logs")
def endpoints_logs(name: str) -> None:
    """Print the logs of an endpoint's instances."""
    out = sys.stdout.buffer
    for chunk in _client().endpoint_logs(name):
        out.write(chunk)
    out.flush()


@endpoints_app.command("delete")
def endpoints_delete(name: str) -> None:
    """Stop an endpoint and delete it."""
    _client().delete_endpoint(name)
    console.print(f"{name}: deleted")


@tuning_app.command("list")
def tuning_list(status: str = typer.Option(None, help="InProgress, Completed, Failed, Stopping or Stopped"),
                limit: int = typer.Option(50)) -> None:
    """List tuning jobs, newest first."""
    table = Table("name", "status", "strategy", "jobs done/max", "running", "failed", "best", "created")
    for t in _client().list_tuning_jobs(status=status, limit=limit):
        counters = t["TrainingJobStatusCounters"]
        done = counters["Completed"] + counters["Stopped"] + counters["NonRetryableError"]
        best = (t.get("BestTrainingJob") or {}).get("FinalHyperParameterTuningJobObjectiveMetric")
        table.add_row(t["HyperParameterTuningJobName"], _status(t["HyperParameterTuningJobStatus"]), t["Strategy"],
                      f"{done}/{t['ResourceLimits']['MaxNumberOfTrainingJobs']}", str(counters["InProgress"]),
                      str(counters["NonRetryableError"]), f"{best['Value']:.6g}" if best else "",
                      (t["CreationTime"] or "")[:19])
    console.print(table)


def _tuning_view(name: str) -> tuple[Table, bool]:
    client = _client()
    desc = client.describe_tuning_job(name)
    objective = desc["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]
    best = (desc.get("BestTrainingJob") or {}).get("TrainingJobName")
    status = desc["HyperParameterTuningJobStatus"]
    title = (f"{name}: {_status(status)}, {desc['Strategy']}, {objective['Type']} {escape(objective['MetricName'])}"
             + (f" - {escape(desc['FailureReason'])}" if desc.get("FailureReason") else "")
             + (f" - {escape(desc['StatusMessage'])}" if desc.get("StatusMessage") else ""))
    table = Table("training job", "status", escape(objective["MetricName"]), "hyperparameters", "seconds",
                  title=title, title_justify="left")
    for s in client.tuning_training_jobs(name):
        metric = s.get("FinalHyperParameterTuningJobObjectiveMetric")
        job_status = "Stopped early" if s.get("EarlyStopped") else s["TrainingJobStatus"]
        seconds = ""
        if s.get("TrainingStartTime") and s.get("TrainingEndTime"):
            elapsed = datetime.fromisoformat(s["TrainingEndTime"]) - datetime.fromisoformat(s["TrainingStartTime"])
            seconds = f"{elapsed.total_seconds():.1f}"
        mark = " *" if s["TrainingJobName"] == best else ""
        table.add_row(s["TrainingJobName"] + mark, _status(job_status), f"{metric['Value']:.6g}" if metric else "",
                      escape(" ".join(f"{k}={v}" for k, v in sorted(s["TunedHyperParameters"].items()))), seconds)
    return table, status in ("Completed", "Failed", "Stopped")


@tuning_app.command("describe")
def tuning_describe(name: str, watch: bool = typer.Option(False, "--watch", "-w",
                                                          help="Keep the table live until the tuning job ends."),
                    as_json: bool = typer.Option(False, "--json", help="The full description, as JSON.")) -> None:
    """Show a tuning job and a table of its training jobs (* marks the best)."""
    if as_json:
        print(json.dumps(_client().describe_tuning_job(name), indent=2))
        return
    table, ended = _tuning_view(name)
    if not watch or ended:
        console.print(table)
        return
    import time

    from rich.live import Live

    with Live(table, console=console, refresh_per_second=4) as live:
        while not ended:
            time.sleep(1.0)
            table, ended = _tuning_view(name)
            live.update(table)


@tuning_app.command("stop")
def tuning_stop(name: str) -> None:
    """Stop a tuning job and its running training jobs."""
    desc = _client().stop_tuning_job(name)
    console.print(f"{name}: {desc['HyperParameterTuningJobStatus']}")


@functions_app.command("list")
def functions_list() -> None:
    """List registered functions."""
    table = Table("name", "handler", "timeout", "modified")
    for f in _client().list_functions():
        table.add_row(escape(f["FunctionName"]), escape(f["Handler"]), f"{f['Timeout']}s",
                      (f["LastModified"] or "")[:19])
    console.print(table)


@functions_app.command("describe")
def functions_describe(name: str) -> None:
    """Show a registered function."""
    print(json.dumps(_client().describe_function(name), indent=2))


@functions_app.command("delete")
def functions_delete(name: str) -> None:
    """Delete a registered function."""
    _client().delete_function(name)
    console.print(f"function {escape(name)} deleted")


@groups_app.command("list")
def groups_list() -> None:
    """List model package groups."""
    table = Table("group", "created", "description")
    for g in _client().list_model_package_groups()["ModelPackageGroupSummaryList"]:
        table.add_row(escape(g["ModelPackageGroupName"]), (g["CreationTime"] or "")[:19],
                      escape(g.get("ModelPackageGroupDescription") or ""))
    console.print(table)


@groups_app.command("create")
def groups_create(name: str, description: str = typer.Option(None, help="what the group's models are")) -> None:
    """Create a model package group."""
    print(_client().create_model_package_group({"ModelPackageGroupName": name,
                                                "ModelPackageGroupDescription": description})["ModelPackageGroupArn"])


@groups_app.command("on-approval")
def groups_on_approval(group: str, workflow: list[str] = typer.Option([], "--workflow", help="a workflow to start"),
                       pipeline: list[str] = typer.Option([], "--pipeline", help="a pipeline to start")) -> None:
    """Say what approving a version of GROUP starts (replacing what it started before); none: nothing."""
    rules = [{"Workflow": w} for w in workflow] + [{"Pipeline": p, "Parameters": {}} for p in pipeline]
    print(json.dumps(_client().set_approval_rules(group, rules)["ApprovalRules"], indent=2))


@packages_app.command("list")
def packages_list(group: str = typer.Option(None, help="only this group's versions"),
                  status: str = typer.Option(None, help="PendingManualApproval, Approved or Rejected")) -> None:
    """List model packages, the newest first."""
    table = Table("package", "version", "status", "created", "description")
    for m in _client().list_model_packages(group, status)["ModelPackageSummaryList"]:
        table.add_row(escape(m["ModelPackageName"]), str(m.get("ModelPackageVersion") or ""),
                      m["ModelApprovalStatus"], (m["CreationTime"] or "")[:19],
                      escape(m.get("ModelPackageDescription") or ""))
    console.print(table)


@packages_app.command("describe")
def packages_describe(package: str = typer.Argument(..., help="GROUP/VERSION or the package's ARN")) -> None:
    """Show a model package: its containers, metrics, approval and its history."""
    print(json.dumps(_client().describe_model_package(package), indent=2))


def _set_approval(package: str, status: str, description: str | None) -> None:
    client = _client()
    arn = client.describe_model_package(package)["ModelPackageArn"]
    client.update_model_package({"ModelPackageArn": arn, "ModelApprovalStatus": status,
                                 "ApprovalDescription": description})
    desc = client.describe_model_package(arn)
    console.print(f"{escape(package)}: {desc['ModelApprovalStatus']}")
    for started in desc.get("TriggeredOnApproval") or []:
        console.print(f"  started {escape(json.dumps(started))}")


@packages_app.command("approve")
def packages_approve(package: str, description: str = typer.Option(None, help="why")) -> None:
    """Approve a version (GROUP/VERSION or ARN): the group's approval rules run."""
    _set_approval(package, "Approved", description)


@packages_app.command("reject")
def packages_reject(package: str, description: str = typer.Option(None, help="why")) -> None:
    """Reject a version (GROUP/VERSION or ARN)."""
    _set_approval(package, "Rejected", description)


@pipelines_app.command("list")
def pipelines_list() -> None:
    """List pipelines."""
    table = Table("pipeline", "created", "modified")
    for p in _client().list_pipelines()["PipelineSummaries"]:
        table.add_row(escape(p["PipelineName"]), (p["CreationTime"] or "")[:19], (p["LastModifiedTime"] or "")[:19])
    console.print(table)


@pipelines_app.command("executions")
def pipelines_executions(name: str) -> None:
    """List a pipeline's executions, the newest first."""
    table = Table("execution", "status", "started")
    for e in _client().list_pipeline_executions(name)["PipelineExecutionSummaries"]:
        table.add_row(e["PipelineExecutionArn"].rsplit("/", 1)[-1], _status(e["PipelineExecutionStatus"]),
                      (e["StartTime"] or "")[:19])
    console.print(table)


@pipelines_app.command("steps")
def pipelines_steps(name: str, execution: str) -> None:
    """An execution's steps: status, cache hits and misses, failures."""
    table = Table("step", "type", "status", "note")
    steps = _client().pipeline_execution(name, execution, "steps")["PipelineExecutionSteps"]
    for s in reversed(steps):
        hit = s.get("CacheHitResult")
        note = (f"cache hit from {hit['SourcePipelineExecutionArn'].rsplit('/', 1)[-1]}" if hit
                else s.get("FailureReason") or s.get("CacheMissReason") or "")
        table.add_row(escape(s["StepName"]), s.get("StepType") or "", _status(s["StepStatus"]), escape(note[:120]))
    console.print(table)


@app.command()
def lineage(uri: str = typer.Argument(..., help="an artifact: a data set, model, code or report URI"),
            depth: int = typer.Option(20, help="how many steps to walk each way")) -> None:
    """Walk up from an artifact to what made it (and what that consumed), and down to what used it."""
    found = _client().lineage(uri=uri, depth=depth)
    for direction in ("Upstream", "Downstream"):
        table = Table("level", "lineage", "name / source", "type", "association", title=direction.lower())
        for r in found[direction]:
            table.add_row(str(r["Level"]), r["Lineage Type"], escape(r["Name/Source"]), r["Type"],
                          r["Association Type"])
        console.print(table)


@workflows_app.command("list")
def workflows_list() -> None:
    """List workflows."""
    table = Table("name", "type", "created")
    for r in _client().list_workflows():
        table.add_row(escape(r["name"]), r["type"], (r["creationDate"] or "")[:19])
    console.print(table)


@workflows_app.command("describe")
def workflows_describe(name: str) -> None:
    """Show a workflow (its definition as States Language)."""
    desc = _client().describe_workflow(name)
    desc["definition"] = json.loads(desc["definition"])
    print(json.dumps(desc, indent=2))


@workflows_app.command("executions")
def workflows_executions(name: str, status: str = typer.Option(None, help="RUNNING, SUCCEEDED, FAILED, ..."),
                         limit: int = typer.Option(50)) -> None:
    """List a workflow's executions, newest first."""
    table = Table("execution", "status", "started", "ended", "redrives")
    for r in _client().list_executions(name, status, limit):
        table.add_row(escape(r["name"]), _status(r["status"]), r["startDate"][:19], (r.get("stopDate") or "")[:19],
                      str(r["redriveCount"]))
    console.print(table)


@workflows_app.command("history")
def workflows_history(name: str, execution: str, reverse: bool = typer.Option(False, "--reverse")) -> None:
    """Print an execution's events."""
    table = Table("id", "type", "step", "time", "detail")
    for e in _client().execution_history(name, execution, reverse)["events"]:
        details: dict = next((v for k, v in e.items() if k.endswith("EventDetails")), {}) or {}
        detail = details.get("error") or details.get("cause") or ""
        table.add_row(str(e["id"]), e["type"], escape(str(details.get("name", ""))), e["timestamp"][11:23],
                      escape(str(detail))[:80])
    console.print(table)


@workflows_app.command("start")
def workflows_start(name: str, input: str = typer.Option("{}", "--input", help="the execution's input, JSON"),  # noqa: A002
                    execution: str = typer.Option(None, "--name", help="the execution's name"),
                    wait: bool = typer.Option(False, "--wait", help="wait for the execution to end")) -> None:
    """Start an execution of a workflow."""
    try:
        data = json.loads(input)
    except ValueError as exc:
        raise MlyardError(f"--input is not JSON: {exc}") from None
    client = _client()
    started = client.start_execution(name, {"input": data, "name": execution})
    run = started["executionArn"].rsplit(":", 1)[1]
    console.print(f"started {escape(run)}")
    while wait:
        desc = client.wait_execution(name, run, 20.0)
        if desc["status"] != "RUNNING":
            console.print(f"{escape(run)}: {_status(desc['status'])} {escape(desc.get('error') or '')}")
            print(desc.get("output") or desc.get("cause") or "")
            break


@workflows_app.command("stop")
def workflows_stop(name: str, execution: str) -> None:
    """Stop a running execution."""
    _client().stop_execution(name, execution)
    console.print(f"{escape(execution)}: {_status('ABORTED')}")


@workflows_app.command("redrive")
def workflows_redrive(name: str, execution: str) -> None:
    """Run a failed execution again from the state that failed."""
    _client().redrive_execution(name, execution)
    console.print(f"{escape(execution)}: redriven")


@workflows_app.command("render")
def workflows_render(name: str, output: str = typer.Argument(..., help="the HTML file to write"),
                     execution: str = typer.Option(None, "--execution", help="show this execution's progress")
                     ) -> None:
    """Write a workflow's graph (or an execution's progress) as a self-contained HTML file."""
    from mlyard.stepfunctions.workflow import Execution, Workflow

    workflow = Workflow.attach(name, client=_client())
    page = (Execution(workflow, f"{name}:{execution}", None, "").render_progress() if execution
            else workflow.render_graph())
    console.print(f"wrote {page.save(output)}")


@app.command()
def info() -> None:
    """Show the installation: version, server, home, store, region, account and buckets."""
    import mlyard

    client = _client()
    health = client.health()
    s3 = health.get("s3") or {}
    table = Table("setting", "value", show_header=False)
    rows = [("version", mlyard.__version__), ("server", client.url), ("server version", health.get("version")),
            ("home", health.get("home")), ("store", health.get("store")), ("database", health.get("database")),
            ("region", health.get("region")), ("account", health.get("account_id")),
            ("default bucket", health.get("default_bucket"))]
    for name, root in sorted((health.get("buckets") or {}).items()):
        rows.append((f"local bucket {name}", root))
    rows += [("s3fs installed (real S3)", "yes" if s3.get("s3fs_installed") else "no (pip install 'mlyard[s3]')"),
             ("AWS_ENDPOINT_URL", s3.get("endpoint_url") or "(AWS's)"),
             ("AWS credentials configured", "yes" if s3.get("credentials_configured") else "no")]
    for key, value in rows:
        table.add_row(key, escape(str(value)))
    console.print(table)
    console.print("Buckets not listed as local are real S3 (through s3fs); make one local with "
                  "`mlyard buckets create NAME` or MLYARD_LOCAL_BUCKETS.")


@buckets_app.command("create")
def buckets_create(name: str) -> None:
    """Make NAME a bucket kept in mlyard's own store: s3://NAME/... then needs no AWS account."""
    root = _client().create_bucket(name)
    console.print(f"s3://{escape(name)} -> {escape(root)}")


@buckets_app.command("list")
def buckets_list() -> None:
    """List the local buckets and where each keeps its objects."""
    listing = _client().list_buckets()
    table = Table("bucket", "root", "default")
    for name, root in sorted(listing["buckets"].items()):
        table.add_row(escape(name), escape(root), "yes" if name == listing["default_bucket"] else "")
    console.print(table)


def main() -> None:
    try:
        app()
    except MlyardError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
