import math

import pytest
import torch

from fastbert import FastBertConfig, normalized_entropy
from fastbert.uncertainty import make_patience_criterion, max_prob_criterion, patience_from_speed


@pytest.mark.parametrize("kwargs, field", [
    (dict(backbone=""), "backbone"),
    (dict(labels=["only"]), "labels"),
    (dict(labels=["a", "a"]), "labels"),
    (dict(classifier_heads=3), "classifier_heads"),
    (dict(exit_criterion="coin"), "exit_criterion"),
    (dict(max_length=1), "max_length"),
])
def test_config_names_the_bad_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        FastBertConfig(**{"backbone": "x", **kwargs})


def test_config_round_trip(tmp_path):
    cfg = FastBertConfig(backbone="x", labels=["a", "b", "c"], max_length=64)
    cfg.save(tmp_path / "c.json")
    assert FastBertConfig.load(tmp_path / "c.json") == cfg


def test_normalized_entropy_matches_the_formula():
    p = torch.tensor([0.7, 0.2, 0.1])
    expected = sum(x * math.log(x) for x in p.tolist()) / math.log(1 / 3)
    assert normalized_entropy(p).item() == pytest.approx(expected, rel=1e-6)
    assert normalized_entropy(torch.tensor([1.0, 0.0])).item() == 0.0
    assert normalized_entropy(torch.full((4,), 0.25)).item() == pytest.approx(1.0)


def test_max_prob_criterion():
    probs = torch.tensor([[0.9, 0.1], [0.6, 0.4]])
    leave, _ = max_prob_criterion(probs, 0.5, 0, 6, None)
    assert leave.tolist() == [True, False]  # scores 0.2 and 0.8


def test_patience_counts_runs_of_the_same_label():
    crit = make_patience_criterion(2)
    a, b = torch.tensor([[0.9, 0.1], [0.1, 0.9]]), torch.tensor([[0.8, 0.2], [0.7, 0.3]])
    leave, state = crit(a, 0.5, 0, 6, None)
    assert leave.tolist() == [False, False]
    leave, state = crit(b, 0.5, 1, 6, state)
    assert leave.tolist() == [True, False]  # sample 0 kept label 0 twice; sample 1 switched
    assert patience_from_speed(0.0, 6) == 6 and patience_from_speed(1.0, 6) == 1


def test_import_fastbert_is_cheap_and_names_resolve_on_use():
    """`import fastbert` imports neither torch nor transformers; its names load on first use."""
    import subprocess
    import sys

    code = ("import sys, fastbert; heavy = [m for m in ('torch', 'transformers') if m in sys.modules]; "
            "print(heavy); from fastbert import FastBert, decide_exits; print(FastBert.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["[]", "FastBert"]
