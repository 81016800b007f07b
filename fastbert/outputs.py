"""Result dataclasses: what the library hands to its callers (never bare tuples)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .speedup import speedup as _speedup


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
            "speed": self.speed,
        }
