"""One training loop for every stage of FastBERT.

Stages: "finetune" (backbone + teacher, cross-entropy on labels), "distill" (students only,
from the frozen teacher's soft labels; labels not needed) and "joint" (every classifier and
the backbone on labels: the paper's no-self-distillation ablation). Runs through Hugging Face
Accelerate, so `accelerate launch` spreads it over devices; on a CPU it runs as is.
"""
from __future__ import annotations

import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import torch

from .data import TextDataset
from .evaluate import all_layer_outputs, sweep
from .losses import KL_DIRECTIONS, classification_loss, joint_classification_loss, self_distillation_loss

STAGES = ("finetune", "distill", "joint")


@dataclass
class TrainConfig:
    """Hyper-parameters of one stage. Example: `TrainConfig(stage="distill", epochs=1)`."""

    stage: str
    epochs: float = 1.0
    batch_size: int = 32
    lr: float = 2e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    max_grad_norm: float = 1.0
    kl_direction: str = "student_teacher"
    freeze_word_embeddings: bool = True  # keeps them identical to the backbone's, so not saved
    seed: int = 0
    eval_every: int = 0  # steps between dev evaluations; 0: once per epoch
    eval_speeds: list[float] = field(default_factory=lambda: [0.0, 0.5])
    max_steps: int | None = None
    progress: bool = True
    # A file that holds the trainable weights, optimizer and schedule every `save_every` steps;
    # when it exists at the start, training continues from it (same batches, same schedule).
    checkpoint: str | None = None
    save_every: int = 0

    def __post_init__(self):
        if self.stage not in STAGES:
            raise ValueError(f"stage: one of {STAGES}, got {self.stage!r}")
        if self.kl_direction not in KL_DIRECTIONS:
            raise ValueError(f"kl_direction: one of {KL_DIRECTIONS}, got {self.kl_direction!r}")
        for name in ("epochs", "batch_size", "lr"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be positive, got {getattr(self, name)}")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio: must be in [0, 1), got {self.warmup_ratio}")
        if self.save_every < 0 or (self.save_every and not self.checkpoint):
            raise ValueError(f"save_every: needs a checkpoint file and must be >= 0, got {self.save_every}")



def optimizer_step(params, optimizer, scheduler, max_grad_norm: float | None,
                   clip=torch.nn.utils.clip_grad_norm_) -> None:
    """One update after backward: clip the gradients (when max_grad_norm), step the optimizer
    and the learning-rate schedule, clear the gradients. Shared by every training loop."""
    if max_grad_norm:
        clip(params, max_grad_norm)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)

def _set_trainable(model, stage: str, freeze_word_embeddings: bool) -> list[torch.nn.Parameter]:
    for p in model.parameters():
        p.requires_grad_(False)
    if stage == "distill":
        parts = list(model.students)
    elif stage == "finetune":
        parts = [model.encoder, model.teacher]
    else:
        parts = [model.encoder, model.classifiers]
    for part in parts:
        for p in part.parameters():
            p.requires_grad_(True)
    if freeze_word_embeddings and stage != "distill":
        model.encoder.model.embeddings.word_embeddings.weight.requires_grad_(False)
    return [p for p in model.parameters() if p.requires_grad]


def save_resume_point(path: str, model, optimizer, scheduler, step: int, running: float, log: list) -> None:
    """The trainable weights, optimizer, schedule and RNG at `step`, written atomically."""
    weights = {n: p.detach().cpu() for n, p in model.named_parameters() if p.requires_grad}
    tmp = f"{path}.tmp"
    torch.save({"step": step, "running": running, "log": log, "weights": weights,
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "rng": torch.get_rng_state()}, tmp)
    os.replace(tmp, path)


def load_resume_point(path: str, model, optimizer, scheduler) -> dict:
    """Restore what `save_resume_point` wrote; the trainable weights must match by name and shape."""
    state = torch.load(path, weights_only=True)
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
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
    return state


def length_grouped_batches(lengths: list[int], batch_size: int, seed: int) -> list[list[int]]:
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


def stage_loss(model, cfg: TrainConfig, ids, mask, types, labels) -> torch.Tensor:
    if cfg.stage == "finetune":
        return classification_loss(model(ids, mask, types, heads="teacher").teacher_logits, labels)
    if cfg.stage == "joint":
        return joint_classification_loss(model(ids, mask, types, heads="all").layer_logits, labels)
    out = model(ids, mask, types, heads="all", frozen_backbone=True)
    return self_distillation_loss(out.layer_logits[:-1], out.teacher_logits, cfg.kl_direction)


def train(model, cfg: TrainConfig, data: TextDataset, dev: TextDataset | None = None,
          on_eval: Callable[[dict], None] | None = None) -> list[dict]:
    """Train `model` in place for one stage; returns the log (one dict per evaluation).

    Each evaluation holds the step, epoch, training loss, and per dev speed the accuracy and
    mean FLOPs per sample (the data of the paper's Figure 7).
    """
    from accelerate import Accelerator
    from tqdm.auto import tqdm
    from transformers import get_linear_schedule_with_warmup

    torch.manual_seed(cfg.seed)
    accelerator = Accelerator()
    labels = None if cfg.stage == "distill" else torch.tensor(data.label_ids(model.config.labels))
    enc = model.tokenize(data.texts)
    batches = length_grouped_batches([len(x) for x in enc["input_ids"]], cfg.batch_size, cfg.seed)
    steps_per_epoch = len(batches)
    total = math.ceil(cfg.epochs * steps_per_epoch)
    if cfg.max_steps is not None:
        total = min(total, cfg.max_steps)
    params = _set_trainable(model, cfg.stage, cfg.freeze_word_embeddings)
    decay = [p for p in params if p.ndim > 1]
    no_decay = [p for p in params if p.ndim <= 1]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(cfg.warmup_ratio * total), total)
    model, optimizer = accelerator.prepare(model, optimizer)
    core = accelerator.unwrap_model(model)
    log: list[dict] = []
    step, running = 0, 0.0
    if cfg.checkpoint and os.path.exists(cfg.checkpoint):
        resumed = load_resume_point(cfg.checkpoint, core, optimizer, scheduler)
        step, running, log = resumed["step"], resumed["running"], resumed["log"]
    start = time.perf_counter()

    def evaluate_now(step, loss):
        entry = {"stage": cfg.stage, "step": step, "epoch": step / steps_per_epoch,
                 "train_loss": loss, "seconds": time.perf_counter() - start}
        if dev is not None and accelerator.is_main_process:
            outputs = all_layer_outputs(core, dev)
            for r in sweep(core, outputs, cfg.eval_speeds):
                entry[f"dev_acc@{r.speed:g}"] = r.accuracy
                entry[f"flops@{r.speed:g}"] = r.flops_per_sample
                entry[f"speedup@{r.speed:g}"] = r.flops_speedup
        log.append(entry)
        if on_eval:
            on_eval(entry)
        model.train()

    model.train()
    if cfg.stage == "distill":
        core.encoder.eval()  # frozen backbone: no dropout while it produces the soft labels
        core.teacher.eval()
    eval_every = cfg.eval_every or steps_per_epoch
    bar = tqdm(total=total, initial=step, desc=cfg.stage,
               disable=not (cfg.progress and accelerator.is_main_process))
    while step < total:
        epoch = step // steps_per_epoch
        order = batches if epoch == 0 else length_grouped_batches(
            [len(x) for x in enc["input_ids"]], cfg.batch_size, cfg.seed + epoch)
        done = (step - epoch * steps_per_epoch) * accelerator.num_processes  # taken before a resume
        for rows in order[done:][accelerator.process_index::accelerator.num_processes]:
            ids, mask, types = core.collate(enc, rows)
            y = None if labels is None else labels[rows].to(ids.device)
            loss = stage_loss(model, cfg, ids, mask, types, y)
            accelerator.backward(loss)
            optimizer_step(params, optimizer, scheduler, cfg.max_grad_norm, accelerator.clip_grad_norm_)
            step += 1
            running = 0.98 * running + 0.02 * loss.item() if step > 1 else loss.item()
            bar.update(1)
            bar.set_postfix(loss=f"{running:.4f}")
            if step % eval_every == 0 or step == total:
                evaluate_now(step, running)
                if cfg.stage == "distill":
                    core.encoder.eval()
                    core.teacher.eval()
            if cfg.save_every and accelerator.is_main_process and (step % cfg.save_every == 0 or step == total):
                save_resume_point(cfg.checkpoint, core, optimizer, scheduler, step, running, log)
            if step >= total:
                break
    bar.close()
    for p in core.parameters():
        p.requires_grad_(True)
    core.eval()
    return log


def config_dict(cfg: TrainConfig) -> dict:
    return asdict(cfg)
