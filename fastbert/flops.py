"""FLOPs accounting, counted with fvcore.

Convention: FLOPs = 2 x multiply-adds of every matrix product (linear layers and the
attention score and context products). Norms, softmax, activations and embedding lookups
are not counted. fvcore counts one per multiply-add and skips `scaled_dot_product_attention`,
so layers are traced with eager attention, where those products are plain matmuls.

The cost of a layer on n tokens is exactly a + b*n + c*n^2 (dense layers are linear in n,
attention products quadratic), so fvcore counts each module at three lengths and the
polynomial gives every other length exactly (a test checks it against direct counts).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

MATMUL_OPS = ("linear", "matmul", "bmm", "addmm", "baddbmm", "einsum", "mm")
DENSE_OPS = ("linear", "addmm", "mm")
_FIT_LENGTHS = (4, 8, 16)


def count_multiply_adds(module: nn.Module, inputs: tuple, ops=MATMUL_OPS) -> int:
    """fvcore's multiply-add count of `module(*inputs)`, restricted to `ops`."""
    from fvcore.nn import FlopCountAnalysis

    # fvcore's only notes (skipped operators, uncalled modules) are switched off on the analysis
    # itself, so no logger is touched.
    analysis = FlopCountAnalysis(module, inputs)
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    return int(sum(v for k, v in analysis.by_operator().items() if k in ops))


@dataclass(frozen=True)
class Quadratic:
    """FLOPs(n) = a + b*n + c*n^2 for a sequence of n tokens."""

    a: float
    b: float
    c: float

    def __call__(self, n):
        return self.a + self.b * n + self.c * n * n

    @classmethod
    def fit(cls, count) -> "Quadratic":
        n = torch.tensor(_FIT_LENGTHS, dtype=torch.float64)
        y = torch.tensor([float(count(int(k))) for k in _FIT_LENGTHS], dtype=torch.float64)
        vander = torch.stack([torch.ones_like(n), n, n * n], dim=1)
        a, b, c = torch.linalg.solve(vander, y).tolist()
        return cls(round(a), round(b), round(c))


@dataclass(frozen=True)
class CostModel:
    """Per-sample FLOPs of one transformer layer and one classifier, as functions of length."""

    layer: Quadratic
    classifier: Quadratic
    num_layers: int

    def full_flops(self, n):
        """What the plain model (all layers + the teacher classifier) spends on n tokens."""
        return self.num_layers * self.layer(n) + self.classifier(n)

    def spent_flops(self, n, exit_layer):
        """FastBERT's cost for a sample of n tokens that exits at `exit_layer` (1-based):
        every layer it ran plus that layer's classifier."""
        return exit_layer * (self.layer(n) + self.classifier(n))


def _eager_single_layer(backbone_config):
    cfg = copy.deepcopy(backbone_config)
    cfg.num_hidden_layers = 1
    cfg._attn_implementation = "eager"
    from transformers import AutoModel

    model = AutoModel.from_config(cfg, attn_implementation="eager", add_pooling_layer=False,
                                  trust_remote_code=False)
    return model.encoder.layer[0].eval()


def layer_cost(backbone_config, ops=MATMUL_OPS) -> Quadratic:
    """FLOPs of one encoder layer (all layers of an encoder are the same shape)."""
    layer = _eager_single_layer(backbone_config)
    hidden = backbone_config.hidden_size
    with torch.no_grad():
        return Quadratic.fit(lambda n: 2 * count_multiply_adds(layer, (torch.zeros(1, n, hidden),), ops))


def classifier_cost(classifier: nn.Module, hidden_size: int) -> Quadratic:
    with torch.no_grad():
        classifier(torch.zeros(1, 1, hidden_size), None)  # inference's fused weights: made once, not per call
        return Quadratic.fit(lambda n: 2 * count_multiply_adds(
            classifier, (torch.zeros(1, n, hidden_size), torch.ones(1, n))))


def build_cost_model(backbone_config, classifier: nn.Module, num_layers: int) -> CostModel:
    key = (backbone_config.to_json_string(use_diff=False), repr(classifier))
    return _cached_cost_model(key, backbone_config, classifier, num_layers)


_CACHE: dict = {}


def _cached_cost_model(key, backbone_config, classifier, num_layers) -> CostModel:
    # Counting traces modules; the cost only depends on shapes, so it is done once per shape.
    if key not in _CACHE:
        _CACHE[key] = CostModel(layer_cost(backbone_config),
                                classifier_cost(copy.deepcopy(classifier).float(), backbone_config.hidden_size),
                                num_layers)
    return _CACHE[key]


def bert_base_report(seq_len: int = 128, classifier_width: int = 128, classifier_heads: int = 2,
                     num_labels: int = 2) -> dict:
    """FLOPs of a BERT-base-sized FastBERT at `seq_len` tokens, in both conventions.

    The paper's figure (21785M at 128 tokens) counts dense layers only.
    """
    from transformers import BertConfig

    from .classifier import LayerClassifier

    cfg = BertConfig(vocab_size=100)  # vocabulary size does not change any matrix product
    clf = LayerClassifier(cfg.hidden_size, num_labels, classifier_width, classifier_heads)
    cost = build_cost_model(cfg, clf, cfg.num_hidden_layers)
    dense_layer = layer_cost(cfg, ops=DENSE_OPS)
    paper = 21785e6
    dense_total = cfg.num_hidden_layers * dense_layer(seq_len)
    return {
        "model": "bert-base (12 layers, hidden 768, 12 heads, FFN 3072)",
        "seq_len": seq_len,
        "convention": "FLOPs = 2 x multiply-adds of all matrix products, attention products included",
        "layer_flops": cost.layer(seq_len),
        "classifier_flops": cost.classifier(seq_len),
        "full_flops": cost.full_flops(seq_len),
        "paper_convention_flops": dense_total,
        "paper_convention": "2 x multiply-adds of the dense layers of the 12 encoder layers",
        "paper_figure": paper,
        "paper_relative_difference": (dense_total - paper) / paper,
    }
