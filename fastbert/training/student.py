"""Distilling a smaller student from a frozen FastBERT teacher (labels only, vanilla KD or
Universal-KD), on the one training loop.

The teacher is frozen, so its per-layer outputs on the training set are computed once and
kept in memory (`teacher_outputs`); every student and seed then trains against that cache.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from ..data import TextDataset
from .kd import METHODS, SPACES, DistillWeights, distillation_loss
from .loop import Hooks, LoopConfig, Progress, train_loop
from .students import STUDENT_KINDS, bert_student, sequence_student

DEFAULT_LR = {"bert": 1e-4, "bilstm": 2e-3, "gated-cnn": 2e-3}


@dataclass(kw_only=True)
class DistillConfig(LoopConfig):
    """One student and how to train it. Example: `DistillConfig(student="bert", layers=[1, 2])`.

    layers: for "bert", the 1-based teacher layers copied into the student (default: the first
    two, which already work together; copying layers 1 and 6 gave a student that stayed below
    its own first layer after an 8k-row epoch); num_layers and
    width: for "bilstm" (width = both directions) and "gated-cnn".
    progress: print a log entry (every `eval_every` steps) as a JSON line.
    """

    student: str = "bert"
    method: str = "ukd-il"
    space: str = "logits"  # Universal-KD's reading of f: the pseudo-classifiers' "logits" or "probs"
    layers: list[int] = field(default_factory=lambda: [1, 2])
    num_layers: int = 3
    width: int = 256
    embeddings: str = "teacher"  # bilstm/gated-cnn: "teacher" (frozen), "teacher-trainable", "random"
    weights: DistillWeights = field(default_factory=DistillWeights)
    lr: float | None = None  # None: DEFAULT_LR of the student kind
    progress: bool = False
    desc: str = "distill"
    eval_every: int = 50

    def __post_init__(self):
        if isinstance(self.weights, dict):
            self.weights = DistillWeights(**self.weights)
        if self.student not in STUDENT_KINDS:
            raise ValueError(f"student: one of {STUDENT_KINDS}, got {self.student!r}")
        if self.method not in METHODS:
            raise ValueError(f"method: one of {METHODS}, got {self.method!r}")
        if self.space not in SPACES:
            raise ValueError(f"space: one of {SPACES}, got {self.space!r}")
        if self.method == "ukd-ca" and self.student == "bert":
            raise ValueError("method: ukd-ca is Universal-KD across architectures; for a BERT student use ukd-il")
        if self.method == "ukd-il" and self.student != "bert":
            raise ValueError(f"method: for a {self.student} student Universal-KD IL is ukd-ca (cross-architecture)")
        if self.method in ("ukd-il", "ukd-ca") and self.depth < 2:
            raise ValueError(f"method: {self.method} needs a student of at least 2 layers")
        if self.lr is None:
            self.lr = DEFAULT_LR[self.student]
        for name in ("num_layers", "width"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be positive, got {getattr(self, name)}")
        super().__post_init__()

    @property
    def depth(self) -> int:
        return len(self.layers) if self.student == "bert" else self.num_layers


@dataclass
class TeacherOutputs:
    """The frozen teacher's per-layer classifier logits on a tokenized dataset: logits (L, n, C)
    (raw logits, not log-probabilities: Universal-KD's logits reading takes dot products of them)."""

    enc: dict
    logits: torch.Tensor
    labels: torch.Tensor | None

    @property
    def log_probs(self) -> torch.Tensor:
        return self.logits.log_softmax(-1)

    @property
    def num_tokens(self) -> torch.Tensor:
        return torch.tensor([len(ids) for ids in self.enc["input_ids"]], dtype=torch.float64)


@torch.inference_mode()
def layer_logits(model, collate, enc: dict, batch_size: int = 64) -> torch.Tensor:
    """(L, n, C) logits of every layer's classifier of `model` (FastBert or a sequence
    student), in the order of `enc`; longest texts first for little padding."""
    was_training = model.training
    model.eval()
    n = len(enc["input_ids"])
    order = sorted(range(n), key=lambda r: -len(enc["input_ids"][r]))
    out = None
    for k in range(0, n, batch_size):
        rows = order[k:k + batch_size]
        logits = model(*collate(enc, rows), heads="all").layer_logits.float()
        if out is None:
            out = torch.empty(logits.size(0), n, logits.size(2))
        out[:, rows] = logits.cpu()
    model.train(was_training)
    return out


def teacher_outputs(teacher, data: TextDataset, cache_file: Path | None = None) -> TeacherOutputs:
    """Tokenize `data` with the teacher's tokenizer and the teacher's per-layer outputs on it,
    read from / written to `cache_file` when given (the teacher is frozen: they never change)."""
    enc = teacher.tokenize(data.texts)
    labels = None if data.raw_labels is None else torch.tensor(data.label_ids(teacher.config.labels))
    if cache_file is not None and cache_file.is_file():
        logits = torch.load(cache_file)
        if logits.shape[:2] == (teacher.num_layers, len(data)):
            return TeacherOutputs(enc, logits, labels)
    logits = layer_logits(teacher, teacher.collate, enc)
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        torch.save(logits, cache_file)
    return TeacherOutputs(enc, logits, labels)


def cache_path(cache_dir: str | None, teacher_dir: str, data: TextDataset) -> Path | None:
    """A file name that changes with the teacher's weights and with the exact texts."""
    if not cache_dir:
        return None
    import hashlib

    weights = Path(teacher_dir) / "model.safetensors"
    h = hashlib.sha256()
    h.update(b"raw logits")  # older caches held log-probabilities
    h.update(str(Path(teacher_dir).resolve()).encode())
    h.update(str(weights.stat().st_mtime_ns if weights.is_file() else 0).encode())
    for t in data.texts:
        h.update(repr(t).encode())
    return Path(cache_dir) / f"teacher-{h.hexdigest()[:16]}.pt"


def build_student(teacher, cfg: DistillConfig):
    torch.manual_seed(cfg.seed)
    if cfg.student == "bert":
        student = bert_student(teacher, cfg.layers)
        # Frozen word embeddings stay identical to the backbone's, so a saved student can leave them out.
        student.encoder.model.embeddings.word_embeddings.weight.requires_grad_(False)
        return student
    return sequence_student(teacher, cfg.student, cfg.num_layers, cfg.width, cfg.embeddings, cfg.seed)


class _Objective:
    """The distillation loss of a batch; keeps its parts (ce, kd, univ) of the last step for the log."""

    def __init__(self, cfg: DistillConfig):
        self.cfg, self.last = cfg, None

    def __call__(self, student, batch: dict) -> torch.Tensor:
        out = student(batch["ids"], batch["mask"], batch["types"], heads="all")
        self.last = distillation_loss(out.layer_logits, batch["teacher"], batch["labels"], self.cfg.method,
                                      self.cfg.weights, self.cfg.space)
        return self.last.total

    def entry(self, p: Progress) -> dict:
        loss = self.last
        return {"step": p.step, "loss": loss.total.item(), "ce": loss.ce.item(),
                "kd": None if loss.kd is None else loss.kd.item(),
                "univ": None if loss.univ is None else loss.univ.item(), "seconds": round(p.seconds, 1)}


def train_student(student, collate, train: TeacherOutputs, cfg: DistillConfig,
                  stop_at: int | None = None) -> list[dict]:
    """Train `student` in place on the cached teacher outputs; returns a loss log (every
    `cfg.eval_every` steps and at the end: the last batch's loss and its parts).
    stop_at: write the resume point (`cfg.resume_file`) after that step and return."""

    def batch(rows: list[int], step: int) -> dict:
        ids, mask, types = collate(train.enc, rows)
        return {"ids": ids, "mask": mask, "types": types, "teacher": train.logits[:, rows],
                "labels": train.labels[rows]}

    objective = _Objective(cfg)
    hooks = Hooks(evaluate=objective.entry,
                  on_log=(lambda e: print(json.dumps(e), flush=True)) if cfg.progress else None)
    params = [p for p in student.parameters() if p.requires_grad]
    # No bar: progress means JSON lines here.
    result = train_loop(student, params, objective, [len(ids) for ids in train.enc["input_ids"]], batch,
                        replace(cfg, progress=False), hooks, stop_at)
    student.eval()
    return result.log


# ----- data --------------------------------------------------------------------------------
def training_subset(data: TextDataset, size: int | None, seed: int) -> TextDataset:
    """A seeded random subset of `size` rows (all rows when size is None or larger)."""
    return train_and_validation(data, size, 0, seed)[0]


def train_and_validation(data: TextDataset, size: int | None, val_size: int,
                         seed: int) -> tuple[TextDataset, TextDataset | None]:
    """The training subset of `training_subset` and a disjoint seeded slice of `val_size` other
    rows of the same file (for tuning: the dev set stays for the final scores only)."""
    n = len(data)
    train_rows = list(range(n)) if not size or size >= n else sorted(random.Random(seed).sample(range(n), size))
    if not val_size:
        return (data if len(train_rows) == n else data.subset(train_rows)), None
    taken = set(train_rows)
    if n - len(taken) < val_size:  # all rows train: the validation slice comes out of them
        train_rows = sorted(random.Random(seed).sample(range(n), n - val_size))
        taken = set(train_rows)
    rest = [r for r in range(n) if r not in taken]
    val_rows = sorted(random.Random(seed + 1).sample(rest, val_size))
    return data.subset(train_rows), data.subset(val_rows)
