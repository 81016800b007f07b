"""Every stage stops at a step and resumes, in a new model, to the weights and log of a run that
never stopped (finetune and pre-training have their own tests in test_training / test_pretrain)."""
import pytest
import torch

from fastbert.training import TrainConfig, train
from fastbert.training.student import DistillConfig, build_student, teacher_outputs, train_student
from test_training_pins import _data
from tiny import tiny_model


def _same_weights(a, b):
    for (name, x), y in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(x, y, rtol=0, atol=1e-6, msg=name)


@pytest.mark.parametrize("stage", ["distill", "joint"])
def test_a_fastbert_stage_resumes_to_the_uninterrupted_weights(tmp_path, stage):
    data = _data(40)
    cfg = dict(stage=stage, epochs=2, lr=1e-2, batch_size=8, progress=False, eval_every=2)
    straight = tiny_model(tmp_path / "a", labels=("0", "1"))
    log = train(straight, TrainConfig(**cfg), data)  # 10 steps
    point = str(tmp_path / "resume.pt")
    cut = tiny_model(tmp_path / "b", labels=("0", "1"))
    assert len(train(cut, TrainConfig(**cfg, resume_file=point, save_every=4), data, stop_at=7)) == 3
    resumed = tiny_model(tmp_path / "c", labels=("0", "1"))  # a new process: the resume point only
    seen = []
    later = train(resumed, TrainConfig(**cfg, resume_file=point, save_every=4), data, on_eval=seen.append)
    assert [e["step"] for e in seen] == [8, 10]  # it went on from step 7
    assert [e["step"] for e in later] == [e["step"] for e in log] == [2, 4, 6, 8, 10]
    assert [e["train_loss"] for e in later] == pytest.approx([e["train_loss"] for e in log], abs=1e-6)
    _same_weights(straight, resumed)
    assert not torch.equal(straight.classifiers[0].out.weight, cut.classifiers[0].out.weight)


@pytest.mark.parametrize("kind,method", [("bert", "ukd-il"), ("bilstm", "kd")])
def test_student_distillation_resumes_to_the_uninterrupted_weights(tmp_path, kind, method):
    teacher = tiny_model(tmp_path / "t", labels=("0", "1"))
    cache = teacher_outputs(teacher, _data(48))
    cfg = dict(student=kind, method=method, num_layers=2, width=16, epochs=2, batch_size=8, eval_every=2)
    straight = build_student(teacher, DistillConfig(**cfg))
    log = train_student(straight, teacher.collate, cache, DistillConfig(**cfg))  # 12 steps
    point = str(tmp_path / "resume.pt")
    resumable = DistillConfig(**cfg, resume_file=point, save_every=5)
    train_student(build_student(teacher, resumable), teacher.collate, cache, resumable, stop_at=7)
    resumed, batches = build_student(teacher, resumable), []

    def collate(enc, rows):
        batches.append(rows)
        return teacher.collate(enc, rows)
    later = train_student(resumed, collate, cache, resumable)
    assert len(batches) == 12 - 7  # it went on from step 7
    assert [e["step"] for e in later] == [e["step"] for e in log]
    assert [e["loss"] for e in later] == pytest.approx([e["loss"] for e in log], abs=1e-6)
    _same_weights(straight, resumed)
