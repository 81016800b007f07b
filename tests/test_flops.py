"""FLOPs accounting: fvcore counts, the exact polynomial, the paper's BERT-base figure."""
import pytest
import torch

from fastbert import speedup
from fastbert.flops import DENSE_OPS, MATMUL_OPS, Quadratic, bert_base_report, count_multiply_adds, layer_cost
from tiny import tiny_backbone_config


def test_polynomial_equals_direct_fvcore_counts(model):
    cfg = tiny_backbone_config()
    fitted = layer_cost(cfg)
    from fastbert.flops import _eager_single_layer

    eager = _eager_single_layer(cfg)
    for n in (1, 5, 23, 48):
        direct = 2 * count_multiply_adds(eager, (torch.zeros(1, n, cfg.hidden_size),))
        assert fitted(n) == direct
    clf = model.teacher
    for n in (3, 31):
        direct = 2 * count_multiply_adds(clf, (torch.zeros(1, n, cfg.hidden_size), torch.ones(1, n)))
        assert model.cost.classifier(n) == direct


def test_layer_flops_by_hand_for_tiny_bert():
    cfg = tiny_backbone_config()
    H, F, n = cfg.hidden_size, cfg.intermediate_size, 10
    dense = 4 * n * H * H + 2 * n * H * F  # Q, K, V, O and the two FFN matrices
    attention = 2 * n * n * H  # scores and context
    assert layer_cost(cfg)(n) == 2 * (dense + attention)
    assert layer_cost(cfg, ops=DENSE_OPS)(n) == 2 * dense
    assert set(DENSE_OPS) <= set(MATMUL_OPS)


def test_bert_base_matches_the_paper_within_one_percent():
    report = bert_base_report(128)
    assert abs(report["paper_convention_flops"] - 21785e6) / 21785e6 < 0.01
    assert report["full_flops"] == 12 * report["layer_flops"] + report["classifier_flops"]
    assert report["layer_flops"] > report["paper_convention_flops"] / 12  # attention products included


def test_quadratic_fit_is_exact():
    q = Quadratic.fit(lambda n: 7 + 3 * n + 2 * n * n)
    assert (q.a, q.b, q.c) == (7, 3, 2)


def test_speedup_is_one_formula():
    assert speedup(100.0, 25.0) == 4.0
    with pytest.raises(ValueError):
        speedup(1.0, 0.0)


def test_counting_leaves_the_fvcore_logger_level_alone():
    import logging

    logger = logging.getLogger("fvcore")
    before = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        count_multiply_adds(torch.nn.Linear(3, 2), (torch.zeros(1, 3),))
        assert logger.level == logging.DEBUG
    finally:
        logger.setLevel(before)
