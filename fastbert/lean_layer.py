"""An inference-only way to run a BERT-shaped transformer layer: the same weights and the same
arithmetic as the Hugging Face layer, in a dozen tensor operations and no sub-module calls.

Why: at batch size 1 a MiniLM layer's matrix products are small, and the Hugging Face layer
(four nested modules, three separate query/key/value products, keyword plumbing) takes 9-22%
longer than this path (measured on MiniLM-L6 at 8-64 tokens; more for shorter sentences; see
`benchmarks/overhead_profile.py`). Early exit saves whole layers, so the fixed cost of a layer
decides how much of the FLOPs saving shows up as time.

Used only when autograd is off and the layer is in eval mode (no dropout); training always
runs the Hugging Face layer.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from .weight_cache import derived, has_forward_hooks

# Self-attention classes whose forward is BERT's: query/key/value Linear, scaled dot product
# over heads with the additive or boolean mask `create_bidirectional_mask` makes, no position
# bias inside attention.
_BERT_SELF_ATTENTION = {
    "BertSelfAttention", "RobertaSelfAttention", "XLMRobertaSelfAttention",
    "ElectraSelfAttention", "CamembertSelfAttention",
}
_LINEARS = ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
            "intermediate.dense", "output.dense")
_NORMS = ("attention.output.LayerNorm", "output.LayerNorm")
_SOURCES = tuple(f"{m}.{p}" for p in ("weight", "bias") for m in _LINEARS[:3]) + tuple(
    f"{m}.{p}" for m in ("attention.output.dense", "attention.output.LayerNorm", "intermediate.dense",
                         "output.dense", "output.LayerNorm") for p in ("weight", "bias"))


LEAN_ATTENTION = ("sdpa", "eager")  # implementations that compute what SDPA computes, masks included


class LeanLayerPlan(NamedTuple):
    """What `lean_layer_forward` reads from one layer (a tuple, so unpacking stays cheap)."""

    qkv_weight: torch.Tensor  # (3H, H): query, key and value stacked
    qkv_bias: torch.Tensor  # (3H,)
    attn_out_weight: torch.Tensor
    attn_out_bias: torch.Tensor
    attn_norm_weight: torch.Tensor
    attn_norm_bias: torch.Tensor
    ffn_in_weight: torch.Tensor
    ffn_in_bias: torch.Tensor
    ffn_out_weight: torch.Tensor
    ffn_out_bias: torch.Tensor
    out_norm_weight: torch.Tensor
    out_norm_bias: torch.Tensor
    heads: int
    scaling: float
    attn_norm_eps: float
    out_norm_eps: float
    activation: Callable
    modules: tuple  # the layer's modules, to see forward hooks


def supports_lean(layer: nn.Module, config) -> bool:
    """Whether `lean_layer_forward` computes exactly what `layer` does in eval mode: BERT's layer
    shape with plain `nn.Linear` / `nn.LayerNorm` pieces (not quantized or wrapped ones). The
    attention implementation is checked by the caller (`LayerwiseEncoder`), per batch."""
    attn = getattr(getattr(layer, "attention", None), "self", None)
    if type(attn).__name__ not in _BERT_SELF_ATTENTION:
        return False
    try:
        plain = (all(type(layer.get_submodule(m)) is nn.Linear for m in _LINEARS)
                 and all(type(layer.get_submodule(m)) is nn.LayerNorm for m in _NORMS))
    except AttributeError:
        return False
    return (
        plain
        and not getattr(config, "is_decoder", False)
        and not getattr(config, "add_cross_attention", False)
        and not getattr(config, "chunk_size_feed_forward", 0)
        and getattr(config, "position_embedding_type", "absolute") == "absolute"
        and hasattr(layer.intermediate, "intermediate_act_fn")
    )


def lean_plan(layer: nn.Module, config) -> LeanLayerPlan | None:
    """What `lean_layer_forward` reads, cached on the layer; None when the layer must run as
    itself: an unsupported shape, or forward hooks on it or on any of its sub-modules (the lean
    path would skip them)."""
    plan = derived(layer, "lean_layer", _SOURCES, lambda *p: _plan(layer, config, *p))
    return None if plan is None or has_forward_hooks(plan.modules) else plan


def _plan(layer, config, wq, wk, wv, bq, bk, bv, *rest):
    """Query, key and value in one (3H, H) matrix and (3H,) bias, the other weights as they are,
    the layer's constants and its modules (to see hooks)."""
    if not supports_lean(layer, config):
        return None
    attn = layer.attention.self
    constants = (attn.num_attention_heads, attn.scaling, layer.attention.output.LayerNorm.eps,
                 layer.output.LayerNorm.eps, layer.intermediate.intermediate_act_fn)
    return LeanLayerPlan(torch.cat([wq, wk, wv]), torch.cat([bq, bk, bv]), *rest, *constants,
                         tuple(layer.modules()))


def lean_layer_forward(plan: LeanLayerPlan, hidden: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """(B, T, H) -> (B, T, H) with what `lean_plan(layer, config)` returned; `mask` is what
    `LayerwiseEncoder.layer_mask` built (or None)."""
    (w, b, wo, bo, g1, b1, wi, bi, w2, b2, g2, b2n, heads, scaling, eps1, eps2, act, _) = plan
    B, T, H = hidden.shape
    q, k, v = F.linear(hidden, w, b).view(B, T, 3, heads, -1).permute(2, 0, 3, 1, 4)
    ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scaling).transpose(1, 2).reshape(B, T, H)
    x = F.layer_norm(F.linear(ctx, wo, bo) + hidden, (H,), g1, b1, eps1)
    return F.layer_norm(F.linear(act(F.linear(x, wi, bi)), w2, b2) + x, (H,), g2, b2n, eps2)
