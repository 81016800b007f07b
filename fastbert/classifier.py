"""The per-layer classifier of the FastBERT paper (one shape for teacher and students)."""
from __future__ import annotations

import math

import torch
from torch import nn


class LayerClassifier(nn.Module):
    """Linear(hidden->w)+tanh, multi-head self-attention (w wide), [CLS] position,
    Linear(w->w)+tanh, Linear(w->N).

    Only the [CLS] position of the self-attention output is used, so only the [CLS] query is
    computed: attending from position 0 to every key gives exactly the [CLS] row of full
    self-attention, at O(T) instead of O(T^2) cost. FLOPs are counted on this computation.
    """

    def __init__(self, hidden_size: int, num_labels: int, width: int = 128, heads: int = 2):
        super().__init__()
        self.heads = heads
        self.head_dim = width // heads
        self.reduce = nn.Linear(hidden_size, width)
        self.query = nn.Linear(width, width)
        self.key = nn.Linear(width, width)
        self.value = nn.Linear(width, width)
        self.attn_out = nn.Linear(width, width)
        self.dense = nn.Linear(width, width)
        self.out = nn.Linear(width, num_labels)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """hidden (B, T, H), mask (B, T) with 1 for real tokens -> logits (B, N)."""
        B, T, _ = hidden.shape
        x = torch.tanh(self.reduce(hidden))  # (B, T, w)
        q = self.query(x[:, :1]).view(B, 1, self.heads, self.head_dim).transpose(1, 2)  # (B, h, 1, d)
        k = self.key(x).view(B, T, self.heads, self.head_dim).transpose(1, 2)  # (B, h, T, d)
        v = self.value(x).view(B, T, self.heads, self.head_dim).transpose(1, 2)  # (B, h, T, d)
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim)  # (B, h, 1, T)
        scores = scores.masked_fill(mask[:, None, None, :] == 0, torch.finfo(scores.dtype).min)
        ctx = torch.matmul(scores.softmax(dim=-1), v)  # (B, h, 1, d)
        cls = self.attn_out(ctx.transpose(1, 2).reshape(B, -1))  # (B, w)
        return self.out(torch.tanh(self.dense(cls)))  # (B, N)
