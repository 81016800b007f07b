"""The per-layer classifier of the FastBERT paper (one shape for teacher and students)."""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from .weight_cache import derived, has_forward_hooks


class FusedClassifierWeights(NamedTuple):
    """Every tensor classifier inference reads, products of weights precomputed (see
    `LayerClassifier.inference_weights`); a tuple, so unpacking stays cheap."""

    reduce_weight: torch.Tensor  # (w, H)
    reduce_bias: torch.Tensor
    query_key_weight: torch.Tensor  # (h*w, w): scaled K_h^T W_q,h of every head
    query_key_bias: torch.Tensor
    value_out_weight: torch.Tensor  # (w, h*w): W_o,h V_h of every head
    value_out_bias: torch.Tensor
    dense_weight: torch.Tensor
    dense_bias: torch.Tensor
    out_weight: torch.Tensor  # (N, w)
    out_bias: torch.Tensor
    modules: tuple  # the classifier's sub-modules, to see forward hooks


class LayerClassifier(nn.Module):
    """Linear(hidden->w)+tanh, multi-head self-attention (w wide), [CLS] position,
    Linear(w->w)+tanh, Linear(w->N).

    Only the [CLS] position of the self-attention output is used, so only the [CLS] query is
    computed, and the key and value projections are applied in the order that is cheapest for
    one query (same result, up to float rounding):
      * score of token t in head h: q_h . (K_h x_t + k_h) = (K_h^T q_h) . x_t + q_h . k_h. The
        last term is the same for every token, and softmax ignores a shift, so it is dropped;
        the tokens are scored against one w-vector u_h = K_h^T q_h per head.
      * the attention weights sum to 1, so sum_t a_t (V_h x_t + v_h) = V_h (sum_t a_t x_t) + v_h:
        the tokens are pooled first and the value projection runs once per head.
    No token is ever projected to keys or values: past the first Linear the cost per token is
    2 x heads x w multiply-adds instead of 2 x w x w. FLOPs are counted on this computation.
    The parameters (names and shapes) are those of the straightforward form.
    """

    def __init__(self, hidden_size: int, num_labels: int, width: int = 128, heads: int = 2):
        super().__init__()
        if width % heads:
            raise ValueError(f"classifier width {width} is not a multiple of its {heads} heads")
        self.heads = heads
        self.head_dim = width // heads
        self.reduce = nn.Linear(hidden_size, width)
        self.query = nn.Linear(width, width)
        self.key = nn.Linear(width, width)
        self.value = nn.Linear(width, width)
        self.attn_out = nn.Linear(width, width)
        self.dense = nn.Linear(width, width)
        self.out = nn.Linear(width, num_labels)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """hidden (B, T, H), mask (B, T) with 1 for real tokens, or None when no position is
        padding -> logits (B, N)."""
        if not torch.is_grad_enabled():
            weights = self.inference_weights()
            if weights is not None:
                return self._forward_fused(hidden, mask, weights)
        B, T, _ = hidden.shape
        h, d = self.heads, self.head_dim
        w = h * d
        x = torch.tanh(self.reduce(hidden))  # (B, T, w)
        q = self.query(x[:, 0]).view(B, h, 1, d)  # the [CLS] query, (B, h, 1, d)
        u = torch.matmul(q, self.key.weight.view(h, d, w)).view(B, h, w)  # K_h^T q_h, (B, h, w)
        scores = torch.bmm(u, x.transpose(1, 2))  # (B, h, T)
        if mask is not None:
            scores = scores.masked_fill(mask[:, None, :] == 0, torch.finfo(scores.dtype).min)
        attn = (scores * (1.0 / math.sqrt(d))).softmax(dim=-1)  # (B, h, T)
        pooled = torch.bmm(attn, x).view(B, h, 1, w)  # sum_t a_t x_t per head, (B, h, 1, w)
        ctx = torch.matmul(pooled, self.value.weight.view(h, d, w).transpose(1, 2))  # (B, h, 1, d)
        cls = self.attn_out(ctx.view(B, w) + self.value.bias)  # (B, w)
        return self.out(torch.tanh(self.dense(cls)))  # (B, N)

    # ----- inference: the same function with fewer, larger operations ------------------------
    _INFERENCE_SOURCES = ("reduce.weight", "reduce.bias", "query.weight", "query.bias", "key.weight",
                          "value.weight", "value.bias", "attn_out.weight", "attn_out.bias",
                          "dense.weight", "dense.bias", "out.weight", "out.bias")

    def inference_weights(self) -> FusedClassifierWeights | None:
        """Every tensor inference reads, with the products of weights that it multiplies together
        anyway precomputed; cached until a weight changes (see `weight_cache.derived`). None
        when inference must call the sub-modules themselves: one of them was replaced by a
        module without plain weights, or has forward hooks.

        u = (K_h^T W_q,h / sqrt(d)) x_cls + K_h^T b_q,h / sqrt(d), all heads in one (h*w, w)
        matrix; attn_out(concat_h(V_h p_h + b_v,h)) = sum_h (W_o,h V_h) p_h + W_o b_v + b_o, one
        (w, h*w) matrix. Same multiply-add count as the unfused form (2 w^2 each), two to four
        fewer operations per call, which is what a batch of one pays for.
        """
        weights = derived(self, "classifier", self._INFERENCE_SOURCES, self._fuse)
        return None if weights is None or has_forward_hooks(weights.modules) else weights

    def _fuse(self, reduce_w, reduce_b, wq, bq, wk, wv, bv, wo, bo, dense_w, dense_b, out_w, out_b):
        h, d = self.heads, self.head_dim
        w = h * d
        scale = 1.0 / math.sqrt(d)
        wk = wk.view(h, d, w)
        qk_w = torch.einsum("hdv,hdw->hvw", wk, wq.view(h, d, w)).reshape(h * w, w) * scale
        qk_b = torch.einsum("hdv,hd->hv", wk, bq.view(h, d)).reshape(h * w) * scale
        vo_w = torch.einsum("ohd,hdv->ohv", wo.view(w, h, d), wv.view(h, d, w)).reshape(w, h * w)
        vo_b = wo @ bv + bo
        return FusedClassifierWeights(reduce_w, reduce_b, qk_w, qk_b, vo_w, vo_b, dense_w, dense_b, out_w, out_b,
                                      tuple(self.children()))

    def _forward_fused(self, hidden: torch.Tensor, mask: torch.Tensor | None,
                       weights: FusedClassifierWeights) -> torch.Tensor:
        # Plain functions on the weights rather than the sub-modules' calls: at batch size 1
        # a module call's bookkeeping costs as much as its small matrix product.
        linear = nn.functional.linear
        reduce_w, reduce_b, qk_w, qk_b, vo_w, vo_b, dense_w, dense_b, out_w, out_b, _ = weights
        B = hidden.size(0)
        x = torch.tanh(linear(hidden, reduce_w, reduce_b))  # (B, T, w)
        u = linear(x[:, 0], qk_w, qk_b).view(B, self.heads, -1)  # scaled K_h^T q_h, (B, h, w)
        scores = torch.bmm(u, x.transpose(1, 2))  # (B, h, T)
        if mask is not None:
            scores = scores.masked_fill(mask[:, None, :] == 0, torch.finfo(scores.dtype).min)
        pooled = torch.bmm(scores.softmax(dim=-1), x).view(B, -1)  # per head sum_t a_t x_t
        cls = linear(pooled, vo_w, vo_b)  # (B, w)
        return linear(torch.tanh(linear(cls, dense_w, dense_b)), out_w, out_b)
