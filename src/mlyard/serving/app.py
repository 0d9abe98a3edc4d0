"""The model server of one instance: SageMaker's container API (``/ping``, ``/invocations``),
TensorFlow Serving's REST API (``/v1/models/...``) and the Open Inference Protocol v2
(``/v2/...``), on one port, in front of one handler with adaptive batching."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import mlyard
from mlyard.errors import MlyardError, ModelError, PayloadTooLargeError, ValidationError
from mlyard.serving import codecs
from mlyard.serving.batching import Batcher
from mlyard.serving.handlers.base import Handler
from mlyard.serving.handlers.custom import CustomHandler

__all__ = ["ModelServer", "create_app", "create_pipeline_app", "invoke"]

_V2_TYPES = {"FP32": "float32", "FP64": "float64", "FP16": "float16", "INT8": "int8", "INT16": "int16",
             "INT32": "int32", "INT64": "int64", "UINT8": "uint8", "BOOL": "bool"}


class ModelServer:
    def __init__(self, handler: Handler, name: str = "model", max_batch_size: int = 64,
                 max_latency_ms: float = 2.0, max_payload_mb: float = 6.0, default_accept: str = codecs.JSON,
                 max_concurrent_transforms: int = 1) -> None:
        self.handler = handler
        self.name = name
        self.max_payload = int(max_payload_mb * 1024 * 1024)
        self.default_accept = default_accept
        self.max_concurrent_transforms = max_concurrent_transforms
        self.batcher = Batcher(handler.predict, max_batch_size, max_latency_ms) if handler.batchable else None

    async def predict_rows(self, rows: Any) -> Any:
        array = _rows(rows)
        if self.batcher is not None:
            return await self.batcher.submit(array)
        return await asyncio.to_thread(self.handler.predict, array)


def _rows(data: Any) -> np.ndarray:
    try:
        array = np.asarray(data)
    except (ValueError, OverflowError) as exc:
        raise ModelError(f"the instances are not a rectangular array: {exc}") from exc
    if array.dtype == object:
        raise ModelError("the instances are not a rectangular array of numbers (rows of different lengths?)")
    if array.ndim == 0:
        raise ModelError("expected a list of instances (rows), got a single value")
    if array.ndim == 1:
        array = array.reshape(1, -1)  # one instance
    if len(array) == 0:
        raise ModelError("there are no instances to predict")
    return array


async def _body(request: Request, server: ModelServer) -> bytes:
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > server.max_payload:
        raise PayloadTooLargeError(f"the request is {int(length)} bytes; the limit is {server.max_payload} "
                                   "bytes (6 MB): send fewer rows per request")
    body = await request.body()
    if len(body) > server.max_payload:
        raise PayloadTooLargeError(f"the request is {len(body)} bytes; the limit is {server.max_payload} bytes")
    return body


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY, default=codecs.to_jsonable),
                    status_code=status, media_type=codecs.JSON)


async def _ping(_: Request) -> Response:
    return Response(status_code=200)


def _execution_parameters(server: ModelServer) -> Callable[[Request], Awaitable[Response]]:
    async def execution_parameters(_: Request) -> Response:
        return _json({"MaxConcurrentTransforms": server.max_concurrent_transforms, "BatchStrategy": "MULTI_RECORD",
                      "MaxPayloadInMB": server.max_payload // (1024 * 1024)})

    return execution_parameters


def create_app(server: ModelServer) -> Starlette:
    handler = server.handler

    ping, execution_parameters = _ping, _execution_parameters(server)

    async def invocations(request: Request) -> Response:
        body = await _body(request, server)
        out, out_type = await invoke(server, body, request.headers.get("content-type"),
                                     request.headers.get("accept"))
        return Response(out, media_type=out_type)

    async def _tfs_invoke(data: Any, content_type: str, accept: str) -> Response:
        return await _tfs_response(server, data, content_type, accept)


    # -- TensorFlow Serving REST ------------------------------------------------------------------
    def _tfs_model(path: str) -> tuple[str, str | None, str | None]:
        """'<name>[/versions/<v>][:<method>|/metadata]' -> (name, version, method or 'metadata')."""
        method = None
        if ":" in path:
            path, method = path.rsplit(":", 1)
        elif path.endswith("/metadata"):
            path, method = path[: -len("/metadata")], "metadata"
        parts = path.split("/")
        name, version = parts[0], None
        if len(parts) == 3 and parts[1] in ("versions", "labels"):
            version = parts[2]
        elif len(parts) != 1:
            raise HTTPException(404, f"no route /v1/models/{path}")
        if name != server.name or (version is not None and version != handler.version):
            label = f"Specific({name}, {version})" if version else f"Latest({name})"
            raise HTTPException(404, f"Servable not found for request: {label}")
        return name, version, method

    async def tfs_get(request: Request) -> Response:
        try:
            _, _, method = _tfs_model(request.path_params["path"])
        except HTTPException as exc:
            return _json({"error": exc.detail}, exc.status_code)
        if method == "metadata":
            meta = handler.metadata()
            return _json({"model_spec": {"name": server.name, "version": handler.version},
                          "metadata": {"signature_def": meta}})
        return _json({"model_version_status": [{"version": handler.version, "state": "AVAILABLE",
                                                "status": {"error_code": "OK", "error_message": ""}}]})

    async def tfs_post(request: Request) -> Response:
        try:
            _, _, method = _tfs_model(request.path_params["path"])
            if method != "predict":
                raise HTTPException(400 if method in ("classify", "regress") else 404,
                                    f"{method!r} is not served here; use :predict")
            body = codecs.decode(await _body(request, server), codecs.JSON)
            if not isinstance(body, dict) or not ({"instances", "inputs"} & set(body)):
                raise ValidationError("the body must be a JSON object with 'instances' or 'inputs'")
            return await _tfs_invoke(body, codecs.JSON, codecs.JSON)
        except HTTPException as exc:
            return _json({"error": exc.detail}, exc.status_code)
        except MlyardError as exc:
            return _json({"error": exc.message}, exc.status_code)

    # -- Open Inference Protocol v2 ----------------------------------------------------------------
    def _v2_check(request: Request) -> None:
        name = request.path_params["name"]
        version = request.path_params.get("version")
        if name != server.name or (version is not None and version != handler.version):
            raise HTTPException(404, f"model {name!r}" + (f" version {version!r}" if version else "") + " not found")

    async def v2_live(_: Request) -> Response:
        return _json({"live": True})

    async def v2_ready(_: Request) -> Response:
        return _json({"ready": True})

    async def v2_server(_: Request) -> Response:
        return _json({"name": "mlyard", "version": mlyard.__version__, "extensions": []})

    async def v2_model(request: Request) -> Response:
        _v2_check(request)
        return _json(handler.metadata() | {"name": server.name})

    async def v2_model_ready(request: Request) -> Response:
        _v2_check(request)
        return _json({"name": server.name, "ready": True})

    async def v2_infer(request: Request) -> Response:
        _v2_check(request)
        body = codecs.decode(await _body(request, server), codecs.JSON)
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
            raise ValidationError("the body must be {\"inputs\": [{\"name\", \"shape\", \"datatype\", \"data\"}]} "
                                  "with one input")
        spec = inputs[0]
        dtype = _V2_TYPES.get(str(spec.get("datatype", "FP32")).upper())
        shape = spec.get("shape")
        if dtype is None:
            raise ValidationError(f"datatype {spec.get('datatype')!r} is not supported; use one of {sorted(_V2_TYPES)}")
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise ValidationError("'shape' must be a list of non-negative integers")
        try:
            array = np.asarray(spec.get("data"), dtype=dtype).reshape(shape)
        except (ValueError, TypeError, OverflowError) as exc:
            raise ValidationError(f"'data' does not fit shape {shape} as {spec.get('datatype')}: {exc}") from exc
        if math.prod(shape) == 0 or not shape:
            raise ValidationError("the input has no rows")
        out = await server.predict_rows(array)
        outputs = out if isinstance(out, dict) else {"output_0": out}
        return _json({"model_name": server.name, "model_version": handler.version, "id": body.get("id"),
                      "outputs": [{"name": k, "shape": list(np.shape(v)), "datatype": _v2_type(np.asarray(v)),
                                   "data": np.asarray(v).reshape(-1)} for k, v in outputs.items()]})

    routes = [
        Route("/ping", ping, methods=["GET"]),
        Route("/execution-parameters", execution_parameters, methods=["GET"]),
        Route("/invocations", invocations, methods=["POST"]),
        Route("/v1/models/{path:path}", tfs_get, methods=["GET"]),
        Route("/v1/models/{path:path}", tfs_post, methods=["POST"]),
        Route("/v2", v2_server, methods=["GET"]),
        Route("/v2/health/live", v2_live, methods=["GET"]),
        Route("/v2/health/ready", v2_ready, methods=["GET"]),
        Route("/v2/models/{name}", v2_model, methods=["GET"]),
        Route("/v2/models/{name}/ready", v2_model_ready, methods=["GET"]),
        Route("/v2/models/{name}/infer", v2_infer, methods=["POST"]),
        Route("/v2/models/{name}/versions/{version}/infer", v2_infer, methods=["POST"]),
    ]
    return Starlette(routes=routes, exception_handlers={Exception: _on_error, HTTPException: _on_error,
                                                       MlyardError: _on_error})


def create_pipeline_app(servers: list[ModelServer]) -> Starlette:
    """A serial inference pipeline's ``/ping`` and ``/invocations``: each container's response is
    the next one's request (its content type the next one's), the last one's goes back; the
    request's Accept applies to the last container, the others answer in their default type."""
    first = servers[0]

    ping, execution_parameters = _ping, _execution_parameters(first)

    async def invocations(request: Request) -> Response:
        body: bytes = await _body(request, first)
        content_type = request.headers.get("content-type")
        for i, server in enumerate(servers):
            last = i == len(servers) - 1
            try:
                body, content_type = await invoke(server, body, content_type,
                                                  request.headers.get("accept") if last else None)
            except MlyardError as exc:
                exc.message = f"container {i + 1} of {len(servers)}: {exc.message}"
                raise
            except Exception as exc:  # the container's inference code failed: a 500, as a single model's
                raise MlyardError(f"container {i + 1} of {len(servers)}: {type(exc).__name__}: {exc}") from exc
        return Response(body, media_type=content_type)

    routes = [Route("/ping", ping, methods=["GET"]),
              Route("/execution-parameters", execution_parameters, methods=["GET"]),
              Route("/invocations", invocations, methods=["POST"])]
    return Starlette(routes=routes, exception_handlers={Exception: _on_error, MlyardError: _on_error})


async def _on_error(_: Request, exc: Exception) -> Response:
    if isinstance(exc, MlyardError):
        status = exc.status_code if exc.status_code < 500 else 500
        return JSONResponse({"error": exc.code, "message": exc.message}, status_code=status)
    if isinstance(exc, HTTPException):
        return JSONResponse({"error": "HTTPError", "message": str(exc.detail)}, status_code=exc.status_code)
    return JSONResponse({"error": "InternalError", "message": f"{type(exc).__name__}: {exc}"}, status_code=500)


async def invoke(server: ModelServer, body: bytes, content_type: str | None, accept: str | None
                 ) -> tuple[bytes, str]:
    """SageMaker's ``/invocations`` on ``server``: the response body and its media type."""
    handler = server.handler
    media = codecs.media_type(content_type)
    wanted = codecs.media_type(accept, server.default_accept)
    if isinstance(handler, CustomHandler):
        # Inference code sees the request's own content type, as SageMaker's toolkit passes it.
        raw_type = (content_type or codecs.JSON).split(";")[0].strip().lower()
        out, out_type = await asyncio.to_thread(handler.invoke, body, raw_type, wanted)
        return out, out_type
    data = codecs.decode(body, media)
    if handler.kind in ("tensorflow_savedmodel", "keras"):
        response = await _tfs_response(server, data, media, wanted)
        return bytes(response.body), str(response.media_type)
    if isinstance(data, dict):  # NPZ
        if len(data) != 1:
            raise ModelError(f"the NPZ body holds {len(data)} arrays; send one")
        data = next(iter(data.values()))
    out = await server.predict_rows(data)
    return codecs.encode(out, wanted)


async def _tfs_response(server: ModelServer, data: Any, content_type: str, accept: str) -> Response:
    # TensorFlow Serving container rules: instances/inputs pass through; other JSON is the
    # instances; JSON Lines and CSV rows are the instances.
    columnar = isinstance(data, dict) and "inputs" in data
    if isinstance(data, dict):
        if "instances" in data and "inputs" in data:
            raise ValidationError("send either 'instances' or 'inputs', not both")
        if "instances" in data or "inputs" in data:
            data = _single_input(data["instances" if "instances" in data else "inputs"])
        elif len(data) == 1 and content_type == codecs.NPZ:
            data = next(iter(data.values()))
        else:
            raise ValidationError("a JSON object body needs an 'instances' or 'inputs' key")
    elif content_type == codecs.JSON and isinstance(data, list) and not (data and isinstance(data[0], list)):
        data = [data]  # as TF Serving's container: a body not starting with [[ is one instance
    out = await server.predict_rows(data)
    if accept == codecs.JSON:
        return _json({"outputs" if columnar else "predictions": out})
    payload, out_type = codecs.encode(out, accept)
    return Response(payload, media_type=out_type)


def _single_input(value: Any) -> Any:
    """Named inputs of a single-input signature: {"name": rows} or [{"name": row}, ...] -> rows."""
    if isinstance(value, dict):
        if len(value) != 1:
            raise ModelError(f"the model takes one input; got {sorted(value)}")
        return next(iter(value.values()))
    if isinstance(value, list) and value and all(isinstance(v, dict) and len(v) == 1 for v in value):
        return [next(iter(v.values())) for v in value]
    return value


def _v2_type(array: np.ndarray) -> str:
    inverse = {v: k for k, v in _V2_TYPES.items()}
    return inverse.get(array.dtype.name, "BYTES")
