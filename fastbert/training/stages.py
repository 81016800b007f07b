"""FastBERT's three stages on the one loop: each is a loss function plus the parameters that train.

- "finetune": backbone + teacher, cross-entropy with the labels;
- "distill": the students only, from the frozen teacher's soft labels (labels not needed);
- "joint": every classifier and the backbone on the labels (the paper's no-self-distillation
  ablation).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch

from ..data import TextDataset
from .loop import Hooks, LoopConfig, Progress, train_loop
from .losses import KL_DIRECTIONS, classification_loss, joint_classification_loss, self_distillation_loss

STAGES = ("finetune", "distill", "joint")


@dataclass(kw_only=True)
class TrainConfig(LoopConfig):
    """One stage and how to optimise it. Example: `TrainConfig(stage="distill", epochs=1)`.

    eval_every: steps between dev evaluations (0: once per epoch). resume_file: when set, the
    resume point of `save_every`; when it exists at the start, training continues from it.
    """

    stage: str
    kl_direction: str = "student_teacher"
    freeze_word_embeddings: bool = True  # keeps them identical to the backbone's, so not saved
    eval_speeds: list[float] = field(default_factory=lambda: [0.0, 0.5])

    def __post_init__(self):
        if self.stage not in STAGES:
            raise ValueError(f"stage: one of {STAGES}, got {self.stage!r}")
        if self.kl_direction not in KL_DIRECTIONS:
            raise ValueError(f"kl_direction: one of {KL_DIRECTIONS}, got {self.kl_direction!r}")
        self.desc = self.stage
        super().__post_init__()


def set_trainable(model, stage: str, freeze_word_embeddings: bool = True) -> list[torch.nn.Parameter]:
    """Freeze everything but what `stage` trains; returns the trainable parameters."""
    for p in model.parameters():
        p.requires_grad_(False)
    parts = {"distill": list(model.students), "finetune": [model.encoder, model.teacher],
             "joint": [model.encoder, model.classifiers]}[stage]
    for part in parts:
        for p in part.parameters():
            p.requires_grad_(True)
    if freeze_word_embeddings and stage != "distill":
        model.encoder.model.embeddings.word_embeddings.weight.requires_grad_(False)
    return [p for p in model.parameters() if p.requires_grad]


def stage_loss(model, stage: str, batch: dict, kl_direction: str = "student_teacher") -> torch.Tensor:
    """The loss of `stage` on a batch {"ids", "mask", "types", "labels"} (labels: None for distill)."""
    ids, mask, types, labels = batch["ids"], batch["mask"], batch["types"], batch["labels"]
    if stage == "finetune":
        return classification_loss(model(ids, mask, types, heads="teacher").teacher_logits, labels)
    if stage == "joint":
        return joint_classification_loss(model(ids, mask, types, heads="all").layer_logits, labels)
    out = model(ids, mask, types, heads="all", frozen_backbone=True)
    return self_distillation_loss(out.layer_logits[:-1], out.teacher_logits, kl_direction)


def _dev_entry(model, cfg: TrainConfig, dev: TextDataset | None, p: Progress) -> dict:
    from ..evaluate import all_layer_outputs, sweep

    entry = {"stage": cfg.stage, **p.to_dict()}
    if dev is not None:
        import accelerate

        if accelerate.PartialState().is_main_process:
            for r in sweep(model, all_layer_outputs(model, dev), cfg.eval_speeds):
                entry[f"dev_acc@{r.speed:g}"] = r.accuracy
                entry[f"flops@{r.speed:g}"] = r.flops_per_sample
                entry[f"speedup@{r.speed:g}"] = r.flops_speedup
    return entry


def train(model, cfg: TrainConfig, data: TextDataset, dev: TextDataset | None = None,
          on_eval: Callable[[dict], None] | None = None, stop_at: int | None = None) -> list[dict]:
    """Train `model` in place for one stage; returns the log (one dict per evaluation).

    Each evaluation holds the step, epoch, training loss, and per dev speed the accuracy and
    mean FLOPs per sample (the data of the paper's Figure 7). stop_at: write the resume point
    (`cfg.resume_file`) after that step and return.
    """
    labels = None if cfg.stage == "distill" else torch.tensor(data.label_ids(model.config.labels))
    enc = model.tokenize(data.texts)

    def collate(rows: list[int], step: int) -> dict:
        ids, mask, types = model.collate(enc, rows)
        return {"ids": ids, "mask": mask, "types": types, "labels": None if labels is None else labels[rows]}

    def train_mode(m) -> None:
        if cfg.stage == "distill":  # frozen backbone: no dropout while it produces the soft labels
            m.encoder.eval()
            m.teacher.eval()

    params = set_trainable(model, cfg.stage, cfg.freeze_word_embeddings)
    hooks = Hooks(evaluate=lambda p: _dev_entry(model, cfg, dev, p), on_log=on_eval, train_mode=train_mode)
    result = train_loop(model, params, lambda m, b: stage_loss(m, cfg.stage, b, cfg.kl_direction),
                        [len(x) for x in enc["input_ids"]], collate, cfg, hooks, stop_at)
    for p in model.parameters():
        p.requires_grad_(True)
    model.eval()
    return result.log


def config_dict(cfg: TrainConfig) -> dict:
    return asdict(cfg)


def stage_configs(stages: list[str], out: str | Path, *, epochs: float, distill_epochs: float, lr: float,
                  distill_lr: float, save_every: int = 0, resume: bool = False, **common) -> list[TrainConfig]:
    """One config per stage, in order: "distill" takes its own epochs and lr; the resume points
    are OUT/resume-STAGE.pt (with save_every, or to resume). `common`: other TrainConfig fields."""
    points = {stage: Path(out) / f"resume-{stage}.pt" for stage in stages}
    found = [str(p) for p in points.values() if p.exists()]
    if found and not resume:
        raise ValueError(f"{found[0]} exists: pass --resume to continue that run, or choose another --out")
    if resume and not found:
        raise FileNotFoundError(f"--resume: no resume-<stage>.pt in {out}")
    if save_every:
        Path(out).mkdir(parents=True, exist_ok=True)
    return [TrainConfig(stage=stage, epochs=distill_epochs if stage == "distill" else epochs,
                        lr=distill_lr if stage == "distill" else lr, save_every=save_every,
                        resume_file=str(points[stage]) if save_every or resume else None, **common)
            for stage in stages]


def train_stages(model, configs: list[TrainConfig], data: TextDataset, distill_data: TextDataset,
                 dev: TextDataset | None = None, on_eval: Callable[[dict], None] | None = None) -> dict:
    """Run the stages in order on `model`; returns {"stages": {stage: config}, "log": [...]}.
    The distill stage reads `distill_data` (unlabeled text will do), the others `data`."""
    done = {"stages": {}, "log": []}
    for cfg in configs:
        done["log"] += train(model, cfg, distill_data if cfg.stage == "distill" else data, dev, on_eval)
        done["stages"][cfg.stage] = config_dict(cfg)
    return done
