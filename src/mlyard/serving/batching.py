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
                # Rows of another shape cannot share the batch: they start the next one.
                if item.rows.shape[1:] != first.rows.shape[1:] or item.rows.dtype != first.rows.dtype:
                    pending.append(item)
                    continue
                batch.append(item)
                size += len(item.rows)
            await self._execute(batch)

    async def _execute(self, batch: list[_Item]) -> None:
        stacked = batch[0].rows if len(batch) == 1 else np.concatenate([i.rows for i in batch])
        try:
            out = await asyncio.to_thread(self._predict, stacked)
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
        start = 0
        for item in batch:
            n = len(item.rows)
            part = ({k: v[start:start + n] for k, v in out.items()} if isinstance(out, dict)
                    else out[start:start + n])
            _settle(item.future, result=part)
            start += n


def _settle(future: asyncio.Future[Any], result: Any = None, exc: BaseException | None = None) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)
