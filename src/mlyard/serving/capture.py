"""Data capture: sampled requests and responses of an endpoint, as JSON Lines in the store.

Records use SageMaker's capture format (``captureData.endpointInput/endpointOutput``,
``eventMetadata.eventId/inferenceId/inferenceTime``). They are buffered, appended to a local file
and copied to ``<DestinationS3Uri>/<endpoint>/<variant>/<yyyy>/<mm>/<dd>/<hh>/`` every few
seconds and when the endpoint stops, so a graceful stop loses nothing.
"""

from __future__ import annotations

import base64
import random
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

from mlyard import store

__all__ = ["DataCapture"]

_TEXT = ("application/json", "text/csv", "application/jsonlines", "text/plain")


class DataCapture:
    def __init__(self, endpoint: str, config: dict[str, Any], local_dir: Path) -> None:
        self.endpoint = endpoint
        self.percentage = float(config.get("InitialSamplingPercentage", 100))
        modes = {o.get("CaptureMode") for o in config.get("CaptureOptions") or [{"CaptureMode": "Input"},
                                                                             {"CaptureMode": "Output"}]}
        self.inputs, self.outputs = "Input" in modes, "Output" in modes
        self.destination = str(config["DestinationS3Uri"]).rstrip("/")
        self.local_dir = local_dir
        local_dir.mkdir(parents=True, exist_ok=True)
        self._buffer: dict[tuple[str, str], list[bytes]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._files: dict[tuple[str, str], Path] = {}
        self._thread = threading.Thread(target=self._flusher, daemon=True)
        self._thread.start()

    @staticmethod
    def _data(body: bytes, content_type: str | None) -> dict[str, Any]:
        ct = (content_type or "application/octet-stream").split(";")[0].strip()
        if ct in _TEXT:
            return {"observedContentType": ct, "mode": "", "data": body.decode(errors="replace"),
                    "encoding": "CSV" if ct == "text/csv" else "JSON"}
        return {"observedContentType": ct, "mode": "", "data": base64.b64encode(body).decode(), "encoding": "BASE64"}

    def sample(self) -> bool:
        """Whether to capture the next request (``InitialSamplingPercentage``); decided before it is
        sent, so a request that is not captured costs no copy."""
        return random.random() * 100 < self.percentage

    def record(self, variant: str, request: bytes, request_type: str | None, response: bytes,
               response_type: str | None, inference_id: str | None) -> None:
        """Buffer one sampled request and its response."""
        capture: dict[str, Any] = {}
        if self.inputs:
            capture["endpointInput"] = self._data(request, request_type) | {"mode": "INPUT"}
        if self.outputs:
            capture["endpointOutput"] = self._data(response, response_type) | {"mode": "OUTPUT"}
        now = datetime.now(timezone.utc)
        meta = {"eventId": str(uuid.uuid4()), "inferenceTime": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
        if inference_id:
            meta["inferenceId"] = inference_id
        line = orjson.dumps({"captureData": capture, "eventMetadata": meta, "eventVersion": "0"}) + b"\n"
        hour = now.strftime("%Y/%m/%d/%H")
        with self._lock:
            self._buffer.setdefault((variant, hour), []).append(line)

    def flush(self) -> None:
        with self._lock:
            buffer, self._buffer = self._buffer, {}
        for (variant, hour), lines in buffer.items():
            key = (variant, hour)
            if key not in self._files:
                name = f"{time.strftime('%M-%S')}-{uuid.uuid4().hex[:8]}.jsonl"
                self._files[key] = self.local_dir / variant / hour / name
                self._files[key].parent.mkdir(parents=True, exist_ok=True)
            path = self._files[key]
            with path.open("ab") as fh:
                fh.write(b"".join(lines))
            store.upload_file(path, store.join(self.destination, self.endpoint, variant, hour, path.name))

    def _flusher(self) -> None:
        while not self._stop.wait(2.0):
            try:
                self.flush()
            except Exception:  # the next flush retries; nothing is dropped from the local file
                pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.flush()
