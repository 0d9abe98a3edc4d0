"""Adaptive batching: concurrent requests to one model are run together.

Requests queue up; one worker takes the oldest, then gathers more until ``max_batch_size`` rows or
``max_latency_ms`` after the model became free, and runs the model once (in a thread, so the
server keeps accepting). Under load, requests pile up while the model runs, so batches grow on
their own; a lone request waits at most ``max_latency_ms``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Batcher"]


@dataclass
class _Item:
    rows: np.ndarray
    future: asyncio.Future[Any]
    arrived: float


class Batcher:
    def __init__(self, predict: Callable[[np.ndarray], Any], max_batch_size: int = 64,
                 max_latency_ms: float = 2.0) -> None:
        self._predict = predict
        self.max_batch_size = max_batch_size
        self.max_latency = max_latency_ms / 1000
        self._queue: asyncio.Queue[_Item] | None = None
        self._worker: asyncio.Task[None] | None = None
        self.batches = 0
        self.rows = 0

    async def submit(self, rows: np.ndarray) -> Any:
        """The model's output for ``rows`` (first axis = rows), computed in some batch."""
        loop = asyncio.get_running_loop()
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._worker = loop.create_task(self._run())
        future: asyncio.Future[Any] = loop.create_future()
        await self._queue.put(_Item(rows, future, loop.time()))
        return await future

    async def _run(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        pending: list[_Item] = []
        while True:
            first = pending.pop(0) if pending else await self._queue.get()
            batch, size = [first], len(first.rows)
            # The window opens when the model is free to take a batch: a request that waited out
            # the previous batch still gathers the requests arriving behind it.
            deadline = max(first.arrived, loop.time()) + self.max_latency
            while size < self.max_batch_size:
                try:
                    item = self._queue.get_nowait()
                except asyncio.QueueEmpty:
                    left = deadline - loop.time()
                    if left <= 0:
                        break
                    try:
                        item = await asyncio.wait_for(self._queue.get(), left)
                    except asyncio.TimeoutError:
                        break
                # Rows of another shape cannot share the batch, nor rows that would overfill it:
                # they start the next one.
                if (item.rows.shape[1:] != first.rows.shape[1:] or item.rows.dtype != first.rows.dtype
                        or size + len(item.rows) > self.max_batch_size):
                    pending.append(item)
                    if size + len(item.rows) > self.max_batch_size:
                        break
                    continue
                batch.append(item)
                size += len(item.rows)
            try:
                await self._execute(batch)
            except Exception as exc:  # never let the worker die: every later request would hang
                for item in batch:
                    _settle(item.future, exc=exc)

    async def _execute(self, batch: list[_Item]) -> None:
        stacked = batch[0].rows if len(batch) == 1 else np.concatenate([i.rows for i in batch])
        try:
            out = await asyncio.to_thread(self._predict, stacked)
            parts = _split(out, [len(i.rows) for i in batch])
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0].future, exc=exc)
                return
            # One bad request must not fail the others: run each alone to find it.
            for item in batch:
                await self._execute([item])
            return
        self.batches += 1
        self.rows += len(stacked)
        for item, part in zip(batch, parts, strict=True):
            _settle(item.future, result=part)


def _split(out: Any, sizes: list[int]) -> list[Any]:
    """The model's output for each request, by row counts; an output without one row per input
    row cannot be split (the caller then runs the requests one by one)."""
    total = sum(sizes)
    arrays = out if isinstance(out, dict) else {"": out}
    for value in arrays.values():
        if np.ndim(value) == 0 or len(value) != total:
            raise ValueError(f"the model returned an output of shape {np.shape(value)} for {total} rows: a "
                             "batched model must answer one output row per input row")
    parts, start = [], 0
    for n in sizes:
        parts.append({k: v[start:start + n] for k, v in out.items()} if isinstance(out, dict)
                     else out[start:start + n])
        start += n
    return parts


def _settle(future: asyncio.Future[Any], result: Any = None, exc: BaseException | None = None) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)
