"""Concurrent `/classify` calls run through the model together.

Each call is checked and tokenized in its own thread, outside the model lock, then waits for
the lock. The thread that gets the lock runs its own call and every other waiting call for the
same model and speed (up to `max_batch`) as one batch; the others find their answers ready.
The library's shrinking batches let every text leave at its own layer, so an answer is the same
as for the text alone.

Why not Gradio's `batch=True`: one bad call in a Gradio batch fails every call batched with
it, and Gradio 6's per-call `validator` cannot be used with a batched function of several
inputs (it passes the inputs of one call as a batch of one input). Here a bad call fails
before it joins a batch, with its own message.
"""
from __future__ import annotations

import threading
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
    """`submit(key, item, lock)` -> run([items]) answer for `item`, run together with the other
    items of the same key that wait for `lock` at the same time.

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
        self._guard = threading.Lock()  # protects _pending only; never held while running

    def submit(self, key: Hashable, item, lock: threading.Lock):
        job = Job(key, item)
        with self._guard:
            self._pending.append(job)
        while not job.done.is_set():
            with lock:
                if not job.done.is_set():
                    self._run(self._take(job))
        if job.error is not None:
            raise job.error
        return job.result

    def _take(self, job: Job) -> list[Job]:
        """`job` first, then the oldest waiting jobs with its key."""
        with self._guard:
            batch = [job] + [j for j in self._pending if j.key == job.key and j is not job][: self.max_batch - 1]
            taken = set(map(id, batch))
            self._pending = [j for j in self._pending if id(j) not in taken]
        return batch

    def _run(self, batch: list[Job]) -> None:
        try:
            results = self.run(batch[0].key, [j.item for j in batch])
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
