"""Adaptive inference: batching, speed 0, monotonicity, shrinking batches."""
import logging

import pytest
import torch

from fastbert import decide_exits, get_criterion
from tiny import tiny_model

SPEEDS = [0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0]


def _same(a, b):
    assert [p.label for p in a] == [p.label for p in b]
    assert [p.exit_layer for p in a] == [p.exit_layer for p in b]
    for x, y in zip(a, b):
        assert x.probs == pytest.approx(y.probs, abs=1e-5)
        assert x.uncertainties == pytest.approx(y.uncertainties, abs=1e-5)
        assert x.flops == y.flops


@pytest.mark.parametrize("speed", SPEEDS)
def test_batched_equals_one_at_a_time(model, texts, speed):
    batched = model.predict(texts, speed=speed, batch_size=4)
    single = [model.predict(t, speed=speed)[0] for t in texts]
    _same(batched, single)


def test_results_are_in_input_order(model, texts):
    preds = model.predict(texts, speed=0.4, batch_size=3)
    assert [p.text for p in preds] == texts


def test_speed_zero_runs_every_layer_and_equals_full_model(model, texts):
    preds = model.predict(texts, speed=0.0)
    assert {p.exit_layer for p in preds} == {model.num_layers}
    assert all(len(p.uncertainties) == model.num_layers for p in preds)
    enc = model.tokenize(texts)
    full = []
    for r in range(len(texts)):
        ids, mask, types = model.collate(enc, [r])
        with torch.no_grad():
            full.append(model(ids, mask, types, heads="teacher").teacher_logits.softmax(-1)[0])
    for p, f in zip(preds, full):
        assert p.probs == pytest.approx(f.tolist(), abs=1e-5)


def test_exit_layer_never_increases_with_speed(model, texts):
    for criterion in ("entropy", "max_prob", "patience"):
        crit = get_criterion(criterion)
        exits = [[p.exit_layer for p in model.predict(texts, speed=s, criterion=crit)] for s in SPEEDS]
        for lower, higher in zip(exits, exits[1:]):
            assert all(h <= l for l, h in zip(lower, higher)), criterion


def test_exits_vary_so_the_other_tests_mean_something(model, texts):
    exits = {p.exit_layer for s in SPEEDS for p in model.predict(texts, speed=s)}
    assert len(exits) >= 2


@pytest.mark.parametrize("speed", SPEEDS)
def test_compute_all_keeps_the_decision(model, texts, speed):
    plain = model.predict(texts, speed=speed, batch_size=4)
    full = model.predict(texts, speed=speed, batch_size=4, compute_all=True)
    _same(plain, full)
    for p in full:
        assert len(p.all_uncertainties) == model.num_layers
        assert p.all_uncertainties[: p.exit_layer] == pytest.approx(p.uncertainties, abs=1e-5)


def test_decide_exits_matches_adaptive_run(model, texts):
    preds = model.predict(texts, speed=0.0, compute_all=True)
    layer_probs = torch.tensor([p.all_layer_probs for p in preds]).transpose(0, 1)  # (L, B, C)
    crit = get_criterion("entropy")
    for s in SPEEDS:
        adaptive = [p.exit_layer for p in model.predict(texts, speed=s)]
        assert decide_exits(layer_probs, s, crit).tolist() == adaptive


def test_exited_samples_leave_the_batch(model, texts, monkeypatch):
    """Shrinking batches: a layer only sees the samples that have not exited yet, cut to
    their longest real sequence."""
    seen = []
    original = model.encoder.run_layer

    def spy(index, hidden, mask, layer_mask=None):
        seen.append((index, hidden.shape[0], hidden.shape[1], int(mask.sum(1).max())))
        return original(index, hidden, mask, layer_mask)

    monkeypatch.setattr(model.encoder, "run_layer", spy)
    speed = 0.9
    preds = model.predict(texts, speed=speed, batch_size=len(texts))
    for index, rows, width, longest in seen:
        assert rows == sum(p.exit_layer > index for p in preds)
        assert width == longest  # no all-padding columns
    assert seen[0][1] > seen[-1][1]


def remembering_criterion(probs, speed, layer, num_layers, state):
    """A stateful test criterion: at layer 1 the samples least sure of class 0 leave, the rest
    remember p(class 0); at layer 2 they leave if what they remember is high. A state that
    reached the wrong rows would change the second decision."""
    if state is None:
        return probs[:, 0] < 0.285, probs[:, 0]
    return state > 0.293, state


# (criterion, speed) pairs at which the tiny model's exits are mixed
@pytest.mark.parametrize("batch_size", [2, 3])
@pytest.mark.parametrize("criterion,speed", [("entropy", 0.9), (remembering_criterion, 0.0)])
def test_survivors_of_several_batches_are_regrouped(model, texts, monkeypatch, criterion, speed, batch_size):
    """After a layer, the samples left in all batches run the next layer as full batches, and
    the results stay those of one text at a time (a criterion's state travels with its rows)."""
    seen = []
    original = model.encoder.run_layer

    def spy(index, hidden, mask, layer_mask=None):
        seen.append((index, hidden.shape[0], hidden.shape[1], int(mask.sum(1).max())))
        return original(index, hidden, mask, layer_mask)

    crit = get_criterion(criterion) if isinstance(criterion, str) else criterion
    single = [model.predict(t, speed=speed, criterion=crit)[0] for t in texts]
    monkeypatch.setattr(model.encoder, "run_layer", spy)
    bs = batch_size
    batched = model.predict(texts, speed=speed, batch_size=bs, criterion=crit)
    _same(batched, single)
    for index in range(model.num_layers):
        running = sum(p.exit_layer > index for p in batched)
        sizes = [rows for i, rows, _, _ in seen if i == index]
        assert sum(sizes) == running
        assert len(sizes) == -(-running // bs)  # as few batches as the survivors need
    assert all(width == longest for _, _, width, longest in seen)
    exits = [p.exit_layer for p in batched]
    assert len(set(exits)) == 3 if criterion is remembering_criterion else len(set(exits)) == 2


def test_flops_follow_exit_layer_and_length(model, texts):
    for p in model.predict(texts, speed=0.5):
        cost = model.cost
        assert p.flops == pytest.approx(p.exit_layer * (cost.layer(p.num_tokens) + cost.classifier(p.num_tokens)))
        assert p.full_flops == pytest.approx(model.num_layers * cost.layer(p.num_tokens) + cost.classifier(p.num_tokens))
        a, c, L = cost.layer(p.num_tokens), cost.classifier(p.num_tokens), model.num_layers
        # the ratio computed here from the cost model, not from the prediction's own fields
        assert p.speedup == pytest.approx((L * a + c) / (p.exit_layer * (a + c)))
    # Equal lengths: an earlier exit is a larger speedup; a sample that runs every layer pays
    # for every classifier, so its "speedup" is below 1.
    same = model.predict(["fun"] * 2, speed=0.0) + model.predict(["fun"], speed=1.0)
    assert same[0].exit_layer == model.num_layers and same[0].speedup < 1
    assert same[2].exit_layer == 1 and same[2].speedup > same[0].speedup


def test_sentence_pairs_use_segment_ids(model):
    pair = model.predict(("good film", "bad plot"), speed=0.0)[0]
    joined = model.predict("good film bad plot", speed=0.0)[0]
    assert pair.num_tokens == joined.num_tokens + 1  # one more [SEP]
    assert pair.probs != pytest.approx(joined.probs, abs=1e-6)
    with pytest.raises(ValueError, match="mix"):
        model.predict(["good", ("a", "b")])


def test_long_text_is_truncated_and_reported(model):
    p = model.predict(" ".join(["good"] * 200), speed=0.5)[0]
    assert p.num_tokens == model.config.max_length
    assert p.input_tokens == 202 and p.truncated
    # Counting the untruncated tokens does not make transformers warn of "indexing errors" (it
    # warns once per tokenizer, for texts longer than the tokenizer's own maximum).
    messages = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    hf_logger = logging.getLogger("transformers")
    hf_logger.addHandler(handler)
    try:
        model.tokenizer.model_max_length = model.config.max_length
        model.tokenizer.deprecation_warnings.clear()
        model.predict(" ".join(["good"] * 200), speed=0.5)
    finally:
        hf_logger.removeHandler(handler)
    assert not any("indexing errors" in m for m in messages), messages


def test_bad_arguments(model):
    with pytest.raises(ValueError, match="speed"):
        model.predict("good", speed=1.5)
    with pytest.raises(ValueError, match="batch_size"):
        model.predict("good", batch_size=0)
    assert model.predict([]) == []


def test_roberta_backbone(tmp_path, texts):
    rob = tiny_model(tmp_path, model_type="roberta")
    batched = rob.predict(texts, speed=0.5, batch_size=4)
    single = [rob.predict(t, speed=0.5)[0] for t in texts]
    _same(batched, single)
    assert {p.exit_layer for p in rob.predict(texts, speed=0.0)} == {rob.num_layers}


def test_trace_is_a_record_whose_chunks_cover_every_row_once(model, texts):
    from fastbert.inference import Trace

    run = model.trace(texts, speed=0.5, batch_size=2)
    assert isinstance(run, Trace) and len(run.encodings["input_ids"]) == len(texts)
    assert sorted(r for rows in run.chunks for r in rows) == list(range(len(texts)))
    assert [len(rows) for rows in run.chunks] == [b.exit_layer.numel() for b in run.batches]
