"""The per-layer classifier of the FastBERT paper (one shape for teacher and students)."""
from __future__ import annotations

import math

import torch
from torch import nn


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
