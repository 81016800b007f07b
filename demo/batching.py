"""Concurrent `/classify` calls run through the model together.

Each call is checked and tokenized in its own thread, outside the model lock, then waits. When
no batch is running, one waiting thread runs its own call and every other waiting call for the
same model and speed (up to `max_batch`) as one batch, under the model lock; the others wake up
to their answers.
The library's shrinking batches let every text leave at its own layer, so an answer is the same
as for the text alone.

Why not Gradio's `batch=True`: one bad call in a Gradio batch fails every call batched with
it, and Gradio 6's per-call `validator` cannot be used with a batched function of several
inputs (it passes the inputs of one call as a batch of one input). Here a bad call fails
before it joins a batch, with its own message.
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Hashable


@dataclass
class Job:
    """One waiting call: its key (calls with equal keys may share a batch) and its item."""

    key: Hashable
    item: object
    done: threading.Event = field(default_factory=threading.Event)
    result: object = None
    error: BaseException | None = None


class Batcher:
    """`submit(key, item, lock)` -> run(key, [items]) answer for `item`, run together with the
    other items of the same key that wait at the same time. One batch runs at a time; `lock` is
    the model's lock (others may hold it too: the page's callbacks).

    Example:
        >>> b = Batcher(lambda key, items: [x * 2 for x in items], max_batch=8)
        >>> b.submit("k", 21, threading.Lock())
        42
    """

    def __init__(self, run: Callable[[Hashable, list], list], max_batch: int = 32):
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self.run = run
        self.max_batch = max_batch
        self._pending: list[Job] = []
        self._busy = False  # a batch is being run
        self._changed = threading.Condition()  # guards _pending and _busy
        # Batches run on one thread: torch (OpenMP) starts a pool of worker threads for every
        # thread that calls it, and any of the waiting threads could be the one to run a batch.
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="batcher")

    def submit(self, key: Hashable, item, lock: threading.Lock):
        job = Job(key, item)
        with self._changed:
            self._pending.append(job)
            # Wait until this job is done by another thread's batch, or no batch is running.
            self._changed.wait_for(lambda: job.done.is_set() or not self._busy)
            if not job.done.is_set():
                self._busy = True
                batch = self._take(job)
        if not job.done.is_set():
            try:
                with lock:
                    self._run(batch)
            finally:
                with self._changed:
                    self._busy = False
                    self._changed.notify_all()
        if job.error is not None:
            raise job.error
        return job.result

    def _take(self, job: Job) -> list[Job]:
        """`job` first, then the oldest waiting jobs with its key (called holding `_changed`)."""
        batch = [job] + [j for j in self._pending if j.key == job.key and j is not job][: self.max_batch - 1]
        taken = set(map(id, batch))
        self._pending = [j for j in self._pending if id(j) not in taken]
        return batch

    def _run(self, batch: list[Job]) -> None:
        try:
            results = self._worker.submit(self.run, batch[0].key, [j.item for j in batch]).result()
            if len(results) != len(batch):
                raise RuntimeError(f"batch of {len(batch)} gave {len(results)} results")
            for j, r in zip(batch, results):
                j.result = r
        except BaseException as err:  # noqa: BLE001 (handed to every caller in the batch)
            for j in batch:
                j.error = err
        finally:
            for j in batch:
                j.done.set()
