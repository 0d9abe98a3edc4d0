"""The control plane's HTTP API (FastAPI: the OpenAPI schema is at ``/openapi.json``)."""

from __future__ import annotations

import functools
import hmac
import os
import re
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, Literal

from fastapi import Body, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

import mlyard
from mlyard import config, store
from mlyard.errors import ConflictError, MlyardError, NotFoundError, PayloadTooLargeError, ValidationError
from mlyard.runtime.runner_channel import RunnerChannel
from mlyard.server.buckets import check_s3_uri, s3_settings
from mlyard.server.control import ControlPlane, create_named
from mlyard.server.schemas import (
    ApprovalRules,
    CreateEndpoint,
    CreateEndpointConfig,
    CreateModel,
    CreateModelPackage,
    CreateModelPackageGroup,
    CreatePipeline,
    CreateProcessingJob,
    CreateTrainingJob,
    CreateTransformJob,
    CreateTuningJob,
    CreateWorkflow,
    PutFunction,
    StartExecution,
    StartPipelineExecution,
    StopExecution,
    UpdateEndpoint,
    UpdateModelPackage,
    UpdatePipeline,
    UpdateWorkflow,
)

__all__ = ["create_app"]

JobKind = Literal["training", "processing", "transform"]


def create_app(control: ControlPlane, token: str) -> FastAPI:
    build = mlyard.build_id()
    max_upload = config.max_upload_bytes()
    uploads = control.home / "uploads"  # uploads in progress; emptied when the server starts
    app = FastAPI(title="mlyard control plane", version=mlyard.__version__,
                  description="Jobs, artifacts and logs of an mlyard installation. Every request needs "
                              "`Authorization: Bearer <token>` (the token is in $MLYARD_HOME/token).")

    @app.middleware("http")
    async def require_token(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return JSONResponse({"error": "Unauthorized", "message": "missing or wrong token: send "
                                 "'Authorization: Bearer <token>' (see $MLYARD_HOME/token)"}, status_code=401)
        return await call_next(request)

    @app.exception_handler(MlyardError)
    async def on_error(_request: Request, exc: MlyardError) -> JSONResponse:
        return JSONResponse(exc.to_json(), status_code=exc.status_code)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "ResourceNotFound", 405: "MethodNotAllowed", 413: "PayloadTooLarge"}
        return JSONResponse({"error": codes.get(exc.status_code, "HTTPError"), "message": str(exc.detail)},
                            status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def on_crash(_request: Request, exc: Exception) -> JSONResponse:
        import traceback

        traceback.print_exception(exc)  # a defect of ours: logged for the operator, JSON for the client
        return JSONResponse({"error": "InternalError", "message": f"internal error: {exc!r}"}, status_code=500)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'] if p != 'body')}: {e['msg']}" for e in exc.errors())
        return JSONResponse({"error": "ValidationException", "message": f"invalid request: {problems}"},
                            status_code=400)

    @app.get("/v1/health", tags=["server"])
    def health() -> dict[str, Any]:
        cap = control.scheduler.capacity
        return {"status": "ok", "version": mlyard.__version__, "build": build,
                "machine": {"cpus": cap.cpus, "memory_mib": cap.memory_mib, "gpus": cap.gpus},
                "executor": control.executor.describe(),
                "store": control.store_root, "sources": control.sources.to_json(),
                "region": config.region(), "account_id": config.account_id(control.home),
                "default_bucket": control.default_bucket, "buckets": store.buckets(), "s3": s3_settings(),
                "home": str(control.home), "database": _database(control.home)}

    @app.get("/v1/buckets", tags=["store"])
    def list_buckets() -> dict[str, Any]:
        """The buckets this server keeps in its own store (name -> root); any other is real S3."""
        return {"default_bucket": control.default_bucket, "buckets": store.buckets()}

    @app.put("/v1/buckets/{name}", tags=["store"])
    def create_bucket(name: str) -> dict[str, Any]:
        """Make ``name`` a local bucket (a folder under the home); one already local stays as it is."""
        return {"bucket": name, "root": control.create_bucket(name)}

    @app.post("/v1/training-jobs", status_code=201, tags=["jobs"])
    def create_training_job(body: CreateTrainingJob) -> dict[str, Any]:
        return create_named(body.model_dump(), "TrainingJobName", control.create_training_job, control.job_exists,
                            "training")

    @app.post("/v1/processing-jobs", status_code=201, tags=["jobs"])
    def create_processing_job(body: CreateProcessingJob) -> dict[str, Any]:
        return create_named(body.model_dump(), "ProcessingJobName", control.create_processing_job,
                            control.job_exists, "processing")

    @app.post("/v1/transform-jobs", status_code=201, tags=["jobs"])
    def create_transform_job(body: CreateTransformJob) -> dict[str, Any]:
        return create_named(body.model_dump(), "TransformJobName", control.create_transform_job,
                            control.job_exists, "transform")

    @app.get("/v1/jobs", tags=["jobs"])
    def list_jobs(kind: str | None = None, status: str | None = None, name_contains: str | None = None,
                  limit: int = Query(100, ge=1, le=10000)) -> list[dict[str, Any]]:
        return control.list_jobs(kind, status, limit, name_contains)

    @app.get("/v1/jobs/{name}", tags=["jobs"])
    def describe_job(name: str, kind: JobKind | None = None) -> dict[str, Any]:
        """The job's description; with ``kind``, 404 unless it is a job of that kind."""
        return control.describe(name, kind)

    @app.post("/v1/jobs/{name}/stop", tags=["jobs"])
    def stop_job(name: str, kind: JobKind | None = None) -> dict[str, Any]:
        return control.stop(name, kind=kind)

    @app.get("/v1/jobs/{name}/wait", tags=["jobs"])
    async def wait_job(name: str, timeout: float = Query(20.0, ge=0, le=60),
                       kind: JobKind | None = None) -> dict[str, Any]:
        """The job's description once it has ended (or after ``timeout`` seconds)."""
        return await control.wait(name, timeout, kind)

    @app.get("/v1/jobs/{name}/metrics", tags=["jobs"])
    def job_metrics(name: str, metric_name: str | None = None) -> list[dict[str, Any]]:
        return control.metrics(name, metric_name)

    @app.get("/v1/jobs/{name}/logs", tags=["jobs"], response_class=StreamingResponse)
    async def job_logs(name: str, follow: bool = False,
                       since: str | None = Query(None, description="Where to resume: `host:offset` pairs, comma "
                                                 "separated (bytes of each host's log already read)")
                       ) -> StreamingResponse:
        """The job's logs (with several hosts, each line prefixed with its host's name; the hosts
        are named in the ``Mlyard-Log-Hosts`` header). A client that lost a stream resumes it with
        ``since``: with one host, the bytes it got; with several, each host's prefixed lines'
        bytes, the prefix left out and the newline counted."""
        channel, hosts, _ = await run_in_threadpool(control.log_channel, name)
        offsets = _log_offsets(hosts, since)
        return StreamingResponse(_stream_logs(control, name, channel, hosts, follow, offsets),
                                 media_type="text/plain", headers={"Mlyard-Log-Hosts": ",".join(hosts)})

    tunings = control.tunings

    @app.post("/v1/tuning-jobs", status_code=201, tags=["tuning"])
    def create_tuning_job(body: CreateTuningJob) -> dict[str, Any]:
        return create_named(body.model_dump(), "HyperParameterTuningJobName", tunings.create,
                            _exists(tunings.describe), "tuning", max_length=32, short=True)

    @app.get("/v1/tuning-jobs", tags=["tuning"])
    def list_tuning_jobs(status: str | None = None, limit: int = Query(100, ge=1, le=10000)) -> list[dict[str, Any]]:
        return tunings.list_jobs(status, limit)

    @app.get("/v1/tuning-jobs/{name}", tags=["tuning"])
    def describe_tuning_job(name: str) -> dict[str, Any]:
        return tunings.describe(name)

    @app.get("/v1/tuning-jobs/{name}/training-jobs", tags=["tuning"])
    def tuning_training_jobs(name: str) -> list[dict[str, Any]]:
        """The tuning job's training jobs (SageMaker's HyperParameterTrainingJobSummary), oldest first."""
        return tunings.training_jobs(name)

    @app.post("/v1/tuning-jobs/{name}/stop", tags=["tuning"])
    def stop_tuning_job(name: str) -> dict[str, Any]:
        return tunings.stop(name)

    @app.get("/v1/tuning-jobs/{name}/wait", tags=["tuning"])
    async def wait_tuning_job(name: str, timeout: float = Query(20.0, ge=0, le=60)) -> dict[str, Any]:
        """The tuning job's description once it has ended or one of its training jobs changed
        status (or after ``timeout`` seconds)."""
        return await tunings.wait(name, timeout)

    workflows = control.workflows

    @app.post("/v1/workflows", status_code=201, tags=["workflows"])
    def create_workflow(body: CreateWorkflow) -> dict[str, Any]:
        """Create a state machine (its definition checked: every problem is listed)."""
        return workflows.create(body.model_dump())

    @app.get("/v1/workflows", tags=["workflows"])
    def list_workflows() -> list[dict[str, Any]]:
        return workflows.list_workflows()

    @app.get("/v1/workflows/{name}", tags=["workflows"])
    def describe_workflow(name: str) -> dict[str, Any]:
        return workflows.describe(name)

    @app.put("/v1/workflows/{name}", tags=["workflows"])
    def update_workflow(name: str, body: UpdateWorkflow) -> dict[str, Any]:
        return workflows.update(name, body.model_dump())

    @app.delete("/v1/workflows/{name}", status_code=204, tags=["workflows"])
    def delete_workflow(name: str) -> Response:
        workflows.delete(name)
        return Response(status_code=204)

    @app.post("/v1/workflows/{name}/executions", status_code=201, tags=["workflows"])
    def start_execution(name: str, body: StartExecution) -> dict[str, Any]:
        return workflows.start(name, body.model_dump())

    @app.get("/v1/workflows/{name}/executions", tags=["workflows"])
    def list_executions(name: str, status: str | None = None,
                        limit: int = Query(100, ge=1, le=10000)) -> list[dict[str, Any]]:
        return workflows.list_executions(name, status, limit)

    @app.get("/v1/workflows/{name}/executions/{execution}", tags=["workflows"])
    def describe_execution(name: str, execution: str) -> dict[str, Any]:
        return workflows.describe_execution(name, execution)

    @app.get("/v1/workflows/{name}/executions/{execution}/wait", tags=["workflows"])
    async def wait_execution(name: str, execution: str, timeout: float = Query(20.0, ge=0, le=60)) -> dict[str, Any]:
        """The execution's description once it has ended (or after ``timeout`` seconds)."""
        return await control.wait_until(lambda: workflows.describe_execution(name, execution),
                                        lambda d: d["status"] != "RUNNING", timeout)

    @app.get("/v1/workflows/{name}/executions/{execution}/history", tags=["workflows"])
    def execution_history(name: str, execution: str, reverse: bool = False, after: int = Query(0, ge=0),
                          limit: int | None = Query(None, ge=1, le=100000)) -> dict[str, Any]:
        """The execution's events (Step Functions' GetExecutionHistory), oldest first unless reversed."""
        return workflows.history(name, execution, reverse, limit, after)

    @app.post("/v1/workflows/{name}/executions/{execution}/stop", tags=["workflows"])
    def stop_execution(name: str, execution: str, body: StopExecution) -> dict[str, Any]:
        workflows.describe_execution(name, execution)
        return workflows.stop_execution(f"{name}:{execution}", body.error, body.cause)

    @app.post("/v1/workflows/{name}/executions/{execution}/redrive", tags=["workflows"])
    def redrive_execution(name: str, execution: str) -> dict[str, Any]:
        """Run a failed execution again from the state that failed (Step Functions' RedriveExecution)."""
        return workflows.redrive(name, execution)

    pipelines = control.pipelines

    def _execution_arn(name: str, execution: str) -> str:
        from mlyard.server.describe import arn

        return arn("pipeline", f"{name}/execution/{execution}")

    @app.post("/v1/pipelines", status_code=201, tags=["pipelines"])
    def create_pipeline(body: CreatePipeline) -> dict[str, Any]:
        """Create a SageMaker pipeline (its definition checked: types, references, cycles)."""
        return pipelines.create(body.model_dump())

    @app.get("/v1/pipelines", tags=["pipelines"])
    def list_pipelines() -> dict[str, Any]:
        return pipelines.list_pipelines()

    @app.get("/v1/pipelines/{name}", tags=["pipelines"])
    def describe_pipeline(name: str) -> dict[str, Any]:
        return pipelines.describe(name)

    @app.put("/v1/pipelines/{name}", tags=["pipelines"])
    def update_pipeline(name: str, body: UpdatePipeline) -> dict[str, Any]:
        return pipelines.update(name, body.model_dump())

    @app.delete("/v1/pipelines/{name}", tags=["pipelines"])
    def delete_pipeline(name: str) -> dict[str, Any]:
        return pipelines.delete(name)

    @app.post("/v1/pipelines/{name}/executions", status_code=201, tags=["pipelines"])
    def start_pipeline_execution(name: str, body: StartPipelineExecution) -> dict[str, Any]:
        return pipelines.start(name, body.model_dump())

    @app.get("/v1/pipelines/{name}/executions", tags=["pipelines"])
    def list_pipeline_executions(name: str, limit: int = Query(100, ge=1, le=10000)) -> dict[str, Any]:
        return pipelines.list_executions(name, limit)

    @app.get("/v1/pipelines/{name}/executions/{execution}", tags=["pipelines"])
    def describe_pipeline_execution(name: str, execution: str) -> dict[str, Any]:
        return pipelines.describe_execution(_execution_arn(name, execution))

    @app.get("/v1/pipelines/{name}/executions/{execution}/wait", tags=["pipelines"])
    async def wait_pipeline_execution(name: str, execution: str,
                                      timeout: float = Query(20.0, ge=0, le=60)) -> dict[str, Any]:
        """The execution's description once it has ended (or after ``timeout`` seconds)."""
        return await control.wait_until(lambda: pipelines.describe_execution(_execution_arn(name, execution)),
                                        lambda d: d["PipelineExecutionStatus"] != "Executing", timeout)

    @app.get("/v1/pipelines/{name}/executions/{execution}/steps", tags=["pipelines"])
    def list_pipeline_execution_steps(name: str, execution: str) -> dict[str, Any]:
        return pipelines.list_steps(_execution_arn(name, execution))

    @app.post("/v1/pipelines/{name}/executions/{execution}/stop", tags=["pipelines"])
    def stop_pipeline_execution(name: str, execution: str) -> dict[str, Any]:
        return pipelines.stop(_execution_arn(name, execution))

    @app.post("/v1/pipelines/{name}/executions/{execution}/retry", tags=["pipelines"])
    def retry_pipeline_execution(name: str, execution: str) -> dict[str, Any]:
        """Run a failed or stopped execution again from the steps that did not succeed."""
        return pipelines.retry(_execution_arn(name, execution))

    registry = control.registry

    @app.post("/v1/model-package-groups", status_code=201, tags=["registry"])
    def create_model_package_group(body: CreateModelPackageGroup) -> dict[str, Any]:
        return registry.create_group(body.model_dump())

    @app.get("/v1/model-package-groups", tags=["registry"])
    def list_model_package_groups() -> dict[str, Any]:
        return registry.list_groups()

    @app.get("/v1/model-package-groups/{name}", tags=["registry"])
    def describe_model_package_group(name: str) -> dict[str, Any]:
        return registry.describe_group(name)

    @app.delete("/v1/model-package-groups/{name}", status_code=204, tags=["registry"])
    def delete_model_package_group(name: str) -> Response:
        registry.delete_group(name)
        return Response(status_code=204)

    @app.put("/v1/model-package-groups/{name}/approval-rules", tags=["registry"])
    def set_approval_rules(name: str, body: ApprovalRules) -> dict[str, Any]:
        """What approving a version of the group starts: workflows and pipelines."""
        return registry.set_rules(name, body.Rules)

    @app.post("/v1/model-packages", status_code=201, tags=["registry"])
    def create_model_package(body: CreateModelPackage) -> dict[str, Any]:
        return registry.create_package(body.model_dump())

    @app.get("/v1/model-packages", tags=["registry"])
    def list_model_packages(group: str | None = None, status: str | None = None,
                            order: str = "Descending") -> dict[str, Any]:
        return registry.list_packages(group, status, order)

    @app.put("/v1/model-packages", tags=["registry"])
    def update_model_package(body: UpdateModelPackage) -> dict[str, Any]:
        """Approve or reject a version (or change its metadata); approving runs the group's rules."""
        return registry.update_package(body.model_dump())

    @app.get("/v1/model-packages/{name:path}", tags=["registry"])
    def describe_model_package(name: str) -> dict[str, Any]:
        return registry.describe_package(name)

    @app.delete("/v1/model-packages/{name:path}", status_code=204, tags=["registry"])
    def delete_model_package(name: str) -> Response:
        registry.delete_package(name)
        return Response(status_code=204)

    @app.get("/v1/lineage", tags=["lineage"])
    def lineage(uri: str | None = None, arn: str | None = None, depth: int = Query(20, ge=1, le=100)
                ) -> dict[str, Any]:
        """An entity's inputs and outputs (``arn``), or what made an artifact and what used it, walked
        up and down (``uri``)."""
        if (uri is None) == (arn is None):
            raise ValidationError("give uri (an artifact) or arn (a job, model, endpoint or model package)")
        return control.lineage.entity(arn) if arn is not None else control.lineage.walk(uri or "", depth)

    functions = control.functions

    @app.put("/v1/functions/{name}", tags=["functions"])
    def put_function(name: str, body: PutFunction) -> dict[str, Any]:
        """Register a function that workflows invoke (lambda:invoke), replacing one of that name."""
        if body.FunctionName != name:
            raise ValidationError(f"the body names function {body.FunctionName!r}, the path {name!r}; make them "
                                  "the same")
        return functions.put(body.model_dump())

    @app.get("/v1/functions", tags=["functions"])
    def list_functions() -> list[dict[str, Any]]:
        return functions.list()

    @app.get("/v1/functions/{name}", tags=["functions"])
    def describe_function(name: str) -> dict[str, Any]:
        return functions.describe(name)

    @app.delete("/v1/functions/{name}", status_code=204, tags=["functions"])
    def delete_function(name: str) -> Response:
        functions.delete(name)
        return Response(status_code=204)

    endpoints = control.endpoints

    @app.post("/v1/models", status_code=201, tags=["models"])
    def create_model(body: CreateModel) -> dict[str, Any]:
        return create_named(body.model_dump(), "ModelName", endpoints.create_model, _exists(endpoints.describe_model),
                            "model")

    @app.get("/v1/models", tags=["models"])
    def list_models() -> list[dict[str, Any]]:
        """Every model (SageMaker's ModelSummary), newest first."""
        return endpoints.list_models()

    @app.get("/v1/models/{name}", tags=["models"])
    def describe_model(name: str) -> dict[str, Any]:
        return endpoints.describe_model(name)

    @app.delete("/v1/models/{name}", status_code=204, tags=["models"])
    def delete_model(name: str) -> Response:
        endpoints.delete_model(name)
        return Response(status_code=204)

    @app.post("/v1/endpoint-configs", status_code=201, tags=["endpoints"])
    def create_endpoint_config(body: CreateEndpointConfig) -> dict[str, Any]:
        return create_named(body.model_dump(), "EndpointConfigName", endpoints.create_endpoint_config,
                            _exists(endpoints.describe_endpoint_config), "endpoint-config")

    @app.get("/v1/endpoint-configs", tags=["endpoints"])
    def list_endpoint_configs() -> list[dict[str, Any]]:
        """Every endpoint configuration (SageMaker's EndpointConfigSummary), newest first."""
        return endpoints.list_endpoint_configs()

    @app.get("/v1/endpoint-configs/{name}", tags=["endpoints"])
    def describe_endpoint_config(name: str) -> dict[str, Any]:
        return endpoints.describe_endpoint_config(name)

    @app.delete("/v1/endpoint-configs/{name}", status_code=204, tags=["endpoints"])
    def delete_endpoint_config(name: str) -> Response:
        endpoints.delete_endpoint_config(name)
        return Response(status_code=204)

    @app.post("/v1/endpoints", status_code=201, tags=["endpoints"])
    def create_endpoint(body: CreateEndpoint) -> dict[str, Any]:
        return create_named(body.model_dump(), "EndpointName", endpoints.create_endpoint,
                            _exists(lambda n: endpoints.objects.get("endpoint", n)), "endpoint")

    @app.get("/v1/endpoints", tags=["endpoints"])
    def list_endpoints() -> list[dict[str, Any]]:
        return endpoints.list_endpoints()

    @app.get("/v1/endpoints/{name}", tags=["endpoints"])
    def describe_endpoint(name: str) -> dict[str, Any]:
        return endpoints.describe_endpoint(name)

    @app.get("/v1/endpoints/{name}/wait", tags=["endpoints"])
    async def wait_endpoint(name: str, timeout: float = Query(20.0, ge=0, le=60)) -> dict[str, Any]:
        """The endpoint's description once it is no longer Creating or Updating (or after ``timeout``)."""
        # Endpoint runners report by files the control loop does not watch: poll them.
        return await control.wait_until(lambda: endpoints.describe_endpoint(name),
                                        lambda d: d["EndpointStatus"] not in ("Creating", "Updating"), timeout, 0.05)

    @app.put("/v1/endpoints/{name}", tags=["endpoints"])
    def update_endpoint(name: str, body: UpdateEndpoint) -> dict[str, Any]:
        return endpoints.update_endpoint(name, body.EndpointConfigName)

    @app.delete("/v1/endpoints/{name}", status_code=204, tags=["endpoints"])
    def delete_endpoint(name: str) -> Response:
        endpoints.delete_endpoint(name)
        return Response(status_code=204)

    @app.get("/v1/endpoints/{name}/logs", tags=["endpoints"], response_class=StreamingResponse)
    async def endpoint_logs(name: str) -> StreamingResponse:
        files = await run_in_threadpool(endpoints.log_files, name)

        async def chunks() -> AsyncIterator[bytes]:
            for path in files:
                for line in path.read_bytes().splitlines():
                    yield path.stem.encode() + b" | " + line + b"\n"

        return StreamingResponse(chunks(), media_type="text/plain")

    async def receive(request: Request, uri: str, by_content: bool = False) -> store.ObjectWriter:
        """Store the request's body as the object ``uri`` (see ``store.ObjectWriter``, which also
        says where a ``by_content`` object goes); returns the committed writer. Streamed to a
        temporary file, put in place once whole: memory stays flat whatever the size, and an
        interrupted or refused upload (over ``MLYARD_MAX_UPLOAD_BYTES``: 413) leaves nothing."""
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_upload:
            raise PayloadTooLargeError(_too_large(int(declared), max_upload))
        writer = await run_in_threadpool(
            _store_call, functools.partial(store.ObjectWriter, tmp_dir=uploads, by_content=by_content), uri)
        try:
            pending, size = bytearray(), 0
            async for chunk in request.stream():
                size += len(chunk)
                if size > max_upload:
                    raise PayloadTooLargeError(_too_large(size, max_upload))
                pending += chunk
                if len(pending) >= store.CHUNK_SIZE:
                    await run_in_threadpool(writer.write, bytes(pending))
                    pending.clear()
            await run_in_threadpool(writer.write, bytes(pending))
            await run_in_threadpool(_store_call, lambda _uri: writer.commit(), uri)
        except ClientDisconnect:
            await run_in_threadpool(writer.abort)
            raise ValidationError(f"the upload to {uri!r} was interrupted; nothing was stored") from None
        except BaseException:
            await run_in_threadpool(writer.abort)
            raise
        return writer

    @app.put("/v1/store/{key:path}", tags=["store"])
    async def put_object(key: str, request: Request) -> dict[str, str]:
        """Write an object (not under ``sources/``: a job's code goes through ``/v1/sources``)."""
        if key.split("/", 1)[0] in (store.SOURCES_PREFIX, store.INPUTS_PREFIX):
            raise ValidationError(f"store key {key!r}: objects under 'sources/' are immutable and named by their "
                                  "content; store a job's code with PUT /v1/sources/{filename} and its inputs with "
                                  "PUT /v1/inputs/{filename} or PUT /v1/input-trees")
        uri = store.join(control.default_output, _safe_key(key))
        writer = await receive(request, uri)
        return {"uri": writer.uri}

    async def receive_by_content(request: Request, prefix: str, filename: str, what: str) -> dict[str, str]:
        """Store the body by its content at ``<prefix>/<sha256>/<filename>`` of the default bucket:
        written once, atomically, never replaced (sources and client inputs alike)."""
        if not _SOURCE_NAME.match(filename):
            raise ValidationError(f"{what} file name {filename!r} must be one file name (no '/', control "
                                  "characters, '.' or '..'; at most 255 characters)")
        writer = await receive(request, store.join(control.default_output, prefix, filename), by_content=True)
        return {"uri": writer.uri, "sha256": str(writer.sha256)}

    @app.put("/v1/sources/{filename}", tags=["store"])
    async def put_source(filename: str, request: Request) -> dict[str, str]:
        """Store a job's code by its content, at ``sources/<sha256>/<filename>``: written once,
        atomically, never replaced; a job's create request names the URI returned, so what a job
        runs is what its creator sent, whoever else creates jobs meanwhile."""
        return await receive_by_content(request, store.SOURCES_PREFIX, filename, "source")

    @app.put("/v1/inputs/{filename}", tags=["store"])
    async def put_input(filename: str, request: Request) -> dict[str, str]:
        """Store a client's local input file by its content, at ``inputs/files/<sha256>/<filename>``
        (written once, never replaced, as a source is)."""
        return await receive_by_content(request, store.INPUT_FILES, filename, "input")

    @app.put("/v1/input-trees", tags=["store"])
    async def put_input_tree(request: Request) -> dict[str, str]:
        """Store a client's local input folder, sent as a tar, at ``inputs/trees/<sha256 of the tar>/``:
        extracted once (members that would escape, links out, devices are refused), put in place
        whole, never replaced."""
        folder = uploads / f"tree-{os.urandom(8).hex()}"  # this upload's alone: removed whole after
        try:
            writer = await receive(request, f"file://{folder}/input.tar", by_content=True)
            uri = await run_in_threadpool(_store_tree, Path(writer.uri[len("file://"):]), control.default_output,
                                          str(writer.sha256))
        finally:
            await run_in_threadpool(shutil.rmtree, folder, True)
        return {"uri": uri, "sha256": str(writer.sha256)}

    @app.get("/v1/inputs/{sha256}", tags=["store"])
    def find_input(sha256: str, kind: Literal["file", "tree"] | None = None,
                   filename: str | None = None) -> dict[str, str]:
        """The URI of an input stored with that content, so a client uploads nothing the store
        holds already; 404 if there is none. ``kind``: a ``file`` (named ``filename``, which it
        needs) or a ``tree`` (a folder, by its tar's SHA-256); without it, a file if ``filename``
        is given, else a folder. A file is never found as a folder, nor a folder as a file."""
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise ValidationError(f"{sha256!r} is not a SHA-256 in hex")
        kind = kind or ("file" if filename is not None else "tree")
        if kind == "file" and (filename is None or not _SOURCE_NAME.match(filename)):
            raise ValidationError(f"filename {filename!r}: a file input is found by its SHA-256 and its file name "
                                  "(one name: no '/', control characters, '.' or '..')")
        if kind == "tree" and filename is not None:
            raise ValidationError(f"filename {filename!r}: a folder input (kind=tree) is found by its tar's "
                                  "SHA-256 alone")
        if kind == "file":
            uri = store.join(control.default_output, store.INPUT_FILES, sha256, str(filename))
            found = store.local_path(uri)
            there = found.is_file() if found is not None else store.exists(uri)
        else:
            uri = store.join(control.default_output, store.INPUT_TREES, sha256)
            found = store.local_path(uri)
            there = found.is_dir() if found is not None else store.exists(uri)
        if not there:
            raise NotFoundError(f"no input {kind} with SHA-256 {sha256} is stored")
        return {"uri": uri}

    @app.get("/v1/store/{key:path}", tags=["store"], response_class=StreamingResponse)
    def get_object(key: str) -> StreamingResponse:
        return _object_response(store.join(control.store_root, _safe_key(key)))

    @app.post("/v1/store-read", tags=["store"], response_class=StreamingResponse)
    def read_uri(uri: str = Body(embed=True)) -> StreamingResponse:
        """Read an object by its full URI: an ``s3://`` URI (a local bucket's or real S3's), or a
        local path inside the store or a local bucket (a token holder must not read the server's
        other files through this)."""
        if uri.startswith("s3://") or uri[:3].lower() == "s3:":
            return _object_response(check_s3_uri("uri", uri, need_key=True))
        roots = [r.rstrip("/") + "/" for r in [control.store_root, *store.buckets().values()]]
        normalized = uri if "://" in uri else f"file://{uri}"
        local = store.local_path(normalized)
        if local is not None:
            normalized = f"file://{os.path.normpath(local)}"
        if not any(normalized.startswith(root) for root in roots):
            raise ValidationError(f"{uri!r} is outside the store ({control.store_root}) and the local buckets; "
                                  "read it where it lies")
        return _object_response(normalized)

    @app.put("/v1/objects", tags=["store"])
    async def put_uri(request: Request, uri: str = Query(..., description="s3://bucket/key")) -> dict[str, str]:
        """Write the object ``uri`` (a local bucket's or real S3's) with the request's body."""
        await run_in_threadpool(_writable_uri, control, uri)
        writer = await receive(request, uri)
        return {"uri": writer.uri}

    @app.get("/v1/objects", tags=["store"])
    def list_uri(uri: str = Query(..., description="s3://bucket/prefix")) -> dict[str, list[str]]:
        """Every object under the prefix ``uri`` (recursively), as ``s3://`` URIs sorted by key."""
        if not uri.startswith("s3://"):
            check_s3_uri("uri", uri)
            raise ValidationError(f"uri {uri!r}: list objects by an s3://bucket/prefix URI")
        check_s3_uri("uri", uri)
        return {"uris": [u for u, _key in _store_call(store.list_objects, uri)]}

    return app


def _store_tree(tar: Path, root: str, sha256: str) -> str:
    """Extract ``tar`` as the input folder ``inputs/trees/<sha256>/`` of the store, unless it is there."""
    import tempfile

    from mlyard.store.archive import extract_tar

    uri = store.join(root, store.INPUT_TREES, sha256)
    if store.exists(uri):
        return uri
    local = store.local_path(uri)
    parent = local.parent if local is not None else None
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".tree-", dir=parent))
    try:
        extract_tar(tar, scratch / "tree")
        if local is None:
            store.sync_dir_to(scratch / "tree", uri)
        else:
            try:
                os.rename(scratch / "tree", local)  # whole, at once; a racing upload of the same tree won
            except OSError:
                if not local.is_dir():
                    raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return uri


def _exists(describe: Callable[[str], Any]) -> Callable[[str], bool]:
    """Whether ``describe`` finds something of that name."""
    def exists(name: str) -> bool:
        try:
            describe(name)
        except NotFoundError:
            return False
        return True

    return exists


_SOURCE_NAME = re.compile(r"^(?!\.\.?$)[^/\x00-\x1f\x7f]{1,255}$")


def _too_large(size: int, limit: int) -> str:
    return (f"the upload is over the server's limit of {limit} bytes (it sent {size}); store large "
            "objects where jobs can read them directly, or raise MLYARD_MAX_UPLOAD_BYTES on the server")


def _object_response(uri: str) -> StreamingResponse:
    """One object, streamed in pieces (never read whole into memory)."""
    fh, size = _store_call(store.open_object, uri)

    def pieces() -> Iterator[bytes]:
        with fh:
            while chunk := fh.read(store.CHUNK_SIZE):
                yield chunk

    return StreamingResponse(pieces(), media_type="application/octet-stream",
                             headers={"Content-Length": str(size)})


def _database(home: Path) -> str:
    """The catalog's URL, its password hidden."""
    import sqlalchemy as sa

    return sa.engine.make_url(config.database_url(home)).render_as_string(hide_password=True)


def _writable_uri(control: ControlPlane, uri: str) -> None:
    """Raise ValidationError unless ``uri`` is an ``s3://`` object a client may write: with a key,
    in a bucket that is local or reachable, never in the store's ``sources/``."""
    if not uri.startswith("s3://"):
        check_s3_uri("uri", uri)
        raise ValidationError(f"uri {uri!r}: write objects by an s3://bucket/key URI")
    check_s3_uri("uri", uri, need_key=True)
    bucket, key = store.split_s3(uri)
    _safe_key(key)
    control.sources.check_destination("uri", uri)


def _safe_key(key: str) -> str:
    parts = key.split("/")
    if key.startswith("/") or any(p in ("", ".", "..") for p in parts) or any(ord(c) < 32 for c in key):
        raise ValidationError(f"store key {key!r} must be a relative path without '.' or '..' parts or "
                              "control characters")
    return key


def _store_call(fn: Callable[..., Any], *args: Any) -> Any:
    """A store operation, its OS errors as client errors (what was asked for is not there, or is a
    folder, or cannot be written)."""
    try:
        return fn(*args)
    except FileNotFoundError as exc:
        raise NotFoundError(f"no object at {args[-1]!r}") from exc
    except (IsADirectoryError, NotADirectoryError) as exc:
        raise ConflictError(f"{args[-1]!r} is a folder, or is inside a file: {exc.strerror}") from exc
    except (OSError, ValueError) as exc:
        raise ValidationError(f"cannot use {args[-1]!r}: {exc}") from exc
    except Exception as exc:
        # S3's own errors (botocore: no credentials, the endpoint refused the connection, access
        # denied...) are about what was asked for: a 400 that names it, never a 500.
        if type(exc).__module__.split(".")[0] not in ("botocore", "aiobotocore", "s3fs"):
            raise
        raise ValidationError(f"cannot use {args[-1]!r}: S3 answered {type(exc).__name__}: {exc}") from exc


def _log_offsets(hosts: list[str], since: str | None) -> list[int]:
    """Each host's offset to start from, read from ``since`` (``host:offset,...``)."""
    offsets = dict.fromkeys(hosts, 0)
    for part in (since or "").split(","):
        if not part:
            continue
        host, _, offset = part.rpartition(":")
        if host not in offsets or not offset.isdigit():
            raise ValidationError(f"since={since!r}: each part must be host:offset with a host of the job "
                                  f"({', '.join(hosts)}) and a byte offset")
        offsets[host] = int(offset)
    return list(offsets.values())


async def _stream_logs(control: ControlPlane, name: str, channel: RunnerChannel, hosts: list[str], follow: bool,
                       offsets: list[int]) -> AsyncIterator[bytes]:
    """The hosts' logs (``logs/<host>.log`` in the job's runner channel) from ``offsets``; with
    several hosts each line is prefixed with its host's name (lines are cut at newlines only, so
    that a prefixed line's bytes are its log's bytes). Following ends once the job has ended and
    every log is drained."""
    rests = [b""] * len(hosts)
    prefix = len(hosts) > 1
    generation, checked = control.generation, -1
    ended = False
    quiet = 0
    while True:
        if generation != checked:  # the job can only have ended if some job's state changed
            checked = generation
            _, _, ended = await run_in_threadpool(control.log_channel, name)
        more = got = False  # more: a read was cut at the chunk size: read on before waiting or ending
        for i, host in enumerate(hosts):
            data = await run_in_threadpool(channel.read, f"logs/{host}.log", offsets[i], store.CHUNK_SIZE) \
                if channel.local is None else channel.read(f"logs/{host}.log", offsets[i], store.CHUNK_SIZE)
            if not data:
                continue
            more, got = more or len(data) == store.CHUNK_SIZE, True
            offsets[i] += len(data)
            if not prefix:
                yield data
                continue
            data = rests[i] + data
            cut = data.rfind(b"\n") + 1
            rests[i] = data[cut:]
            if cut:
                yield b"".join(host.encode() + b" | " + line + b"\n" for line in data[:cut - 1].split(b"\n"))
        if more:
            continue
        if not follow or ended:
            for i, rest in enumerate(rests):
                if rest:
                    yield hosts[i].encode() + b" | " + rest + b"\n"
            return
        # Wake at once when the job's state changes (it may have ended), else poll the files: every
        # 50 ms while lines come, backing off to 250 ms while the logs are quiet (a long job's
        # follower costs next to nothing).
        quiet = 0 if got else quiet + 1
        generation = await control.changed_since(generation, min(0.05 * (1 << min(quiet, 3)), 0.25))
