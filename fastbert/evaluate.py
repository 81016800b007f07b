"""Accuracy and cost of a model on a dataset, at one speed (timed) or many (one pass)."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Sequence

import torch

from .data import TextDataset
from .speedup import speedup
from .uncertainty import ExitCriterion, decide_exits, get_criterion, normalized_entropy


@dataclass
class EvalResult:
    speed: float
    num_samples: int
    accuracy: float | None  # None without labels
    mean_exit_layer: float  # 1-based
    exit_histogram: list[int]  # samples exiting at layer 1..L
    flops_per_sample: float
    full_flops_per_sample: float
    flops_speedup: float
    seconds: float | None  # wall-clock of the adaptive run; None for sweeps from one pass

    def to_dict(self) -> dict:
        return asdict(self)


def _summarise(speed, exit_layer, pred, labels, tokens, cost, num_layers, seconds) -> EvalResult:
    n = tokens.double()
    spent = cost.spent_flops(n, exit_layer.double()).mean().item()
    full = cost.full_flops(n).mean().item()
    acc = None if labels is None else (pred == labels).double().mean().item()
    hist = torch.bincount(exit_layer - 1, minlength=num_layers).tolist()
    return EvalResult(speed, int(exit_layer.numel()), acc, exit_layer.double().mean().item(), hist,
                      spent, full, speedup(full, spent), seconds)


def _labels(model, data: TextDataset) -> torch.Tensor | None:
    return None if data.raw_labels is None else torch.tensor(data.label_ids(model.config.labels))


def evaluate(model, data: TextDataset, speed: float, batch_size: int = 32,
             criterion: ExitCriterion | None = None, calibrated: bool = True) -> EvalResult:
    """Run adaptive inference (shrinking batches) on `data` and time it."""
    start = time.perf_counter()
    preds = model.predict(data.texts, speed=speed, batch_size=batch_size, criterion=criterion,
                          calibrated=calibrated)
    seconds = time.perf_counter() - start
    exit_layer = torch.tensor([p.exit_layer for p in preds])
    pred = torch.tensor([p.label_id for p in preds])
    tokens = torch.tensor([p.num_tokens for p in preds])
    return _summarise(speed, exit_layer, pred, _labels(model, data), tokens, model.cost, model.num_layers, seconds)


@dataclass
class LayerOutputs:
    """Every layer's probabilities for a dataset: layer_probs (L, N, C), num_tokens (N,),
    labels (N,) or None. Computed once, reused for any speed."""

    layer_probs: torch.Tensor
    num_tokens: torch.Tensor
    labels: torch.Tensor | None

    @property
    def uncertainties(self) -> torch.Tensor:  # (L, N)
        return normalized_entropy(self.layer_probs)


def all_layer_outputs(model, data: TextDataset, batch_size: int = 64, calibrated: bool = True,
                      encodings: dict | None = None) -> LayerOutputs:
    """Every layer's probabilities for every sample (one all-layers pass). `encodings`: what
    `model.tokenize(data.texts)` returned, to tokenize elsewhere (outside a lock, say)."""
    run = model.trace(data.texts, speed=0.0, batch_size=batch_size, compute_all=True,
                      calibrated=calibrated, encodings=encodings)
    N, L, C = len(data), model.num_layers, model.config.num_labels
    layer_probs = torch.empty(L, N, C)
    for rows, tr in zip(run.chunks, run.batches):
        layer_probs[:, rows] = tr.layer_probs
    tokens = torch.tensor([len(ids) for ids in run.encodings["input_ids"]])
    return LayerOutputs(layer_probs, tokens, _labels(model, data))


@dataclass
class Outcome:
    """Each sample's result at one speed, decided from an all-layers pass (no model run).

    exit_layer (N,) 1-based; label_id (N,); probs (N, C) and uncertainty (N,) of the exit
    layer; flops and full_flops (N,) float64, from the model's cost.
    """

    speed: float
    exit_layer: torch.Tensor
    label_id: torch.Tensor
    probs: torch.Tensor
    uncertainty: torch.Tensor
    flops: torch.Tensor
    full_flops: torch.Tensor

    def summary(self, labels: torch.Tensor | None, num_layers: int) -> EvalResult:
        """Accuracy (against `labels`, when given), exit histogram and FLOPs of the whole set."""
        spent, full = self.flops.mean().item(), self.full_flops.mean().item()
        acc = None if labels is None else (self.label_id == labels).double().mean().item()
        hist = torch.bincount(self.exit_layer - 1, minlength=num_layers).tolist()
        return EvalResult(self.speed, int(self.exit_layer.numel()), acc, self.exit_layer.double().mean().item(),
                          hist, spent, full, speedup(full, spent), None)


def outcome_at(model, outputs: LayerOutputs, speed: float, criterion: ExitCriterion | None = None) -> Outcome:
    """Every sample's exit, label and FLOPs at `speed`, in one vectorised decision over the
    stacked layer probabilities (`decide_exits`): the same answers as adaptive inference.

    >>> out = all_layer_outputs(model, data)                  # doctest: +SKIP
    >>> outcome_at(model, out, 0.5).exit_layer                # doctest: +SKIP
    tensor([1, 3, 2])
    """
    criterion = criterion or get_criterion(model.config.exit_criterion, model.config.patience)
    exit_layer = decide_exits(outputs.layer_probs, speed, criterion)  # (N,)
    probs = outputs.layer_probs[exit_layer - 1, torch.arange(exit_layer.numel())]  # (N, C)
    n = outputs.num_tokens.double()
    return Outcome(speed, exit_layer, probs.argmax(-1), probs, normalized_entropy(probs),
                   model.cost.spent_flops(n, exit_layer.double()), model.cost.full_flops(n))


def sweep(model, outputs: LayerOutputs, speeds: Sequence[float],
          criterion: ExitCriterion | None = None) -> list[EvalResult]:
    """Accuracy and FLOPs at each speed from one all-layers pass (same decisions as adaptive)."""
    criterion = criterion or get_criterion(model.config.exit_criterion, model.config.patience)
    return [outcome_at(model, outputs, s, criterion).summary(outputs.labels, model.num_layers) for s in speeds]


@torch.inference_mode()
def time_plain_forward(model, data: TextDataset, batch_size: int = 32) -> float:
    """Seconds for the plain model (all layers + teacher only, no students) over `data`,
    batched like `predict` (sorted by length). The 'full model' reference of the tables."""
    enc = model.tokenize(data.texts)
    order = sorted(range(len(data)), key=lambda r: -len(enc["input_ids"][r]))
    was_training = model.training
    model.eval()
    start = time.perf_counter()
    for k in range(0, len(order), batch_size):
        ids, mask, types = model.collate(enc, order[k:k + batch_size])
        model(ids, mask, types, heads="teacher").teacher_logits.softmax(-1).cpu()
    seconds = time.perf_counter() - start
    model.train(was_training)
    return seconds


@dataclass
class LuhaBins:
    """Accuracy of layer predictions per uncertainty bin (the paper's LUHA, Figure 4): bin i holds
    uncertainties in [edges[i], edges[i+1]) (the last bin includes 1); `accuracy` is a fraction,
    None for an empty bin; `reference` is what predictions are scored against."""

    edges: list[float]
    accuracy: list[float | None]
    counts: list[int]
    reference: str  # "labels", or "teacher" (its prediction) for unlabeled data

    @property
    def centers(self) -> list[float]:
        return [(a + b) / 2 for a, b in zip(self.edges, self.edges[1:])]


def luha_bins(outputs: LayerOutputs, layer: int | None = None, bins: int = 10) -> LuhaBins:
    """Bin one layer's predictions (or every (layer, sample) prediction pooled, `layer=None`) by
    uncertainty and score each bin against the labels (or the teacher's predictions).

    >>> b = luha_bins(outputs, layer=0, bins=5)            # doctest: +SKIP
    >>> sum(b.counts) == outputs.layer_probs.shape[1]      # doctest: +SKIP
    True
    """
    pred = outputs.layer_probs.argmax(-1)  # (L, N)
    reference = "labels" if outputs.labels is not None else "teacher"
    ref = (outputs.labels if outputs.labels is not None else pred[-1]).unsqueeze(0).expand_as(pred)
    rows = slice(None) if layer is None else slice(layer, layer + 1)
    correct = (pred[rows] == ref[rows]).flatten().double()
    which = torch.clamp((outputs.uncertainties[rows].flatten() * bins).long(), 0, bins - 1)
    counts = torch.bincount(which, minlength=bins)
    sums = torch.zeros(bins, dtype=torch.float64).index_add_(0, which, correct)
    accuracy = [float(s / c) if c else None for s, c in zip(sums.tolist(), counts.tolist())]
    return LuhaBins([i / bins for i in range(bins + 1)], accuracy, counts.tolist(), reference)
