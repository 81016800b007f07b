"""Adaptive inference with shrinking batches (the paper's Figure 2), and the all-layers pass.

After each layer the samples whose student is sure enough leave the batch (tensor indexing,
no per-sample Python loop), and the remaining batch is cut to its longest real sequence.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .uncertainty import ExitCriterion, decide_exits, normalized_entropy


@dataclass
class BatchTrace:
    """Per-sample record of one batch. Layers a sample did not run hold NaN.

    exit_layer: (B,) 1-based; layer_probs: (L, B, C); uncertainties: (L, B).
    """

    exit_layer: torch.Tensor
    layer_probs: torch.Tensor
    uncertainties: torch.Tensor

    @property
    def probs(self) -> torch.Tensor:
        """(B, C) probabilities of each sample's exit layer."""
        idx = (self.exit_layer - 1).to(self.layer_probs.device)
        return self.layer_probs[idx, torch.arange(idx.numel(), device=idx.device)]


def _trim(hidden, mask):
    """Cut padding columns that no sample in the batch uses (right padding).

    Also says whether any padding is left (some sample shorter than the longest).
    """
    shortest, longest = (int(n) for n in torch.aminmax(mask.sum(1)))
    return hidden[:, :longest], mask[:, :longest], shortest < longest


def _stack_trace(runs: list[tuple[torch.Tensor | None, torch.Tensor]], L: int, B: int) -> torch.Tensor:
    """(L, B, C) probabilities from each layer's (rows, probs), NaN where a sample did not run.

    rows None: every sample of the batch ran the layer. Those layers (always the first ones)
    are stacked in one operation; with batch size 1 there are no others.
    """
    full = 0
    while full < len(runs) and runs[full][0] is None:
        full += 1
    head = torch.stack([p for _, p in runs[:full]])
    if full == L:
        return head
    C = head.shape[-1]
    out = torch.cat([head, head.new_full((L - full, B, C), float("nan"))])
    for i in range(full, len(runs)):
        rows, probs = runs[i]
        out[i, rows] = probs
    return out


@torch.inference_mode()
def adaptive_forward(model, input_ids, attention_mask, token_type_ids, speed: float,
                     criterion: ExitCriterion) -> BatchTrace:
    """Run a batch with early exit; a sample stops at the first layer whose criterion fires.

    The layers' attention mask is built only when the batch changes; a batch without padding
    (always the case at batch size 1) gives the classifiers no mask at all. The per-layer
    record is assembled once at the end, so a layer costs its encoder layer, its classifier
    and the exit test, nothing more.
    """
    enc, L = model.encoder, model.num_layers
    B, device = input_ids.size(0), input_ids.device
    exit_layer = torch.full((B,), L, dtype=torch.long)
    active = None  # original rows of the running samples; None while all B are running
    runs = []  # (active, probs) of each layer run
    hidden, mask, padded = _trim(enc.embed(input_ids, token_type_ids), attention_mask)
    layer_mask = enc.layer_mask(hidden, mask, padded)
    state = None
    for i in range(L):
        hidden = enc.run_layer(i, hidden, mask, layer_mask)
        probs = model.classifiers[i](hidden, mask if padded else None).softmax(-1)  # (b, C)
        runs.append((active, probs))
        if i == L - 1:
            break
        # float32, as `decide_exits` sees them (a no-op for float32 models)
        leave, state = criterion(probs.float(), speed, i, L, state)
        leaving = int(leave.sum())
        if leaving == 0:
            continue
        if leaving == probs.size(0):  # every running sample exits here (always so at batch size 1)
            if active is None:
                exit_layer.fill_(i + 1)
            else:
                exit_layer[active.cpu()] = i + 1
            break
        rows = torch.arange(B, device=device) if active is None else active
        exit_layer[rows[leave].cpu()] = i + 1
        keep = (~leave).nonzero().squeeze(1)
        active, hidden, mask = rows[keep], hidden[keep], mask[keep]
        state = state[keep] if state is not None else None
        hidden, mask, padded = _trim(hidden, mask)
        layer_mask = enc.layer_mask(hidden, mask, padded)
    layer_probs = _stack_trace(runs, L, B).float().cpu()
    # Uncertainties of all layers at once; the layers a sample did not run stay NaN.
    return BatchTrace(exit_layer, layer_probs, normalized_entropy(layer_probs))


@torch.inference_mode()
def full_forward(model, input_ids, attention_mask, token_type_ids, speed: float,
                 criterion: ExitCriterion) -> BatchTrace:
    """Run every layer and classifier for every sample, then take the same exit decision.

    Used to show what skipped layers would have said, and to sweep speeds without re-running.
    """
    enc = model.encoder
    hidden, mask, padded = _trim(enc.embed(input_ids, token_type_ids), attention_mask)
    layer_mask = enc.layer_mask(hidden, mask, padded)
    probs = []
    for i in range(model.num_layers):
        hidden = enc.run_layer(i, hidden, mask, layer_mask)
        probs.append(model.classifiers[i](hidden, mask if padded else None).softmax(-1))
    layer_probs = torch.stack(probs).float().cpu()  # (L, B, C)
    return BatchTrace(decide_exits(layer_probs, speed, criterion), layer_probs, normalized_entropy(layer_probs))
