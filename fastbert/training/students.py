"""Students for distillation from a FastBERT teacher, each with a pseudo-classifier per layer.

- `bert_student(teacher, layers)`: a FastBERT of fewer layers, its embeddings and layers
  copied from chosen teacher layers; its per-layer FastBERT classifiers are the pseudo-
  classifiers, so it saves, loads and exits early like any FastBERT model.
- `BiLSTMStudent` and `GatedCNNStudent`: other architectures (Universal-KD's CA setting) on
  the teacher's WordPiece ids, with a `PooledClassifier` on every layer.

Every student's `forward(input_ids, attention_mask, token_type_ids, heads="all")` returns a
`FastBertOutput` whose `layer_logits` (M, B, C) holds every pseudo-classifier, the last being
the student's output.
"""
from __future__ import annotations

import copy
from functools import cached_property
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..backbone import LayerwiseEncoder
from ..flops import MATMUL_OPS, Quadratic, count_multiply_adds
from ..model import FastBert
from ..outputs import FastBertOutput
from .distill_options import STUDENT_KINDS

__all__ = ["STUDENT_KINDS", "BiLSTMStudent", "GatedCNNStudent", "bert_student", "count_parameters",
           "sequence_student"]


def bert_student(teacher: FastBert, layers: Sequence[int], copy_classifiers: bool = True) -> FastBert:
    """A FastBERT of len(layers) layers: teacher embeddings + teacher layers `layers` (1-based).

    copy_classifiers=True starts each student layer's classifier from the teacher's classifier
    of the layer it was copied from. Returned in eval mode (like `FastBert.from_pretrained`).

    Example:
        >>> student = bert_student(teacher, [1, 6])          # doctest: +SKIP
        >>> student.num_layers
        2
    """
    layers = list(layers)
    if not layers or any(not 1 <= k <= teacher.num_layers for k in layers):
        raise ValueError(f"layers: 1-based teacher layers in 1..{teacher.num_layers}, got {layers}")
    bb_config = copy.deepcopy(teacher.encoder.config)
    bb_config.num_hidden_layers = len(layers)
    encoder = LayerwiseEncoder.from_config(bb_config)
    config = copy.deepcopy(teacher.config)
    # The teacher's calibration (one temperature per teacher layer, its speed curve) describes
    # the teacher; a student is a new model, uncalibrated until `calibrate` is run on it.
    config.temperatures, config.calibration_curve = None, None
    student = FastBert(config, encoder, teacher.tokenizer)
    src = teacher.encoder.model
    dst = student.encoder.model
    dst.embeddings.load_state_dict(src.embeddings.state_dict())
    for j, k in enumerate(layers):
        dst.encoder.layer[j].load_state_dict(src.encoder.layer[k - 1].state_dict())
        if copy_classifiers:
            student.classifiers[j].load_state_dict(teacher.classifiers[k - 1].state_dict())
    return student.to(teacher.device).eval()


class PooledClassifier(nn.Module):
    """Pseudo-classifier of a recurrent/convolutional layer: max over real tokens, then
    Linear+tanh, Linear. hidden (B, T, H), mask (B, T) -> logits (B, C)."""

    def __init__(self, hidden_size: int, num_labels: int, width: int = 128):
        super().__init__()
        self.dense = nn.Linear(hidden_size, width)
        self.out = nn.Linear(width, num_labels)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        pooled = hidden.masked_fill(mask[..., None] == 0, torch.finfo(hidden.dtype).min).amax(1)  # (B, H)
        return self.out(torch.tanh(self.dense(pooled)))


class BiLSTMLayer(nn.Module):
    """One bidirectional LSTM layer; padded positions never reach the backward direction."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, batch_first=True, bidirectional=True)
        self.output_size = 2 * hidden_size

    def forward(self, x: torch.Tensor, mask: torch.Tensor, unrolled: bool = False) -> torch.Tensor:
        """x (B, T, I), mask (B, T) -> (B, T, 2h). unrolled=True runs `reference` (for FLOPs)."""
        if unrolled:
            return self.reference(x)
        lengths = mask.sum(1).clamp_min(1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.size(1))
        return out

    def reference(self, x: torch.Tensor) -> torch.Tensor:
        """The same LSTM as explicit matrix products, step by step, for unpadded input.

        fvcore has no counter for `aten::lstm`; traced through this function it counts the
        LSTM's matrix products as linear ops (a test checks both give the same output).
        """
        outs = []
        for suffix, steps in (("", range(x.size(1))), ("_reverse", range(x.size(1) - 1, -1, -1))):
            w_ih, w_hh = getattr(self.lstm, f"weight_ih_l0{suffix}"), getattr(self.lstm, f"weight_hh_l0{suffix}")
            b = getattr(self.lstm, f"bias_ih_l0{suffix}") + getattr(self.lstm, f"bias_hh_l0{suffix}")
            gates_x = F.linear(x, w_ih, b)  # (B, T, 4h): the input part of every step at once
            h = x.new_zeros(x.size(0), w_hh.size(1))
            c = torch.zeros_like(h)
            seq = [None] * x.size(1)
            for t in steps:
                i, f, g, o = (gates_x[:, t] + F.linear(h, w_hh)).chunk(4, dim=-1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
                seq[t] = h
            outs.append(torch.stack(seq, dim=1))
        return torch.cat(outs, dim=-1)


class GatedConvLayer(nn.Module):
    """Gated convolution (Dauphin et al., 2017): (A, B) = conv(x), A * sigmoid(B), with a
    residual connection when widths match and LayerNorm; padded positions are zeroed first."""

    def __init__(self, input_size: int, width: int, kernel_size: int = 3, dropout: float = 0.1):
        super().__init__()
        self.conv = nn.Conv1d(input_size, 2 * width, kernel_size, padding=kernel_size // 2)
        self.norm = nn.LayerNorm(width)
        self.dropout = nn.Dropout(dropout)
        self.residual = input_size == width
        self.output_size = width

    def forward(self, x: torch.Tensor, mask: torch.Tensor, unrolled: bool = False) -> torch.Tensor:
        x = x * mask[..., None].to(x.dtype)
        a, b = self.conv(x.transpose(1, 2)).transpose(1, 2).chunk(2, dim=-1)  # (B, T, w) each
        y = self.dropout(a * torch.sigmoid(b))
        return self.norm(x + y if self.residual else y)


class SequenceStudent(nn.Module):
    """Word embeddings, a stack of layers, and a `PooledClassifier` on each layer."""

    kind = ""

    def __init__(self, layers: nn.ModuleList, embeddings: nn.Embedding, num_labels: int,
                 classifier_width: int = 128, dropout: float = 0.1):
        super().__init__()
        self.embeddings = embeddings
        self.dropout = nn.Dropout(dropout)
        self.layers = layers
        self.classifiers = nn.ModuleList(PooledClassifier(layer.output_size, num_labels, classifier_width)
                                         for layer in layers)

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def hidden_states(self, input_ids, attention_mask, unrolled: bool = False) -> list[torch.Tensor]:
        """Output of every layer: M tensors (B, T, H_j)."""
        hidden = self.dropout(self.embeddings(input_ids))
        states = []
        for layer in self.layers:
            hidden = layer(hidden, attention_mask, unrolled=unrolled)
            states.append(hidden)
        return states

    def forward(self, input_ids, attention_mask, token_type_ids=None, heads: str = "all") -> FastBertOutput:
        """heads="all": (M, B, C) logits of every layer's pseudo-classifier in `layer_logits`;
        heads="teacher": only the last layer's (the student's output), as for FastBert."""
        states = self.hidden_states(input_ids, attention_mask)
        if heads == "teacher":
            return FastBertOutput(teacher_logits=self.classifiers[-1](states[-1], attention_mask))
        if heads != "all":
            raise ValueError(f"heads must be 'teacher' or 'all', got {heads!r}")
        logits = torch.stack([clf(h, attention_mask) for clf, h in zip(self.classifiers, states)])
        return FastBertOutput(teacher_logits=logits[-1], layer_logits=logits)

    @cached_property
    def flops(self) -> Quadratic:
        """FLOPs of the inference path (every layer, the last classifier) on n tokens,
        fvcore-counted as 2 x multiply-adds of matrix products and convolutions; embedding
        lookups are not counted, as for the transformer models."""
        return Quadratic.fit(lambda n: 2 * count_multiply_adds(
            _InferencePath(self).eval(), (torch.zeros(1, n, self.embeddings.embedding_dim), torch.ones(1, n)),
            ops=MATMUL_OPS + ("conv",)))

    def full_flops(self, n):
        """FLOPs per sample of n tokens (the name FastBert's cost model uses)."""
        return self.flops(n)


class _InferencePath(nn.Module):
    """Embedded tokens -> output logits, with LSTMs as explicit products (for counting)."""

    def __init__(self, student: SequenceStudent):
        super().__init__()
        self.layers = copy.deepcopy(student.layers).float().cpu()
        self.classifier = copy.deepcopy(student.classifiers[-1]).float().cpu()

    @torch.no_grad()
    def forward(self, embedded, mask):
        hidden = embedded
        for layer in self.layers:
            hidden = layer(hidden, mask, unrolled=True)
        return self.classifier(hidden, mask)


class BiLSTMStudent(SequenceStudent):
    """Stacked BiLSTM layers of `hidden_size` per direction.

    Example:
        >>> s = BiLSTMStudent(nn.Embedding(99, 16), num_labels=2, hidden_size=8, num_layers=2)
        >>> s(torch.tensor([[2, 5, 3]]), torch.ones(1, 3)).layer_logits.shape
        torch.Size([2, 1, 2])
    """

    kind = "bilstm"

    def __init__(self, embeddings: nn.Embedding, num_labels: int, hidden_size: int = 128,
                 num_layers: int = 3, classifier_width: int = 128, dropout: float = 0.1):
        sizes = [embeddings.embedding_dim] + [2 * hidden_size] * num_layers
        layers = nn.ModuleList(BiLSTMLayer(sizes[k], hidden_size) for k in range(num_layers))
        super().__init__(layers, embeddings, num_labels, classifier_width, dropout)


class GatedCNNStudent(SequenceStudent):
    """Stacked gated convolutions of `width` channels.

    Example:
        >>> s = GatedCNNStudent(nn.Embedding(99, 16), num_labels=2, width=8, num_layers=3)
        >>> s(torch.tensor([[2, 5, 3]]), torch.ones(1, 3)).layer_logits.shape
        torch.Size([3, 1, 2])
    """

    kind = "gated-cnn"

    def __init__(self, embeddings: nn.Embedding, num_labels: int, width: int = 256, num_layers: int = 3,
                 kernel_size: int = 3, classifier_width: int = 128, dropout: float = 0.1):
        sizes = [embeddings.embedding_dim] + [width] * num_layers
        layers = nn.ModuleList(GatedConvLayer(sizes[k], width, kernel_size, dropout) for k in range(num_layers))
        super().__init__(layers, embeddings, num_labels, classifier_width, dropout)


def teacher_embeddings(teacher: FastBert, trainable: bool = False) -> nn.Embedding:
    """A copy of the teacher's word embeddings (frozen unless `trainable`)."""
    weight = teacher.encoder.model.embeddings.word_embeddings.weight.detach().clone()
    emb = nn.Embedding.from_pretrained(weight, freeze=not trainable,
                                       padding_idx=teacher.tokenizer.pad_token_id)
    return emb


def sequence_student(teacher: FastBert, kind: str, num_layers: int = 3, width: int = 256,
                     embeddings: str = "teacher", seed: int = 0) -> SequenceStudent:
    """A BiLSTM (`width` = both directions together) or gated-CNN student on the teacher's
    vocabulary, in eval mode like `bert_student`. embeddings: "teacher" (frozen copy), "teacher-trainable", or "random"
    (trained, of the teacher's embedding width)."""
    torch.manual_seed(seed)
    if embeddings in ("teacher", "teacher-trainable"):
        emb = teacher_embeddings(teacher, trainable=embeddings == "teacher-trainable")
    elif embeddings == "random":
        vocab, dim = teacher.encoder.model.embeddings.word_embeddings.weight.shape
        emb = nn.Embedding(vocab, dim, padding_idx=teacher.tokenizer.pad_token_id)
    else:
        raise ValueError(f"embeddings: 'teacher', 'teacher-trainable' or 'random', got {embeddings!r}")
    C = teacher.config.num_labels
    if kind == "bilstm":
        if width % 2:
            raise ValueError(f"width: a BiLSTM needs an even width (two directions), got {width}")
        return BiLSTMStudent(emb, C, hidden_size=width // 2, num_layers=num_layers).to(teacher.device).eval()
    if kind == "gated-cnn":
        return GatedCNNStudent(emb, C, width=width, num_layers=num_layers).to(teacher.device).eval()
    raise ValueError(f"kind: 'bilstm' or 'gated-cnn', got {kind!r}")


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
