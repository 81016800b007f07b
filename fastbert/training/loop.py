"""The one training loop. It knows nothing of FastBERT: a stage gives it a module, the parameters
that train, a loss function `loss_fn(module, batch) -> Tensor`, the length of each training row
and a `collate(rows, step) -> batch`; the loop does the rest, through Hugging Face Accelerate.

Every global batch of `batch_size` rows is split across the processes (process i takes rows
i, i + n, ...), and each process's loss is weighted by its share of the rows, so that two
processes with half the batch each take the same optimisation steps as one process with all
of it (exactly for a loss that is a mean over rows):

    accelerate launch --num_processes 2 --cpu -m fastbert train ...

A resume point (trainable weights, optimizer, schedule, RNG, step, log) is written atomically
every `save_every` steps and on Ctrl-C; when `resume_file` exists at the start, the loop
continues from it along the same batches and schedule.
"""
from __future__ import annotations

import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

import torch


@dataclass
class LoopConfig:
    """How to optimise, whatever the stage. Example: `LoopConfig(epochs=2, batch_size=16, lr=1e-3)`.

    epochs and max_steps: the run stops at the first reached (either may be None, not both).
    eval_every: steps between calls of the evaluation hook (0: once per epoch).
    """

    epochs: float | None = 1.0
    max_steps: int | None = None
    batch_size: int = 32
    lr: float = 2e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    max_grad_norm: float = 1.0
    seed: int = 0
    progress: bool = True
    desc: str = "train"
    eval_every: int = 0
    resume_file: str | None = None
    save_every: int = 0

    def __post_init__(self):
        if self.epochs is None and self.max_steps is None:
            raise ValueError("epochs / max_steps: give at least one")
        if (self.epochs is not None and self.epochs <= 0) or (self.max_steps is not None and self.max_steps < 1):
            raise ValueError("epochs and max_steps: must be positive")
        for name in ("batch_size", "lr"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be positive, got {getattr(self, name)}")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio: must be in [0, 1), got {self.warmup_ratio}")
        if self.save_every < 0 or (self.save_every and not self.resume_file):
            raise ValueError(f"save_every: needs a resume file and must be >= 0, got {self.save_every}")

    def total_steps(self, steps_per_epoch: int) -> int:
        total = math.ceil(self.epochs * steps_per_epoch) if self.epochs is not None else self.max_steps
        return min(total, self.max_steps) if self.max_steps is not None else total


@dataclass
class Progress:
    """Where a run stands, handed to the evaluation hook."""

    step: int
    epoch: float
    train_loss: float  # running mean (0.98 decay) of the per-step losses
    seconds: float  # since this process started the run

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class LoopResult:
    steps: int
    train_loss: float
    log: list[dict] = field(default_factory=list)
    finished: bool = True  # False: stopped at `stop_at`; the resume point waits


@dataclass
class Hooks:
    """Optional calls into the stage. evaluate(progress) -> the log entry (default: progress);
    on_log(entry) runs on the main process only; on_step(step, loss) after each update;
    train_mode(module) puts the module in its training mode (at the start and after each
    evaluation); extra_state(step) -> a dict saved with each resume point."""

    evaluate: Callable[[Progress], dict] | None = None
    on_log: Callable[[dict], None] | None = None
    on_step: Callable[[int, float], None] | None = None
    train_mode: Callable[[Any], None] | None = None
    extra_state: Callable[[int], dict] | None = None


def length_grouped_batches(lengths: Sequence[int], batch_size: int, seed: int) -> list[list[int]]:
    """Random batches of similar-length samples (less padding): shuffle, sort within chunks
    of 50 batches, then shuffle the batches."""
    rng = random.Random(seed)
    rows = list(range(len(lengths)))
    rng.shuffle(rows)
    chunk = batch_size * 50
    batches = []
    for k in range(0, len(rows), chunk):
        part = sorted(rows[k:k + chunk], key=lambda r: lengths[r])
        batches += [part[j:j + batch_size] for j in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


def adamw(params: Sequence[torch.nn.Parameter], lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (not on biases and LayerNorm weights)."""
    return torch.optim.AdamW([{"params": [p for p in params if p.ndim > 1], "weight_decay": weight_decay},
                              {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0}], lr=lr)


def read_resume_point(path: str) -> dict | None:
    """What `save_resume_point` wrote, or None when there is no such file."""
    return torch.load(path, map_location="cpu", weights_only=True) if path and os.path.exists(path) else None


def save_resume_point(path: str, module, optimizer, scheduler, step: int, running: float, log: list,
                      extra: dict | None = None) -> None:
    """The trainable weights, optimizer, schedule and RNG at `step`, written atomically."""
    weights = {n: p.detach().cpu() for n, p in module.named_parameters() if p.requires_grad}
    tmp = f"{path}.tmp"
    torch.save({"step": step, "running": running, "log": log, "weights": weights, "extra": extra or {},
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "rng": torch.get_rng_state()}, tmp)
    os.replace(tmp, path)  # never a half-written resume point


def load_resume_point(state: dict, path: str, module, optimizer, scheduler) -> None:
    """Restore a resume point; the trainable weights must match by name."""
    params = {n: p for n, p in module.named_parameters() if p.requires_grad}
    if set(state["weights"]) != set(params):
        diff = sorted(set(state["weights"]) ^ set(params))
        raise ValueError(f"{path} was saved with other trainable weights ({', '.join(diff[:3])}); "
                         "resume with the same stage and model")
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(state["weights"][name])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"])


class _Loop:
    """The state of one run of `train_loop`: Accelerate, optimizer, schedule, the steps so far."""

    def __init__(self, module, params, loss_fn, lengths, collate, cfg: LoopConfig, hooks: Hooks):
        from accelerate import Accelerator, DistributedDataParallelKwargs
        from accelerate.utils import send_to_device
        from transformers import get_linear_schedule_with_warmup

        torch.manual_seed(cfg.seed)
        # A stage may leave a trainable parameter out of some steps (FastBERT's finetune stage never
        # uses one classifier weight); DistributedDataParallel must not wait for its gradient.
        self.acc = Accelerator(kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)])
        self.module, self.params, self.loss_fn, self.collate = module, params, loss_fn, collate
        self.lengths, self.cfg, self.hooks, self.send = lengths, cfg, hooks, send_to_device
        self.steps_per_epoch = len(length_grouped_batches(lengths, cfg.batch_size, cfg.seed))
        self.total = cfg.total_steps(self.steps_per_epoch)
        optimizer = adamw(params, cfg.lr, cfg.weight_decay)
        self.scheduler = get_linear_schedule_with_warmup(optimizer, int(cfg.warmup_ratio * self.total), self.total)
        self.wrapped, self.optimizer = self.acc.prepare(module, optimizer)
        self.result = LoopResult(0, 0.0)
        state = read_resume_point(cfg.resume_file)
        if state is not None:
            load_resume_point(state, cfg.resume_file, module, self.optimizer, self.scheduler)
            self.result = LoopResult(state["step"], state["running"], state["log"])
        self.start = time.perf_counter()

    def step(self, rows: list[int]) -> float:
        """One optimisation step on this process's share of the global batch `rows`."""
        n, i = self.acc.num_processes, self.acc.process_index
        share = rows[i::n]
        # Weighted by its share of the rows, the processes' mean gradient is the one of the whole batch.
        weight = len(share) * n / len(rows)
        if not share:  # every process must take part in the gradient reduction
            share, weight = rows[:1], 0.0
        loss = self.loss_fn(self.wrapped, self.send(self.collate(share, self.result.steps), self.acc.device))
        self.acc.backward(loss if weight == 1.0 else loss * weight)
        if self.cfg.max_grad_norm:
            self.acc.clip_grad_norm_(self.params, self.cfg.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return loss.item()

    def save(self) -> None:
        if self.cfg.resume_file and self.acc.is_main_process:
            r = self.result
            extra = self.hooks.extra_state(r.steps) if self.hooks.extra_state else None
            save_resume_point(self.cfg.resume_file, self.module, self.optimizer, self.scheduler, r.steps,
                              r.train_loss, r.log, extra)

    def train_mode(self) -> None:
        self.wrapped.train()
        if self.hooks.train_mode:
            self.hooks.train_mode(self.module)

    def evaluate(self) -> None:
        r = self.result
        progress = Progress(r.steps, r.steps / self.steps_per_epoch, r.train_loss, time.perf_counter() - self.start)
        entry = self.hooks.evaluate(progress) if self.hooks.evaluate else progress.to_dict()
        r.log.append(entry)
        if self.hooks.on_log and self.acc.is_main_process:
            self.hooks.on_log(entry)
        self.train_mode()

    def after_step(self, value: float, bar) -> None:
        r, hooks = self.result, self.hooks
        r.steps += 1
        r.train_loss = 0.98 * r.train_loss + 0.02 * value if r.steps > 1 else value
        bar.update(1)
        bar.set_postfix(loss=f"{r.train_loss:.4f}")
        if hooks.on_step:
            hooks.on_step(r.steps, value)

    def run(self, stop_at: int | None) -> LoopResult:
        from tqdm.auto import tqdm

        r, cfg = self.result, self.cfg
        eval_every = cfg.eval_every or self.steps_per_epoch
        bar = tqdm(total=self.total, initial=r.steps, desc=cfg.desc,
                   disable=not (cfg.progress and self.acc.is_main_process))
        self.train_mode()
        try:
            while r.steps < self.total:
                epoch, index = divmod(r.steps, self.steps_per_epoch)
                for rows in length_grouped_batches(self.lengths, cfg.batch_size, cfg.seed + epoch)[index:]:
                    self.after_step(self.step(rows), bar)
                    if stop_at is not None and stop_at <= r.steps < self.total:
                        self.save()
                        r.finished = False
                        return r
                    if r.steps % eval_every == 0 or r.steps == self.total:
                        self.evaluate()
                    if cfg.save_every and (r.steps % cfg.save_every == 0 or r.steps == self.total):
                        self.save()
                    if r.steps >= self.total:
                        break
        except KeyboardInterrupt:
            self.save()
            raise
        finally:
            bar.close()
        return r


def train_loop(module, params: Sequence[torch.nn.Parameter], loss_fn: Callable[[Any, Any], torch.Tensor],
               lengths: Sequence[int], collate: Callable[[list[int], int], Any], cfg: LoopConfig,
               hooks: Hooks | None = None, stop_at: int | None = None) -> LoopResult:
    """Train `params` of `module` (in place) to lower `loss_fn(module, batch)` over length-grouped
    batches of the rows whose token counts are `lengths`; `collate(rows, step)` builds a batch.

    stop_at: write the resume point after that step and return (finished=False), as an
    interruption would, but at a chosen step.

    Example (a module of one weight, fitted to 3.0 in batches of two rows):
        >>> w = torch.nn.Linear(1, 1, bias=False)
        >>> _ = torch.nn.init.zeros_(w.weight)
        >>> cfg = LoopConfig(epochs=20, batch_size=2, lr=0.3, warmup_ratio=0.0, weight_decay=0.0, progress=False)
        >>> run = train_loop(w, list(w.parameters()), lambda m, x: (m(x) - 3.0).pow(2).mean(), [1] * 4,
        ...                  lambda rows, step: torch.ones(len(rows), 1), cfg)
        >>> run.steps, round(w.weight.item(), 1)
        (40, 2.9)
    """
    return _Loop(module, params, loss_fn, lengths, collate, cfg, hooks or Hooks()).run(stop_at)
