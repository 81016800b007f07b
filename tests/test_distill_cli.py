"""Distillation training on the tiny model: a step lowers the loss, gradients stay in the student,
and `python -m fastbert distill` writes a loadable student and the report."""
import json

import pytest
import torch

from fastbert import FastBert
from fastbert.cli import main
from fastbert.data import TextDataset
from fastbert.training.kd import DistillWeights, distillation_loss, load_student_summary
from fastbert.training.student import DistillConfig, build_student, teacher_outputs, train_student
from fastbert.training.student_scores import teacher_scores
from tiny import WORDS, tiny_model

POS, NEG = ["good", "great", "fine", "loved", "fun"], ["bad", "awful", "boring", "hated", "dull"]


def _data(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    texts, labels = [], []
    for k in range(n):
        y = k % 2
        words = [(POS if y else NEG)[int(torch.randint(5, (1,), generator=g))]]
        words += [WORDS[int(i)] for i in torch.randint(len(WORDS), (int(torch.randint(1, 6, (1,), generator=g)),),
                                                         generator=g)]
        texts.append(" ".join(words))
        labels.append(str(y))
    return TextDataset(texts, labels, "tiny", ["0", "1"])


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    return tiny_model(tmp_path_factory.mktemp("teacher"), labels=("0", "1"))


def _batch_loss(student, teacher, cache, rows, cfg):
    ids, mask, types = teacher.collate(cache.enc, rows)
    out = student(ids, mask, types, heads="all")
    return distillation_loss(out.layer_logits, cache.logits[:, rows], cache.labels[rows], cfg.method, cfg.weights,
                             cfg.space)


@pytest.mark.parametrize("space", ["logits", "probs"])
@pytest.mark.parametrize("kind,method", [("bert", "ukd-il"), ("bert", "ukd-cg"), ("bilstm", "ukd-ca"),
                                         ("gated-cnn", "ukd-ca"), ("bert", "kd")])
def test_a_distillation_step_lowers_the_loss(teacher, kind, method, space):
    cache = teacher_outputs(teacher, _data(16))
    cfg = DistillConfig(student=kind, method=method, layers=[1, 3], num_layers=2, width=16, space=space)
    student = build_student(teacher, cfg)  # eval mode: no dropout noise in the comparison
    rows = list(range(16))
    params = [p for p in student.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=1e-3 if kind == "bert" else 0.1)  # small enough for a descent step
    before = _batch_loss(student, teacher, cache, rows, cfg)
    before.total.backward()
    teacher_before = [p.clone() for p in teacher.parameters()]
    opt.step()
    with torch.no_grad():
        after = _batch_loss(student, teacher, cache, rows, cfg)
    assert after.total.item() < before.total.item()
    assert all(torch.equal(a, b) for a, b in zip(teacher_before, teacher.parameters()))


@pytest.mark.parametrize("space", ["logits", "probs"])
@pytest.mark.parametrize("kind,method", [("bert", "ukd-il"), ("bilstm", "ukd-ca"), ("gated-cnn", "ukd-ca"),
                                         ("bert", "ukd-cg")])
def test_universal_kd_gradients_reach_the_student_layers_and_pseudo_classifiers(teacher, kind, method, space):
    cache = teacher_outputs(teacher, _data(8))
    cfg = DistillConfig(student=kind, method=method, layers=[1, 3], num_layers=2, width=16, space=space,
                        weights=DistillWeights(alpha=0.0, beta=0.0, gamma=1.0))  # L_univ alone
    student = build_student(teacher, cfg)
    teacher.zero_grad(set_to_none=True)
    _batch_loss(student, teacher, cache, list(range(8)), cfg).total.backward()
    assert all(p.grad is None for p in teacher.parameters())
    layers = student.encoder.model.encoder.layer if kind == "bert" else student.layers
    distilled = [len(layers) - 1] if method == "ukd-cg" else range(len(layers) - 1)
    for j in distilled:
        for part in (layers[j], student.classifiers[j]):
            assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in part.parameters())
    if method != "ukd-cg":  # IL/CA never train the output classifier through L_univ
        assert all(p.grad is None or not p.grad.any() for p in student.classifiers[-1].parameters())


def test_training_loop_lowers_the_training_loss(teacher):
    data = _data(64)
    cache = teacher_outputs(teacher, data)
    cfg = DistillConfig(student="gated-cnn", method="ukd-ca", num_layers=2, width=16, epochs=4, batch_size=16,
                        lr=5e-3)
    student = build_student(teacher, cfg)
    rows = list(range(64))
    with torch.no_grad():
        before = _batch_loss(student, teacher, cache, rows, cfg).total.item()
    log = train_student(student, teacher.collate, cache, cfg)
    with torch.no_grad():
        after = _batch_loss(student, teacher, cache, rows, cfg).total.item()
    assert log[-1]["step"] == 16 and not student.training
    assert after < before


def test_teacher_outputs_cache_round_trip(teacher, tmp_path):
    data = _data(10)
    fresh = teacher_outputs(teacher, data, tmp_path / "t.pt")
    assert (tmp_path / "t.pt").is_file()
    cached = teacher_outputs(teacher, data, tmp_path / "t.pt")
    assert torch.equal(fresh.logits, cached.logits) and torch.equal(fresh.labels, cached.labels)
    # Each layer's raw logits are the teacher's own classifiers' on that text (not log-probabilities:
    # the logits reading of Universal-KD takes dot products of them).
    ids, mask, types = teacher.collate(fresh.enc, [3])
    with torch.no_grad():
        direct = teacher(ids, mask, types).layer_logits[:, 0]
    assert torch.allclose(fresh.logits[:, 3], direct, atol=1e-5)
    assert torch.allclose(fresh.log_probs[:, 3], direct.log_softmax(-1), atol=1e-5)


def test_teacher_reference_scores(teacher):
    from fastbert.evaluate import evaluate

    data = _data(12, seed=2)
    scores = teacher_scores(teacher, teacher_outputs(teacher, data), speeds=(0.0, 0.5))
    full = scores["truncated"][-1]
    assert full["accuracy"] == scores["accuracy"]
    # Cut after its last layer, the teacher is the plain model: no student classifiers.
    students = sum(p.numel() for p in teacher.students.parameters())
    assert full["params"] == scores["params"] - students
    assert full["flops_per_sample"] == pytest.approx(scores["flops_per_sample"])
    flops = [t["flops_per_sample"] for t in scores["truncated"]]
    assert flops == sorted(flops)
    # The early-exit numbers from the cached outputs are those of FastBERT's own adaptive evaluation.
    for e in scores["early_exit"]:
        direct = evaluate(teacher, data, e["speed"])
        assert e["accuracy"] == pytest.approx(direct.accuracy)
        assert e["flops_per_sample"] == pytest.approx(direct.flops_per_sample)


def test_config_checks_name_the_field():
    with pytest.raises(ValueError, match="ukd-ca"):
        DistillConfig(student="bert", method="ukd-ca")
    with pytest.raises(ValueError, match="ukd-ca"):
        DistillConfig(student="bilstm", method="ukd-il")
    with pytest.raises(ValueError, match="2 layers"):
        DistillConfig(student="bert", method="ukd-il", layers=[3])
    with pytest.raises(ValueError, match="student"):
        DistillConfig(student="gpt")
    with pytest.raises(ValueError, match="space"):
        DistillConfig(student="bert", space="log-probs")
    assert DistillConfig(student="bilstm", method="kd").lr == 2e-3


def _write_tsv(path, data):
    path.write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in zip(data.texts, data.raw_labels)))


def test_cli_distils_a_loadable_student_and_writes_the_report(teacher, tmp_path):
    teacher.save_pretrained(tmp_path / "teacher")
    _write_tsv(tmp_path / "train.tsv", _data(40))
    _write_tsv(tmp_path / "dev.tsv", _data(12, seed=1))
    common = ["distill", "--teacher", str(tmp_path / "teacher"), "--train", str(tmp_path / "train.tsv"),
              "--dev", str(tmp_path / "dev.tsv"), "--train-size", "32", "--layers", "1,3", "--num-layers", "2",
              "--width", "16", "--batch-size", "8", "--quiet", "--cache-dir", str(tmp_path / "cache")]
    assert main(common + ["--method", "ukd-il", "--out", str(tmp_path / "student"), "--no-share-base"]) == 0
    student = FastBert.from_pretrained(tmp_path / "student")
    assert student.num_layers == 2
    summary = load_student_summary(tmp_path / "student")
    assert summary.method == "ukd-il" and len(summary.lambdas) == 2 and len(summary.lambdas[0]) == 3
    assert summary.flops_per_sample < summary.teacher_flops_per_sample
    # Speed 0 runs every layer, so FastBERT's own evaluation gives the summary's accuracy.
    assert summary.early_exit[0]["speed"] == 0.0
    assert summary.early_exit[0]["accuracy"] == pytest.approx(summary.accuracy)
    assert [e["mean_exit_layer"] for e in summary.early_exit] == sorted(
        (e["mean_exit_layer"] for e in summary.early_exit), reverse=True)
    assert summary.accuracy == pytest.approx(
        sum(p.label == y for p, y in zip(student.predict(_data(12, seed=1).texts, speed=0.0),
                                          _data(12, seed=1).raw_labels)) / 12)
    _check_study_and_report(common, tmp_path)


def _check_study_and_report(common, tmp_path):
    """The study tunes T and gamma on held-out train rows at the first seed, reuses that seed's
    chosen run, resumes without retraining, and the report lists what is missing."""
    from demo.ukd_report import write_report

    runs_path = tmp_path / "r" / "universal_kd_runs.json"
    study = common + ["--report", "--seeds", "0,1", "--max-steps", "2", "--runs-out", str(runs_path),
                      "--val-size", "4", "--t-grid", "1,2", "--gamma-grid", "1,3", "--report-students", "bert,bilstm"]
    assert main(study) == 0
    state = json.loads(runs_path.read_text())
    # seed 0: bert none + 2 T + 4 rows x 2 gamma; bilstm none + 2 T + 2 rows x 2 gamma; seed 1: 10 rows
    assert len(state["runs"]) + len(state["tuning"]) == 11 + 7 + 10
    assert len(state["runs"]) == 10 * 2 and len(state["rows"]) == 10
    for key, chosen in state["chosen"].items():
        tried = [r for r in state["runs"] + state["tuning"] if r["seed"] == 0 and
                 "/".join([r["student"], r["method"]] + ([r["space"]] if r["method"].startswith("ukd-") else [])) == key]
        assert max(r["val_accuracy"] for r in tried) == next(r["val_accuracy"] for r in tried if all(
            r[k] == v for k, v in chosen.items()))
    assert {r["space"] for r in state["runs"] if r["method"].startswith("ukd-")} == {"logits", "probs"}
    assert len(list((tmp_path / "cache").glob("teacher-*.pt"))) == 3  # train subset, dev, held-out rows
    before = runs_path.read_text()
    assert main(study) == 0 and runs_path.read_text().split('"command"')[1:] == before.split('"command"')[1:]
    report = tmp_path / "r" / "universal_kd.md"
    text = write_report(runs_path, report, png=False).read_text()
    for row in ("vanilla KD", "Universal-KD IL", "Universal-KD CG", "Universal-KD CA", "BiLSTM", "logits", "probs"):
        assert row in text
    assert "20 of 20 planned runs finished" in text and (tmp_path / "r" / "universal_kd_lambda_logits.html").is_file()
    assert "Universal-KD IL (logits) − vanilla KD" in text and "(n=2)" in text
    # A partial study: the report says which runs are missing and shows no number for them.
    state["runs"] = [r for r in state["runs"] if not (r["seed"] == 1 and r["student"] == "bilstm")]
    runs_path.write_text(json.dumps(state))
    notes = "<!-- notes: kept when the report is regenerated -->\nwhat was checked\n<!-- end of notes -->"
    report.write_text(text + notes + "\n")
    partial = write_report(runs_path, report, png=False).read_text()
    assert "16 of 20 planned runs finished" in partial and "bilstm / vanilla KD: seed 1" in partial
    assert notes in partial
    (tmp_path / "r" / "universal_kd_notes.md").write_text("## Notes\nthe scale of the logits\n")
    again = write_report(runs_path, report, png=False).read_text()
    assert again.endswith("## Notes\nthe scale of the logits\n\n") and "what was checked" not in again


def test_lambda_temperature_flag_reaches_the_loss(teacher):
    from fastbert.cli import build_parser
    from fastbert.training.distill_run import distill_config
    from fastbert.training.kd import universal_kd_loss

    opts = build_parser().parse_args(["distill", "--method", "ukd-ca", "--student", "bilstm",
                                      "--lambda-temperature", "0.25", "--num-layers", "2", "--width", "16"])
    cfg = distill_config(opts, opts.student, opts.method, 0)
    assert cfg.weights.tau == 0.25
    assert distill_config(build_parser().parse_args(["distill"]), "bert", "ukd-il", 0).weights.tau == 1.0
    cache = teacher_outputs(teacher, _data(8))
    student = build_student(teacher, cfg)
    rows = list(range(8))
    out = _batch_loss(student, teacher, cache, rows, cfg)
    ids, mask, types = teacher.collate(cache.enc, rows)
    with torch.no_grad():
        s = student(ids, mask, types, heads="all").layer_logits
    assert torch.allclose(out.lambdas, universal_kd_loss(cache.logits, s, "CA", return_lambda=True, tau=0.25).lambdas)
    assert not torch.allclose(out.lambdas, universal_kd_loss(cache.logits, s, "CA", return_lambda=True).lambdas)
    bad = build_parser().parse_args(["distill", "--lambda-temperature", "0"])
    with pytest.raises(ValueError, match="tau"):
        distill_config(bad, "bert", "ukd-il", 0)


def _bilstm_logits_study(teacher, tmp_path, *extra):
    """A two-seed study of the BiLSTM rows, logits reading only, on tiny data: (runs JSON path,
    the `distill --report` arguments)."""
    teacher.save_pretrained(tmp_path / "teacher")
    _write_tsv(tmp_path / "train.tsv", _data(40))
    _write_tsv(tmp_path / "dev.tsv", _data(12, seed=1))
    runs_path = tmp_path / "r" / "universal_kd_runs.json"
    study = ["distill", "--teacher", str(tmp_path / "teacher"), "--train", str(tmp_path / "train.tsv"),
             "--dev", str(tmp_path / "dev.tsv"), "--train-size", "32", "--num-layers", "2", "--width", "16",
             "--batch-size", "8", "--quiet", "--cache-dir", str(tmp_path / "cache"), "--report", "--seeds", "0,1",
             "--max-steps", "2", "--runs-out", str(runs_path), "--val-size", "4", "--t-grid", "2",
             "--gamma-grid", "1", "--report-students", "bilstm", "--spaces", "logits", *extra]
    return runs_path, study


def test_study_tunes_tau_on_held_out_rows_beside_the_plain_rows(teacher, tmp_path):
    """--tau-grid adds a tuned-tau twin of each logits Universal-KD row: its grid's tau = 1 point
    is the plain row's run (not retrained), the chosen tau is the best on held-out train rows, the
    report shows the twin beside the plain row, and runs saved before tau existed count as tau = 1."""
    from demo.ukd_report import write_report

    runs_path, study = _bilstm_logits_study(teacher, tmp_path)
    assert main(study) == 0  # first without tau rows, as the study was before tau existed
    state = json.loads(runs_path.read_text())
    for r in state["runs"]:
        del r["tau"]
    runs_path.write_text(json.dumps(state))
    assert main(study + ["--tau-grid", "1,1/4"]) == 0
    state = json.loads(runs_path.read_text())
    assert state["rows"] == ["bilstm/none", "bilstm/kd", "bilstm/ukd-ca/logits", "bilstm/ukd-ca/logits/tau"]
    assert state["grids"]["tau"] == [1.0, 0.25]
    everything = state["runs"] + state["tuning"]
    assert sum("tau" not in r for r in everything) == 6  # the 6 old runs were reused, not retrained
    seed0 = {float(r.get("tau", 1.0)): r["val_accuracy"] for r in everything
             if r["seed"] == 0 and r["method"] == "ukd-ca"}
    assert sorted(seed0) == [0.25, 1.0]
    chosen = state["chosen"]["bilstm/ukd-ca/logits/tau"]["tau"]
    assert seed0[chosen] == max(seed0.values()) and (chosen == 1.0 or seed0[0.25] > seed0[1.0])  # first on ties
    twins = [r for r in state["runs"] if r["method"] == "ukd-ca" and r.get("tau", 1.0) == chosen]
    assert sorted(r["seed"] for r in twins) == [0, 1]
    # The same study with tau = 1/4 alone: the twin row is then at tau = 1/4 whatever the accuracies.
    assert main(study + ["--tau-grid", "1/4"]) == 0
    state = json.loads(runs_path.read_text())
    assert state["chosen"]["bilstm/ukd-ca/logits/tau"] == {"temperature": 2.0, "gamma": 1.0, "tau": 0.25}
    assert len(state["runs"]) == 8 and all(r.get("tau", 1.0) == 0.25 for r in state["runs"][-2:] + state["tuning"])
    text = write_report(runs_path, tmp_path / "r" / "universal_kd.md", png=False).read_text()
    assert "8 of 8 planned runs finished" in text
    grid = next(line for line in text.splitlines() if line.startswith("| bilstm/ukd-ca/logits/tau | τ | "))
    assert "τ=1: " in grid and "**τ=0.25: " in grid  # tau = 1 is the plain row's run at the chosen gamma
    assert "| Universal-KD CA | logits, τ=0.25 | 2 | 1 |" in text and "| Universal-KD CA | logits | 2 | 1 |" in text
    assert "Universal-KD CA (logits, τ=0.25) − vanilla KD" in text
    assert "Universal-KD CA (logits, τ=0.25) − Universal-KD CA (logits)" in text
    assert "### logits, τ=0.25 reading" in text
    assert (tmp_path / "r" / "universal_kd_lambda_logits_tau0.25.html").is_file()


def test_probe_taus_run_every_seed_at_a_fixed_tau_and_report_lambda_without_choosing_it(teacher, tmp_path):
    """--probe-taus runs each logits Universal-KD row at every seed at a fixed tau (the row's chosen
    T and gamma): the runs stay out of the study rows and the tuning grid, and the report's lambda
    table shows their seed-averaged lambda beside tau = 1, with the >= 0.4 target judged on it."""
    from demo.ukd_report import write_report
    from demo.ukd_report_sections import lambda_by_tau_section
    from fastbert.tools.seeds import mean_matrix

    runs_path, study = _bilstm_logits_study(teacher, tmp_path, "--probe-taus", "1/4")
    assert main(study) == 0
    state = json.loads(runs_path.read_text())
    assert state["grids"]["probe_tau"] == [0.25] and state["grids"]["tau"] == []
    assert state["rows"] == ["bilstm/none", "bilstm/kd", "bilstm/ukd-ca/logits"]  # no tuned-tau row
    assert all(r.get("tau", 1.0) == 1.0 for r in state["runs"])
    probes = [r for r in state["tuning"] if r.get("tau") == 0.25]
    assert sorted(r["seed"] for r in probes) == [0, 1] and all(r["method"] == "ukd-ca" for r in probes)
    lines = lambda_by_tau_section(state)
    n_teacher = len(probes[0]["lambdas"][0])
    assert f"(uniform: 1/{n_teacher} = {1 / n_teacher:.3f})" in lines[0]
    row = next(line for line in lines if line.startswith("| bilstm/ukd-ca/logits | 0.25 |"))
    peak = max(max(r) for r in mean_matrix([p["lambdas"] for p in probes]))
    assert f"| 2 | {peak:.3f} (" in row and row.endswith("| fixed |")
    assert any(line.startswith("| bilstm/ukd-ca/logits | 1 | 2 |") and "paper's formula" in line for line in lines)
    target = next(line for line in lines if line.startswith("Target"))
    assert ("met at τ ≤ 0.25" in target) == (peak >= 0.4) and "At τ = 1 (the paper's formula)" in target
    text = write_report(runs_path, tmp_path / "r" / "universal_kd.md", png=False).read_text()
    assert "### λ at each temperature τ, over seeds" in text and "6 of 6 planned runs finished" in text
    assert "| bilstm/ukd-ca/logits/tau | τ |" not in text  # a fixed tau is no tuning grid
    assert main(study) == 0 and len(json.loads(runs_path.read_text())["tuning"]) == len(state["tuning"])  # reused
