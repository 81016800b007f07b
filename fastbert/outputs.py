"""Result dataclasses: what the library hands to its callers (never bare tuples)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import torch

from .speedup import speedup as _speedup

if TYPE_CHECKING:
    from .flops import CostModel
    from .inference import Trace


@dataclass
class FastBertOutput:
    """Training-time forward output.

    layer_logits: (L, B, C) logits of every layer's classifier, or None when only the
    teacher ran; teacher_logits: (B, C).
    """

    teacher_logits: torch.Tensor
    layer_logits: torch.Tensor | None = None


@dataclass
class Prediction:
    """Adaptive-inference result for one text."""

    text: str | tuple[str, str]
    label: str
    label_id: int
    probs: list[float]
    exit_layer: int  # 1-based
    num_layers: int
    uncertainties: list[float]  # normalized entropy of each layer that ran (exit_layer values)
    layer_probs: list[list[float]]  # class probabilities of each layer that ran
    num_tokens: int  # tokens the model read (after truncation)
    input_tokens: int  # tokens of the text before truncation
    flops: float
    full_flops: float
    # Only with predict(..., compute_all=True): every layer, including those skipped.
    all_uncertainties: list[float] | None = None
    all_layer_probs: list[list[float]] | None = None
    # True when the text was too long to read whole and input_tokens is an estimate.
    input_tokens_estimated: bool = False
    speed: float | None = None  # the speed used (chosen from the curve for a target speedup)

    @property
    def confidence(self) -> float:
        return max(self.probs)

    @property
    def truncated(self) -> bool:
        return self.input_tokens > self.num_tokens

    @property
    def speedup(self) -> float:
        return _speedup(self.full_flops, self.flops)

    def to_dict(self) -> dict:
        return {
            "label": self.label, "label_id": self.label_id, "confidence": self.confidence,
            "probs": self.probs, "exit_layer": self.exit_layer, "num_layers": self.num_layers,
            "uncertainties": self.uncertainties, "flops": self.flops, "full_flops": self.full_flops,
            "speedup": self.speedup, "num_tokens": self.num_tokens, "truncated": self.truncated,
            "speed": self.speed, "input_tokens": self.input_tokens,
            "input_tokens_estimated": self.input_tokens_estimated,
        }


def predictions(texts: Sequence, run: Trace, cost: CostModel, labels: Sequence[str], num_layers: int,
                speed: float, compute_all: bool = False) -> list[Prediction]:
    """One `Prediction` per text, in input order, from what `FastBert.trace` ran; FLOPs priced by
    `cost` on each text's token count. compute_all: keep the layers after each exit too."""
    enc = run.encodings
    results: list[Prediction | None] = [None] * len(texts)
    estimated = enc.get("input_tokens_estimated") or [False] * len(texts)
    for rows, tr in zip(run.chunks, run.batches):
        n = torch.tensor([len(enc["input_ids"][r]) for r in rows], dtype=torch.float64)
        spent = cost.spent_flops(n, tr.exit_layer.double()).tolist()
        full = cost.full_flops(n).tolist()
        final = tr.probs.tolist()
        exits = tr.exit_layer.tolist()
        lp, un = tr.layer_probs.transpose(0, 1).tolist(), tr.uncertainties.t().tolist()
        for j, r in enumerate(rows):
            k = exits[j]
            label_id = max(range(len(final[j])), key=final[j].__getitem__)
            results[r] = Prediction(
                text=texts[r], label=labels[label_id], label_id=label_id,
                probs=final[j], exit_layer=k, num_layers=num_layers,
                uncertainties=un[j][:k], layer_probs=lp[j][:k],
                num_tokens=len(enc["input_ids"][r]), input_tokens=enc["input_tokens"][r],
                input_tokens_estimated=bool(estimated[r]),
                flops=spent[j], full_flops=full[j],
                all_uncertainties=un[j] if compute_all else None,
                all_layer_probs=lp[j] if compute_all else None, speed=speed,
            )
    return results  # type: ignore[return-value]
