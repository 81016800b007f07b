"""fastbert.evaluate.outcome_at: one decision over an all-layers pass equals adaptive inference."""
import pytest
import torch

from fastbert.data import TextDataset
from fastbert.evaluate import all_layer_outputs, evaluate, outcome_at, sweep


@pytest.mark.parametrize("speed", [0.0, 0.3, 0.6, 1.0])
def test_outcome_at_equals_adaptive_predict(model, texts, speed):
    data = TextDataset(texts, ["positive", "negative"] * 4 + ["positive"])
    outputs = all_layer_outputs(model, data, batch_size=4)
    got = outcome_at(model, outputs, speed)
    preds = model.predict(texts, speed=speed, batch_size=4)
    assert got.exit_layer.tolist() == [p.exit_layer for p in preds]
    assert got.label_id.tolist() == [p.label_id for p in preds]
    assert got.flops.tolist() == pytest.approx([p.flops for p in preds])
    assert got.full_flops.tolist() == pytest.approx([p.full_flops for p in preds])
    assert torch.allclose(got.probs, torch.tensor([p.probs for p in preds]), atol=1e-5)
    assert got.uncertainty.tolist() == pytest.approx([p.uncertainties[-1] for p in preds], abs=1e-5)
    summary = got.summary(outputs.labels, model.num_layers)
    ref = evaluate(model, data, speed, batch_size=4)
    assert (summary.exit_histogram, summary.mean_exit_layer) == (ref.exit_histogram, ref.mean_exit_layer)
    assert summary.accuracy == pytest.approx(ref.accuracy)
    assert summary.flops_speedup == pytest.approx(ref.flops_speedup)
    assert sweep(model, outputs, [speed])[0] == summary


def test_outcome_at_is_monotone_in_speed(model, texts):
    outputs = all_layer_outputs(model, TextDataset(texts), batch_size=4)
    exits = torch.stack([outcome_at(model, outputs, s / 10).exit_layer for s in range(11)])
    assert (exits[1:] <= exits[:-1]).all() and (exits[0] == model.num_layers).all()
