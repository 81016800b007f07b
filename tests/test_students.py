"""Students: BERT-style from teacher layers, BiLSTM and gated CNN with per-layer pseudo-classifiers."""
import copy

import pytest
import torch
from torch import nn

from fastbert import FastBert
from fastbert.training.students import (BiLSTMStudent, GatedCNNStudent, bert_student, count_parameters,
                               sequence_student)

E, C = 16, 3


def _students():
    torch.manual_seed(0)
    return [BiLSTMStudent(nn.Embedding(99, E, padding_idx=0), C, hidden_size=6, num_layers=3).eval(),
            GatedCNNStudent(nn.Embedding(99, E, padding_idx=0), C, width=10, num_layers=3, kernel_size=3).eval()]


def _batch():
    ids = torch.tensor([[2, 7, 8, 9, 3], [2, 11, 3, 0, 0], [2, 5, 6, 12, 3]])
    return ids, (ids != 0).long()


@pytest.mark.parametrize("student", _students(), ids=["bilstm", "gated-cnn"])
def test_forward_shapes_and_per_layer_outputs(student):
    ids, mask = _batch()
    out = student(ids, mask)
    assert out.layer_logits.shape == (3, 3, C)
    assert torch.equal(out.teacher_logits, out.layer_logits[-1])
    assert torch.allclose(student(ids, mask, heads="teacher").teacher_logits, out.layer_logits[-1])
    states = student.hidden_states(ids, mask)
    assert [tuple(h.shape) for h in states] == [(3, 5, layer.output_size) for layer in student.layers]
    # Each layer's logits come from its own pseudo-classifier on that layer's output.
    for j, (clf, h) in enumerate(zip(student.classifiers, states)):
        assert torch.allclose(clf(h, mask), out.layer_logits[j])


@pytest.mark.parametrize("student", _students(), ids=["bilstm", "gated-cnn"])
def test_padding_does_not_change_a_sample(student):
    ids, mask = _batch()
    batched = student(ids, mask).layer_logits[:, 1]
    alone = student(ids[1:2, :3], mask[1:2, :3]).layer_logits[:, 0]
    assert torch.allclose(batched, alone, atol=1e-5)


def test_unrolled_lstm_is_the_same_computation():
    student = _students()[0]
    x = torch.randn(2, 7, E)
    layer = student.layers[0]
    assert torch.allclose(layer(x, torch.ones(2, 7)), layer.reference(x), atol=1e-5)


def test_flops_by_hand():
    bilstm, cnn = _students()
    n, h, w, k, cw = 11, 6, 10, 3, 128
    head = lambda H: H * cw + cw * C  # noqa: E731 - the last pseudo-classifier (max-pool, 2 linears)
    # Per token and direction, an LSTM layer multiplies 4h x (input + h).
    lstm = sum(2 * 4 * h * (i + h) for i in (E, 2 * h, 2 * h))
    assert bilstm.full_flops(n) == 2 * (n * lstm + head(2 * h))
    conv = sum(2 * w * i * k for i in (E, w, w))
    assert cnn.full_flops(n) == 2 * (n * conv + head(w))


def test_bert_student_copies_the_chosen_teacher_layers(model, texts, tmp_path):
    student = bert_student(model, [1, 3])
    assert student.num_layers == 2 and model.num_layers == 3
    tl, sl = model.encoder.model.encoder.layer, student.encoder.model.encoder.layer
    for a, b in ((tl[0], sl[0]), (tl[2], sl[1])):
        assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert torch.equal(student.classifiers[1].out.weight, model.classifiers[2].out.weight)
    enc = model.tokenize(texts)
    ids, mask, types = model.collate(enc, list(range(len(texts))))
    with torch.no_grad():
        # Layer 1 is the teacher's layer 1 on the same embeddings: same output, same classifier.
        assert torch.allclose(student(ids, mask, types).layer_logits[0], model(ids, mask, types).layer_logits[0],
                              atol=1e-5)
    assert count_parameters(student) < count_parameters(model)
    assert student.cost.full_flops(10) == pytest.approx(2 * student.cost.layer(10) + student.cost.classifier(10))
    # It is a FastBERT model: saves, loads and exits early.
    student.save_pretrained(tmp_path / "s")
    loaded = FastBert.from_pretrained(tmp_path / "s")
    a, b = student.predict(texts, speed=0.5), loaded.predict(texts, speed=0.5)
    assert [p.exit_layer for p in a] == [p.exit_layer for p in b]
    assert torch.allclose(torch.tensor([p.probs for p in a]), torch.tensor([p.probs for p in b]), atol=1e-5)
    with pytest.raises(ValueError, match="layers"):
        bert_student(model, [0, 4])


def test_sequence_student_uses_the_teacher_vocabulary(model):
    s = sequence_student(model, "bilstm", num_layers=2, width=8)
    assert torch.equal(s.embeddings.weight, model.encoder.model.embeddings.word_embeddings.weight)
    assert not s.embeddings.weight.requires_grad
    assert sequence_student(model, "gated-cnn", embeddings="teacher-trainable").embeddings.weight.requires_grad
    with pytest.raises(ValueError, match="kind"):
        sequence_student(model, "transformer")


def test_bert_student_of_a_calibrated_teacher_starts_uncalibrated(model, texts):
    teacher = copy.deepcopy(model)
    teacher.config.temperatures = [1.5] * teacher.num_layers
    teacher.config.calibration_curve = "calibration.json"
    student = bert_student(teacher, [1, 2])  # 2 layers: the teacher's 3 temperatures would not fit
    assert student.config.temperatures is None and student.config.calibration_curve is None
    assert teacher.config.temperatures == [1.5] * 3
    assert len(student.predict(texts, speed=0.5)) == len(texts)
