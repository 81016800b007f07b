"""Adaptive inference with shrinking batches (the paper's Figure 2), and the all-layers pass.

After each layer the samples whose student is sure enough leave the batch (tensor indexing,
no per-sample Python loop), the survivors of several batches are regrouped into full batches,
and each batch is cut to its longest real sequence.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import torch

from .uncertainty import ExitCriterion, decide_exits, entropy_criterion, normalized_entropy


@dataclass
class Trace:
    """What `FastBert.trace` ran: the encodings, one `BatchTrace` per chunk of rows, and each
    chunk's rows (indices into the texts; the trace's b-th sample is row `chunks[i][b]`)."""

    encodings: dict
    batches: list[BatchTrace]
    chunks: list[list[int]]


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


class LayerStep(NamedTuple):
    """What one layer step returns: the layer's output (b, T, H) and its classifier's
    probabilities (b, C)."""

    hidden: torch.Tensor
    probs: torch.Tensor


class LayerRunner(Protocol):
    """The per-layer step of the early-exit loop, whichever runtime computes it.

    The loop (`adaptive_forward`, `full_forward`) decides exits, shrinks and regroups batches
    and trims padding on torch tensors; a runner only turns token ids into embeddings and runs
    layer `index` followed by its classifier and softmax. `TorchRunner` runs the model's own
    modules; `fastbert.ort_runtime.OrtRunner` runs exported ONNX segments. A runner may also
    offer `exit_one(input_ids, token_type_ids, speed, temperatures)`: one sample's whole early
    exit (entropy criterion) in one call, returning (layer_probs, exit_layer) or None.
    """

    num_layers: int

    def embed(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None) -> torch.Tensor:
        """(B, T) ids -> (B, T, H) embeddings."""

    def layer_mask(self, hidden: torch.Tensor, mask: torch.Tensor, padded: bool) -> Any:
        """What `step` needs of a group's (B, T) attention mask; built once per group."""

    def step(self, index: int, hidden: torch.Tensor, mask: torch.Tensor, padded: bool,
             layer_mask: Any, temperature: float | None = None) -> LayerStep:
        """Layer `index` (0-based) and the softmax of its classifier's logits / `temperature`
        (None: 1, the uncalibrated probabilities)."""


class TorchRunner:
    """The model's own modules: the lean layer path and the fused classifiers."""

    def __init__(self, model):
        self.encoder, self.classifiers, self.num_layers = model.encoder, model.classifiers, model.num_layers

    def embed(self, input_ids, token_type_ids):
        return self.encoder.embed(input_ids, token_type_ids)

    def layer_mask(self, hidden, mask, padded):
        return self.encoder.layer_mask(hidden, mask, padded)

    def step(self, index, hidden, mask, padded, layer_mask, temperature=None) -> LayerStep:
        hidden = self.encoder.run_layer(index, hidden, mask, layer_mask)
        logits = self.classifiers[index](hidden, mask if padded else None)
        return LayerStep(hidden, (logits if temperature is None else logits / temperature).softmax(-1))


def _runner(model, runner: LayerRunner | None) -> LayerRunner:
    if runner is not None:
        return runner
    return model.layer_runner() if hasattr(model, "layer_runner") else TorchRunner(model)


def _whole_sample(run, input_ids, attention_mask, token_type_ids, speed: float,
                  temperatures) -> BatchTrace | None:
    """A lone sample's early exit in one call, when the runner offers it (`exit_one`: ONNX
    Runtime's exit graph, the entropy criterion inside the graph); else None. Padding is cut
    first, as `_trim` does."""
    exit_one = getattr(run, "exit_one", None)
    if exit_one is None:
        return None
    n = int(attention_mask[0].sum())
    types = None if token_type_ids is None else token_type_ids[:, :n]
    out = exit_one(input_ids[:, :n], types, speed, temperatures)
    if out is None:
        return None
    layer_probs, exit_layer = out
    return BatchTrace(exit_layer, layer_probs, normalized_entropy(layer_probs))


def _trim(hidden, mask):
    """Cut padding columns that no sample in the batch uses (right padding).

    Also says whether any padding is left (some sample shorter than the longest).
    """
    shortest, longest = (int(n) for n in torch.aminmax(mask.sum(1)))
    return hidden[:, :longest], mask[:, :longest], shortest < longest


def _stack_trace(runs: list[tuple[int, torch.Tensor | None, torch.Tensor]], L: int, B: int) -> torch.Tensor:
    """(L, B, C) probabilities from the (layer, rows, probs) of every group run, NaN where a
    sample did not run a layer. rows None: every sample of the batch ran it (at batch size 1,
    always); those layers are stacked in one operation."""
    full = 0
    while full < len(runs) and runs[full][1] is None and runs[full][0] == full:
        full += 1
    C = runs[0][2].shape[-1]
    head = torch.stack([p for _, _, p in runs[:full]]) if full else runs[0][2].new_empty((0, B, C))
    if full == len(runs) == L:
        return head
    out = torch.cat([head, head.new_full((L - full, B, C), float("nan"))])
    for layer, rows, probs in runs[full:]:
        out[layer, rows] = probs
    return out


class _Group:
    """Samples that run a layer together: their rows in the input (None: all of them), hidden
    states (b, T, H), mask (b, T), whether any of it is padding, the criterion's state, and the
    layers' attention mask (... until built)."""

    __slots__ = ("rows", "hidden", "mask", "padded", "state", "layer_mask")

    def __init__(self, rows, hidden, mask, padded, state, layer_mask=...):
        self.rows, self.hidden, self.mask, self.padded = rows, hidden, mask, padded
        self.state, self.layer_mask = state, layer_mask


def _pad_right(t: torch.Tensor, width: int) -> torch.Tensor:
    """Zero-pad dimension 1 to `width`."""
    extra = width - t.size(1)
    return t if extra == 0 else torch.cat([t, t.new_zeros((t.size(0), extra) + tuple(t.shape[2:]))], dim=1)


def _merge(parts: list[_Group]) -> _Group:
    if len(parts) == 1:
        return parts[0]
    width = max(g.hidden.size(1) for g in parts)
    state = None if parts[0].state is None else torch.cat([g.state for g in parts])
    return _Group(torch.cat([g.rows for g in parts]), torch.cat([_pad_right(g.hidden, width) for g in parts]),
                  torch.cat([_pad_right(g.mask, width) for g in parts]),
                  any(g.padded or g.hidden.size(1) < width for g in parts), state)


def _slice(g: _Group, a: int, b: int) -> _Group:
    hidden, mask, padded = _trim(g.hidden[a:b], g.mask[a:b])
    return _Group(g.rows[a:b], hidden, mask, padded, None if g.state is None else g.state[a:b])


def _regroup(pieces: list[_Group], batch_size: int) -> list[_Group]:
    """The survivors of one layer, in groups of at most `batch_size` for the next.

    Pieces come in input order, longest first, so consecutive survivors have similar lengths;
    a piece that fills a group alone is kept as it is (no copy), the others are cut or padded to
    their group's longest member and concatenated.
    """
    groups, parts, size = [], [], 0
    for piece in pieces:
        n, start = piece.rows.numel(), 0
        while start < n:
            take = min(batch_size - size, n - start)
            parts.append(piece if take == n else _slice(piece, start, start + take))
            size, start = size + take, start + take
            if size == batch_size:
                groups.append(_merge(parts))
                parts, size = [], 0
    if parts:
        groups.append(_merge(parts))
    return groups


@torch.inference_mode()
def adaptive_forward(model, input_ids, attention_mask, token_type_ids, speed: float,
                     criterion: ExitCriterion, batch_size: int | None = None,
                     temperatures: list[float] | None = None,
                     runner: LayerRunner | None = None) -> BatchTrace:
    """Run samples with early exit; a sample stops at the first layer whose criterion fires.

    The samples run each layer in groups of at most `batch_size` (all together when None).
    After a layer the samples that exit leave their group, and when more than one group is
    left the survivors are regrouped, so that later layers run full groups rather than many
    nearly empty ones. Pass the samples longest first (as `FastBert.trace` does) so that a
    group holds similar lengths; every group is cut to its longest sequence. A group's attention
    mask is built once, and not at all when nothing is padded (always so at batch size 1). The
    per-layer record is assembled once at the end. `temperatures` (one per layer, or None for
    the uncalibrated model) divide each classifier's logits before the softmax. `runner`
    computes each layer (by default the model's own: `model.layer_runner()`, see `LayerRunner`);
    a lone sample under the entropy criterion runs in one call when the runner offers `exit_one`.
    """
    run, L = _runner(model, runner), model.num_layers
    B, device = input_ids.size(0), input_ids.device
    if B == 1 and criterion is entropy_criterion:
        whole = _whole_sample(run, input_ids, attention_mask, token_type_ids, speed, temperatures)
        if whole is not None:
            return whole
    bs = min(batch_size or B, B)
    exit_layer = torch.full((B,), L, dtype=torch.long)
    runs = []  # (layer, rows or None, probs) of every group run
    groups = []
    for a in range(0, B, bs):
        types = None if token_type_ids is None else token_type_ids[a:a + bs]
        hidden, mask, padded = _trim(run.embed(input_ids[a:a + bs], types), attention_mask[a:a + bs])
        rows = None if bs == B else torch.arange(a, min(a + bs, B), device=device)
        groups.append(_Group(rows, hidden, mask, padded, None))
    for i in range(L):
        survivors = []
        for g in groups:
            if g.layer_mask is ...:
                g.layer_mask = run.layer_mask(g.hidden, g.mask, g.padded)
            g.hidden, probs = run.step(i, g.hidden, g.mask, g.padded, g.layer_mask,
                                       None if temperatures is None else temperatures[i])  # probs (b, C)
            runs.append((i, g.rows, probs))
            if i == L - 1:
                continue
            # float32, as `decide_exits` sees them (a no-op for float32 models)
            leave, g.state = criterion(probs.float(), speed, i, L, g.state)
            leaving = int(leave.sum())
            if leaving == 0:
                survivors.append(g)
            elif leaving == probs.size(0):  # the whole group exits here (always so at batch size 1)
                if g.rows is None:
                    exit_layer.fill_(i + 1)
                else:
                    exit_layer[g.rows.cpu()] = i + 1
            else:
                rows = torch.arange(B, device=device) if g.rows is None else g.rows
                exit_layer[rows[leave].cpu()] = i + 1
                keep = (~leave).nonzero().squeeze(1)
                hidden, mask, padded = _trim(g.hidden[keep], g.mask[keep])
                survivors.append(_Group(rows[keep], hidden, mask, padded, None if g.state is None else g.state[keep]))
        if not survivors:
            break
        groups = _regroup(survivors, bs) if len(survivors) > 1 else survivors
    layer_probs = _stack_trace(runs, L, B).float().cpu()
    # Uncertainties of all layers at once; the layers a sample did not run stay NaN.
    return BatchTrace(exit_layer, layer_probs, normalized_entropy(layer_probs))


@torch.inference_mode()
def full_forward(model, input_ids, attention_mask, token_type_ids, speed: float,
                 criterion: ExitCriterion, temperatures: list[float] | None = None,
                 runner: LayerRunner | None = None) -> BatchTrace:
    """Run every layer and classifier for every sample, then take the same exit decision.

    Used to show what skipped layers would have said, and to sweep speeds without re-running.
    """
    run = _runner(model, runner)
    if input_ids.size(0) == 1:  # speed -1: no layer's test fires, every layer runs
        whole = _whole_sample(run, input_ids, attention_mask, token_type_ids, -1.0, temperatures)
        if whole is not None:
            return BatchTrace(decide_exits(whole.layer_probs, speed, criterion), whole.layer_probs,
                              whole.uncertainties)
    hidden, mask, padded = _trim(run.embed(input_ids, token_type_ids), attention_mask)
    layer_mask = run.layer_mask(hidden, mask, padded)
    probs = []
    for i in range(model.num_layers):
        hidden, p = run.step(i, hidden, mask, padded, layer_mask, None if temperatures is None else temperatures[i])
        probs.append(p)
    layer_probs = torch.stack(probs).float().cpu()  # (L, B, C)
    return BatchTrace(decide_exits(layer_probs, speed, criterion), layer_probs, normalized_entropy(layer_probs))
