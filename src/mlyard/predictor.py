"""``Predictor``: requests to a deployed endpoint (SageMaker's ``sagemaker.predictor``)."""

from __future__ import annotations

import socket
from typing import Any

import httpx

from mlyard.compat import cloud_only
from mlyard.deserializers import BaseDeserializer, BytesDeserializer
from mlyard.errors import MlyardError, ServerUnavailableError, error_for_code
from mlyard.jobs import _deploy_config, submit
from mlyard.serializers import BaseSerializer, IdentitySerializer
from mlyard.session import Session

__all__ = ["Predictor"]


class Predictor:
    """Sends ``predict`` requests straight to the endpoint's URL; everything else (describe,
    update, delete) goes through the control plane. Framework predictors only change the default
    serializer and deserializer."""

    _serializer: type[BaseSerializer] = IdentitySerializer
    _deserializer: type[BaseDeserializer] = BytesDeserializer

    def __init__(self, endpoint_name: str, sagemaker_session: Session | None = None,
                 serializer: BaseSerializer | None = None, deserializer: BaseDeserializer | None = None,
                 **kwargs: Any) -> None:
        cloud_only(type(self).__name__, kwargs)  # component_name, model_name, context...: one warning
        self.endpoint_name = endpoint_name
        self.sagemaker_session = sagemaker_session or Session()
        self.serializer = serializer or self._serializer()
        self.deserializer = deserializer or self._deserializer()
        self._http: httpx.Client | None = None
        self._url: str | None = None
        self._token: str | None = None

    @property
    def endpoint_url(self) -> str:
        if self._url is None:
            desc = self.describe()
            if desc["EndpointStatus"] != "InService" or not desc.get("EndpointUrl"):
                raise MlyardError(f"endpoint {self.endpoint_name!r} is {desc['EndpointStatus']}"
                                  + (f": {desc['FailureReason']}" if desc.get("FailureReason") else ""))
            self._url = str(desc["EndpointUrl"])
            self._token = desc.get("EndpointToken")
        return self._url

    @property
    def content_type(self) -> str:
        return self.serializer.CONTENT_TYPE

    @property
    def accept(self) -> tuple[str, ...]:
        return self.deserializer.ACCEPT

    def describe(self) -> dict[str, Any]:
        return self.sagemaker_session.client.describe_endpoint(self.endpoint_name)

    def _client(self) -> httpx.Client:
        if self._http is None:
            transport = httpx.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
            url = self.endpoint_url
            # An endpoint with a token (MLYARD_ENDPOINT_AUTH=token) gets it from its description.
            headers = {"Authorization": f"Bearer {self._token}"} if self._token else None
            self._http = httpx.Client(base_url=url, transport=transport, headers=headers,
                                      timeout=httpx.Timeout(60.0, connect=5.0))
        return self._http

    def predict(self, data: Any, initial_args: dict[str, Any] | None = None, target_model: str | None = None,
                target_variant: str | None = None, inference_id: str | None = None,
                custom_attributes: str | None = None) -> Any:
        headers = {"Content-Type": self.serializer.CONTENT_TYPE, "Accept": ", ".join(self.deserializer.ACCEPT)}
        for key, value in (initial_args or {}).items():
            headers[{"ContentType": "Content-Type", "Accept": "Accept"}.get(key, key)] = str(value)
        optional = {"X-Amzn-SageMaker-Target-Model": target_model, "X-Amzn-SageMaker-Target-Variant": target_variant,
                    "X-Amzn-SageMaker-Inference-Id": inference_id,
                    "X-Amzn-SageMaker-Custom-Attributes": custom_attributes}
        headers.update({k: v for k, v in optional.items() if v})
        body = self.serializer.serialize(data)
        try:
            resp = self._client().post("/invocations", content=body, headers=headers)
        except httpx.TransportError as exc:
            raise ServerUnavailableError(f"endpoint {self.endpoint_name!r} at {self.endpoint_url} did not answer: "
                                         f"{exc}") from exc
        if resp.status_code >= 400:
            try:
                err = resp.json()
            except ValueError:
                err = {}
            if not isinstance(err, dict) or not err.get("message"):
                raise MlyardError(f"endpoint {self.endpoint_name!r} answered {resp.status_code}: {resp.text[:500]}")
            raise error_for_code(str(err.get("error", "")), str(err["message"]))
        return self.deserializer.deserialize(resp.content, resp.headers.get("content-type", ""))

    def update_endpoint(self, initial_instance_count: int | None = None, instance_type: str | None = None,
                        model_name: str | None = None, data_capture_config_dict: dict[str, Any] | None = None,
                        wait: bool = True, **kwargs: Any) -> None:
        """Roll the endpoint to a new configuration (new model, instance count or type, data
        capture); with ``wait``, until the new configuration serves. SageMaker's cloud-only
        arguments (``kms_key``, ``tags``...) are accepted with one warning naming them."""
        cloud_only(f"{type(self).__name__}.update_endpoint", kwargs)
        current = self.describe()
        client = self.sagemaker_session.client
        old = client.request("GET", f"/v1/endpoint-configs/{current['EndpointConfigName']}")
        variant = dict(old["ProductionVariants"][0])
        if initial_instance_count is not None:
            variant["InitialInstanceCount"] = initial_instance_count
        if instance_type is not None:
            variant["InstanceType"] = instance_type
        if model_name is not None:
            variant["ModelName"] = model_name
        config = _deploy_config(self.endpoint_name, [variant], data_capture_config_dict or old.get("DataCaptureConfig"),
                                old.get("MlyardConfig"))
        config_name = submit(self.sagemaker_session, "endpoint-config", config)["EndpointConfigName"]
        client.update_endpoint(self.endpoint_name, config_name)
        if not wait:  # the endpoint keeps its address: requests go on to the serving configuration
            return
        desc = self._wait()
        if desc["EndpointConfigName"] != config_name:
            raise MlyardError(f"updating endpoint {self.endpoint_name!r} failed; the previous configuration keeps "
                              f"serving: {desc.get('FailureReason')}")

    def _wait(self) -> dict[str, Any]:
        while True:
            desc = self.sagemaker_session.client.wait_endpoint(self.endpoint_name, timeout=20)
            if desc["EndpointStatus"] not in ("Creating", "Updating"):
                break
        if desc["EndpointStatus"] != "InService":
            raise MlyardError(f"endpoint {self.endpoint_name!r} is {desc['EndpointStatus']}: "
                              f"{desc.get('FailureReason')}")
        self._url = desc.get("EndpointUrl")
        self._token = desc.get("EndpointToken")
        return desc

    def close(self) -> None:
        """Close the connection to the endpoint (the endpoint keeps running)."""
        if self._http is not None:
            self._http.close()
            self._http = None

    def __del__(self) -> None:
        # Notebooks drop predictors without closing them (or delete the endpoint through the
        # session): the connection goes with the object, never left for the collector to find open.
        http = getattr(self, "_http", None)
        if http is not None:
            try:
                http.close()
            except Exception:  # noqa: BLE001 - interpreter shutdown: nothing left to tell
                pass

    def __enter__(self) -> Predictor:
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.close()

    def delete_endpoint(self, delete_endpoint_config: bool = True) -> None:
        self.close()
        client = self.sagemaker_session.client
        desc = self.describe()
        client.delete_endpoint(self.endpoint_name)
        if delete_endpoint_config:
            try:
                client.delete_endpoint_config(desc["EndpointConfigName"])
            except MlyardError:
                pass

    def delete_model(self) -> None:
        client = self.sagemaker_session.client
        config = client.request("GET", f"/v1/endpoint-configs/{self.describe()['EndpointConfigName']}")
        for variant in config["ProductionVariants"]:
            client.delete_model(variant["ModelName"])
