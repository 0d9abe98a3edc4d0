"""The ``mlyard`` command line."""

from __future__ import annotations

import json
import sys

import typer
from rich.console import Console
from rich.table import Table

from mlyard.errors import MlyardError

app = typer.Typer(help="mlyard: SageMaker's machine-learning workflow on your own machine.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
jobs_app = typer.Typer(help="Processing and training jobs.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
endpoints_app = typer.Typer(help="Real-time endpoints.", no_args_is_help=True)
app.add_typer(endpoints_app, name="endpoints")
console = Console()


def _client():  # type: ignore[no-untyped-def]
    from mlyard.client import default_client

    return default_client()


@app.command()
def server(host: str = typer.Option("127.0.0.1", help="Address to bind; keep loopback unless the "
                                    "network is trusted (every request still needs the token)."),
           port: int = typer.Option(0, help="Port; 0 picks a free one.")) -> None:
    """Run the control plane in the foreground."""
    from mlyard.server.main import serve

    serve(host, port)


@app.command()
def serve(model_dir: str = typer.Argument(..., help="A model directory (e.g. an unpacked model.tar.gz)."),
          host: str = typer.Option("127.0.0.1", help="Address to bind."),
          port: int = typer.Option(8080, help="Port; 0 picks a free one."),
          max_batch_size: int = typer.Option(64, help="Most rows run in one batch."),
          max_latency_ms: float = typer.Option(2.0, help="Longest a request waits for others to batch with."),
          ready_file: str = typer.Option(None, hidden=True, help="Write the bound port here once serving.")
          ) -> None:
    """Serve one model in the foreground (SageMaker /invocations, TF Serving and v2 protocols)."""
    from mlyard.serving.main import serve_model

    serve_model(model_dir, host, port, max_batch_size, max_latency_ms, ready_file)


@jobs_app.command("list")
def jobs_list(kind: str = typer.Option(None, help="training or processing"),
              status: str = typer.Option(None, help="InProgress, Completed, Failed, Stopping or Stopped"),
              limit: int = typer.Option(50)) -> None:
    """List jobs, newest first."""
    rows = _client().list_jobs(kind=kind, status=status, limit=limit)
    table = Table("name", "kind", "status", "detail", "instances", "created")
    colors = {"Completed": "green", "Failed": "red", "InProgress": "cyan", "Stopped": "yellow"}
    for r in rows:
        color = colors.get(r["Status"], "white")
        table.add_row(r["JobName"], r["Kind"], f"[{color}]{r['Status']}[/]", r["SecondaryStatus"],
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
    desc = _client().stop_job(name)
    status = desc.get("TrainingJobStatus") or desc.get("ProcessingJobStatus")
    console.print(f"{name}: {status}")


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


def main() -> None:
    try:
        app()
    except MlyardError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
