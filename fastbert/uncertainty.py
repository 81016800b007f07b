"""Uncertainty and pluggable exit criteria.

A criterion is a function `(probs, speed, layer, num_layers, state) -> (exit, state)`:
`probs` (B, C) are one layer's class probabilities for the samples still running, `exit`
(B,) says which of them leave at this layer, and `state` is an optional (B, ...) tensor the
criterion carries between layers (the caller drops the rows of samples that left).
Every criterion is monotone: a higher `speed` never makes a sample exit later.
"""
from __future__ import annotations

import math
from typing import Callable, Optional

import torch

State = Optional[torch.Tensor]
ExitCriterion = Callable[[torch.Tensor, float, int, int, State], tuple[torch.Tensor, State]]


def normalized_entropy(probs: torch.Tensor) -> torch.Tensor:
    """The paper's uncertainty: sum(p log p) / log(1/N), in [0, 1]. (..., N) -> (...).

    >>> normalized_entropy(torch.tensor([0.5, 0.5])).item()
    1.0
    """
    return _scaled_entropy(probs).clamp(0.0, 1.0)


def _scaled_entropy(probs: torch.Tensor) -> torch.Tensor:
    """-sum(p log p) / log N, before clamping to [0, 1] (float rounding can step just past 1).

    entr(p) = -p log p is 0 at p == 0 and never negative on [0, 1], so the result is >= 0.
    """
    return torch.special.entr(probs).sum(-1) * (1.0 / math.log(probs.shape[-1]))


def entropy_criterion(probs, speed, layer, num_layers, state):
    """Exit when the normalized entropy is below `speed` (the paper's rule).

    Tested as -sum(p log p) < speed * log N: the same rule without the division and the clamp
    of `normalized_entropy` (the clamp changes only values just above 1, which no speed in
    [0, 1] is above). Two operations fewer per layer, paid at batch size 1.
    """
    return torch.special.entr(probs).sum(-1) < speed * math.log(probs.shape[-1]), state


def max_prob_criterion(probs, speed, layer, num_layers, state):
    """Exit when 1 - max probability, rescaled to [0, 1], is below `speed`."""
    n = probs.shape[-1]
    score = (1.0 - probs.max(-1).values) * n / (n - 1)
    return score < speed, state


def patience_from_speed(speed: float, num_layers: int) -> int:
    """Patience k for a speed: speed 0 -> k = L (never early), speed 1 -> k = 1."""
    return max(1, min(num_layers, math.ceil((1.0 - speed) * num_layers)))


def make_patience_criterion(patience: int | None = None) -> ExitCriterion:
    """PABEE-style: exit once the same label was predicted `k` layers in a row.

    With `patience=None`, k comes from the speed (see `patience_from_speed`).
    State per sample: (previous label, run length).
    """

    def criterion(probs, speed, layer, num_layers, state):
        label = probs.argmax(-1)
        if state is None:
            run = torch.ones_like(label)
        else:
            run = torch.where(label == state[:, 0], state[:, 1] + 1, torch.ones_like(label))
        k = patience if patience is not None else patience_from_speed(speed, num_layers)
        return run >= k, torch.stack([label, run], dim=1)

    return criterion


def get_criterion(name: str, patience: int | None = None) -> ExitCriterion:
    if name == "entropy":
        return entropy_criterion
    if name == "max_prob":
        return max_prob_criterion
    if name == "patience":
        return make_patience_criterion(patience)
    raise ValueError(f"unknown exit criterion {name!r}: use entropy, max_prob or patience")


def decide_exits(layer_probs: torch.Tensor, speed: float, criterion: ExitCriterion) -> torch.Tensor:
    """Exit layer (1-based) of each sample, given every layer's probabilities (L, B, C).

    Gives the same decision as adaptive inference, which stops running a sample at its exit;
    used when all layers were computed once (the app's slider, speed sweeps).
    """
    L, B, _ = layer_probs.shape
    exit_layer = torch.full((B,), L, dtype=torch.long)
    done = torch.zeros(B, dtype=torch.bool)
    state = None
    for i in range(L - 1):
        leave, state = criterion(layer_probs[i], speed, i, L, state)
        newly = leave & ~done
        exit_layer[newly] = i + 1
        done |= leave
    return exit_layer
