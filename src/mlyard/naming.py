"""Default resource names, made the same way by the SDK (``mlyard.utils``) and by the control
plane, which names what a create request leaves unnamed. Standard library only: the server and the
SDK both import it."""

from __future__ import annotations

import re
import secrets
import time

__all__ = ["name_from_base", "unique_name_from_base", "sagemaker_timestamp", "sagemaker_short_timestamp",
           "base_name_from_image"]


def sagemaker_timestamp() -> str:
    """The current UTC time to the millisecond, as SageMaker stamps names: ``2024-05-01-12-30-45-123``."""
    moment = time.time()
    return time.strftime("%Y-%m-%d-%H-%M-%S", time.gmtime(moment)) + f"-{int(moment * 1000) % 1000:03d}"


def sagemaker_short_timestamp() -> str:
    """The current UTC time to the minute, as SageMaker's short names carry it: ``240501-1230``."""
    return time.strftime("%y%m%d-%H%M", time.gmtime())


def name_from_base(base: str, max_length: int = 63, short: bool = False) -> str:
    """``base``, SageMaker's timestamp (``short``: to the minute, for names of at most 32
    characters such as tuning jobs') and 32 random bits, cut to ``max_length``: processes naming
    resources at the same moment get different names (no birthday collisions in practice)."""
    stamp = f"{sagemaker_short_timestamp() if short else sagemaker_timestamp()}-{secrets.token_hex(4)}"
    trimmed = base[: max(max_length - len(stamp) - 1, 0)].strip("-")
    return f"{trimmed}-{stamp}" if trimmed else stamp[: max_length]


def unique_name_from_base(base: str, max_length: int = 63) -> str:
    """``base``, the Unix time in seconds and 16 random bits, cut to ``max_length`` (SageMaker's
    shape for names made outside jobs: experiments, ...)."""
    unique = secrets.token_hex(2)
    stamp = str(int(time.time()))
    trimmed = base[: max(max_length - 2 - len(stamp) - len(unique), 0)].strip("-")
    return f"{trimmed}-{stamp}-{unique}" if trimmed else f"{stamp}-{unique}"


_IMAGE = re.compile(r"^(.+/)?([^:/]+)(:[^:]+)?$")


def base_name_from_image(image: str | None, default_base_name: str | None = None) -> str:
    """The repository name of an image URI (``.../sklearn:1.2`` -> ``sklearn``), SageMaker's base
    name for jobs of that image; ``default_base_name`` (or ``"base"``) without one."""
    if not isinstance(image, str) or not image:
        return default_base_name or "base"
    match = _IMAGE.match(image)
    return match.group(2) if match else image
