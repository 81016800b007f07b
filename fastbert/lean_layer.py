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

import torch
from torch import nn
from torch.nn import functional as F

from .weight_cache import derived

# Self-attention classes whose forward is BERT's: query/key/value Linear, scaled dot product
# over heads with the additive or boolean mask `create_bidirectional_mask` makes, no position
# bias inside attention.
_BERT_SELF_ATTENTION = {
    "BertSelfAttention", "RobertaSelfAttention", "XLMRobertaSelfAttention",
    "ElectraSelfAttention", "CamembertSelfAttention",
}


def supports_lean(layer: nn.Module, config) -> bool:
    """Whether `lean_layer_forward` computes exactly what `layer` does in eval mode."""
    attn = getattr(getattr(layer, "attention", None), "self", None)
    return (
        type(attn).__name__ in _BERT_SELF_ATTENTION
        and getattr(config, "_attn_implementation", "sdpa") in ("sdpa", "eager")
        and not getattr(config, "is_decoder", False)
        and not getattr(config, "add_cross_attention", False)
        and not getattr(config, "chunk_size_feed_forward", 0)
        and getattr(config, "position_embedding_type", "absolute") == "absolute"
        and hasattr(layer, "intermediate") and hasattr(layer, "output")
    )


_SOURCES = tuple(f"attention.self.{m}.{p}" for p in ("weight", "bias") for m in ("query", "key", "value")) + tuple(
    f"{m}.{p}" for m in ("attention.output.dense", "attention.output.LayerNorm", "intermediate.dense",
                         "output.dense", "output.LayerNorm") for p in ("weight", "bias"))


def _plan(layer, wq, wk, wv, bq, bk, bv, *rest):
    """Everything the forward reads: query, key and value in one (3H, H) matrix and (3H,) bias,
    the other weights as they are, and the layer's constants."""
    attn = layer.attention.self
    constants = (attn.num_attention_heads, attn.scaling, layer.attention.output.LayerNorm.eps,
                 layer.output.LayerNorm.eps, layer.intermediate.intermediate_act_fn)
    return (torch.cat([wq, wk, wv]), torch.cat([bq, bk, bv])) + rest + constants


def lean_layer_forward(layer: nn.Module, hidden: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """(B, T, H) -> (B, T, H); `mask` is what `LayerwiseEncoder.layer_mask` built (or None)."""
    (w, b, wo, bo, g1, b1, wi, bi, w2, b2, g2, b2n,
     heads, scaling, eps1, eps2, act) = derived(layer, "_fastbert_lean", _SOURCES, lambda *p: _plan(layer, *p))
    B, T, H = hidden.shape
    q, k, v = F.linear(hidden, w, b).view(B, T, 3, heads, -1).permute(2, 0, 3, 1, 4)
    ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scaling).transpose(1, 2).reshape(B, T, H)
    x = F.layer_norm(F.linear(ctx, wo, bo) + hidden, (H,), g1, b1, eps1)
    return F.layer_norm(F.linear(act(F.linear(x, wi, bi)), w2, b2) + x, (H,), g2, b2n, eps2)
