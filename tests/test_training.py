"""The training loop and its losses."""
import math

import pytest
import torch

from fastbert.data import TextDataset
from fastbert.training.losses import classification_loss, joint_classification_loss, self_distillation_loss
from fastbert.training import TrainConfig, length_grouped_batches, train
from tiny import tiny_model


def test_kl_directions_match_the_formulas():
    s = torch.tensor([[[2.0, 0.0]], [[0.0, 1.0]]])  # (S=2, B=1, C=2)
    t = torch.tensor([[1.0, -1.0]])
    ps, pt = s.softmax(-1), t.softmax(-1)
    paper = sum((ps[i, 0] * (ps[i, 0] / pt[0]).log()).sum() for i in range(2))
    code = sum((pt[0] * (pt[0] / ps[i, 0]).log()).sum() for i in range(2))
    assert self_distillation_loss(s, t, "student_teacher").item() == pytest.approx(paper.item(), rel=1e-6)
    assert self_distillation_loss(s, t, "teacher_student").item() == pytest.approx(code.item(), rel=1e-6)
    assert self_distillation_loss(t.expand(3, 1, 2), t).item() == pytest.approx(0.0, abs=1e-7)


def test_joint_loss_is_the_sum_of_layer_cross_entropies():
    logits = torch.randn(3, 4, 2, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 1, 1, 0])
    expected = sum(classification_loss(logits[i], labels) for i in range(3))
    assert joint_classification_loss(logits, labels).item() == pytest.approx(expected.item(), rel=1e-6)


def _data(n=64):
    pos = ["good film", "great story", "loved the music", "fine cast really", "fun movie"]
    neg = ["bad film", "awful plot", "hated the ending", "boring actors", "dull story"]
    texts = [(pos if i % 2 else neg)[i % 5] for i in range(n)]
    return TextDataset(texts, [str(i % 2) for i in range(n)], "toy")


def _loss(model, data, stage):
    from fastbert.training import stage_loss

    enc = model.tokenize(data.texts)
    ids, mask, types = model.collate(enc, list(range(len(data))))
    labels = torch.tensor(data.label_ids(model.config.labels))
    model.eval()
    with torch.no_grad():
        return stage_loss(model, stage, {"ids": ids, "mask": mask, "types": types, "labels": labels}).item()


@pytest.mark.parametrize("stage", ["finetune", "joint", "distill"])
def test_training_lowers_the_stage_loss(tmp_path, stage):
    model = tiny_model(tmp_path)
    data = _data()
    before = _loss(model, data, stage)
    log = train(model, TrainConfig(stage=stage, epochs=3, lr=3e-3, batch_size=16, progress=False,
                                   warmup_ratio=0.0), data, dev=data)
    assert _loss(model, data, stage) < before
    assert len(log) == 3 and {"dev_acc@0", "flops@0.5", "speedup@0.5"} <= set(log[-1])


def test_distillation_only_changes_the_students(tmp_path):
    model = tiny_model(tmp_path)
    frozen = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("classifiers.")}
    teacher = {k: v.clone() for k, v in model.teacher.state_dict().items()}
    student0 = model.classifiers[0].out.weight.clone()
    data = TextDataset(_data().texts, None, "unlabeled")  # no labels needed
    train(model, TrainConfig(stage="distill", epochs=1, lr=1e-2, batch_size=16, progress=False), data)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in frozen.items())
    assert all(torch.equal(v, model.teacher.state_dict()[k]) for k, v in teacher.items())
    assert not torch.equal(student0, model.classifiers[0].out.weight)


def test_finetuning_keeps_word_embeddings_frozen(tmp_path):
    model = tiny_model(tmp_path)
    emb = model.encoder.model.embeddings.word_embeddings.weight.clone()
    layer = model.encoder.model.encoder.layer[0].output.dense.weight.clone()
    train(model, TrainConfig(stage="finetune", epochs=1, lr=1e-3, progress=False), _data())
    assert torch.equal(emb, model.encoder.model.embeddings.word_embeddings.weight)
    assert not torch.equal(layer, model.encoder.model.encoder.layer[0].output.dense.weight)


def test_length_grouped_batches_cover_every_row_once():
    lengths = [(i * 7) % 13 for i in range(100)]
    batches = length_grouped_batches(lengths, 8, seed=0)
    assert sorted(r for b in batches for r in b) == list(range(100))
    assert len(batches) == math.ceil(100 / 8)


def test_train_config_validates():
    with pytest.raises(ValueError, match="stage"):
        TrainConfig(stage="pretrain")
    with pytest.raises(ValueError, match="kl_direction"):
        TrainConfig(stage="distill", kl_direction="sideways")
    with pytest.raises(ValueError, match="lr"):
        TrainConfig(stage="finetune", lr=0)


class _Stop(Exception):
    pass


def test_an_interrupted_stage_resumes_to_the_same_weights(tmp_path):
    data = _data(96)
    cfg = dict(stage="finetune", epochs=2, lr=3e-3, batch_size=16, progress=False, eval_every=1)
    straight = tiny_model(tmp_path / "a")
    train(straight, TrainConfig(**cfg), data)  # 12 steps, two epochs

    ckpt = str(tmp_path / "resume.pt")
    resumed = tiny_model(tmp_path / "b")

    def stop_at_8(entry):
        if entry["step"] == 8:
            raise _Stop  # after step 8's update, before its resume point: step 7's is the latest
    with pytest.raises(_Stop):
        train(resumed, TrainConfig(**cfg, resume_file=ckpt, save_every=1), data, on_eval=stop_at_8)
    assert torch.load(ckpt, weights_only=True)["step"] == 7
    fresh = tiny_model(tmp_path / "c")  # a new process: weights from the resume point only
    log = train(fresh, TrainConfig(**cfg, resume_file=ckpt, save_every=1), data)
    assert [e["step"] for e in log] == list(range(1, 13))
    for (name, a), b in zip(straight.named_parameters(), fresh.parameters()):
        assert torch.allclose(a, b, atol=1e-6), name
    untrained = dict(tiny_model(tmp_path / "d").named_parameters())
    changed = [n for n, p in fresh.named_parameters() if not torch.allclose(p, untrained[n])]
    assert any(n.startswith("classifiers") for n in changed) and any(n.startswith("encoder") for n in changed)


def test_resume_point_of_another_stage_is_refused(tmp_path):
    data = _data(32)
    ckpt = str(tmp_path / "resume.pt")
    train(tiny_model(tmp_path / "a"), TrainConfig(stage="distill", epochs=1, batch_size=16, progress=False,
                                                  resume_file=ckpt, save_every=1), data)
    with pytest.raises(ValueError, match="other trainable weights"):
        train(tiny_model(tmp_path / "b"), TrainConfig(stage="finetune", epochs=1, batch_size=16,
                                                      progress=False, resume_file=ckpt), data)
    with pytest.raises(ValueError, match="save_every"):
        TrainConfig(stage="finetune", save_every=5)
