"""``NetworkConfig`` (SageMaker's ``sagemaker.network``): accepted so notebooks run unchanged.

Local jobs have no VPC, subnets or security groups; a processor or estimator given a
``NetworkConfig`` that asks for any of them warns once (``mlyard.compat.cloud_only``). Network
isolation of untrusted code is the sandbox's (``sandbox=True``: no network at all).
"""

from __future__ import annotations

from typing import Any

__all__ = ["NetworkConfig"]


class NetworkConfig:
    def __init__(self, enable_network_isolation: bool = False, security_group_ids: list[str] | None = None,
                 subnets: list[str] | None = None, encrypt_inter_container_traffic: bool | None = None) -> None:
        self.enable_network_isolation = enable_network_isolation
        self.security_group_ids = security_group_ids
        self.subnets = subnets
        self.encrypt_inter_container_traffic = encrypt_inter_container_traffic

    def _to_request_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"EnableNetworkIsolation": self.enable_network_isolation}
        if self.encrypt_inter_container_traffic is not None:
            out["EnableInterContainerTrafficEncryption"] = self.encrypt_inter_container_traffic
        if self.security_group_ids is not None or self.subnets is not None:
            out["VpcConfig"] = {"SecurityGroupIds": self.security_group_ids, "Subnets": self.subnets}
        return out

    def __bool__(self) -> bool:
        """False when it asks for nothing, so passing ``NetworkConfig()`` raises no warning."""
        return bool(self.enable_network_isolation or self.security_group_ids or self.subnets
                    or self.encrypt_inter_container_traffic)
