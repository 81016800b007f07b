"""The app's "Distilled student" tab: from a student model directory (made by `python -m fastbert
distill` on the tiny teacher), from the report's runs JSON alone, and absent without either."""
import json
import statistics

import pytest

from demo import api, build_app, charts
from demo.models import ModelRegistry
from demo.student import find_student, from_report, read_report
from demo.student_page import student_html
from demo.ui import model_info
from fastbert.cli import main
from fastbert.training.kd import load_student_summary
from tiny import WORDS

POS, NEG = ["good", "great", "fine", "loved", "fun"], ["bad", "awful", "boring", "hated", "dull"]


def _write_tsv(path, n, seed):
    rows = []
    for k in range(n):
        y = k % 2
        words = [(POS if y else NEG)[(k * 7 + seed) % 5]]
        words += [WORDS[(k * 3 + j + seed) % len(WORDS)] for j in range(k % 4)]
        rows.append(f"{' '.join(words)}\t{'positive' if y else 'negative'}\n")
    path.write_text("sentence\tlabel\n" + "".join(rows))


@pytest.fixture(scope="module")
def models_dir(model, tmp_path_factory):
    """assets/models in small: the tiny FastBERT teacher and a 2-layer Universal-KD student of it."""
    root = tmp_path_factory.mktemp("student")
    models = root / "models"
    model.save_pretrained(models / "tiny-teacher")
    _write_tsv(root / "train.tsv", 24, 0)
    _write_tsv(root / "dev.tsv", 10, 1)
    assert main(["distill", "--teacher", str(models / "tiny-teacher"), "--train", str(root / "train.tsv"),
                 "--dev", str(root / "dev.tsv"), "--train-size", "0", "--layers", "1,3", "--batch-size", "8",
                 "--max-steps", "2", "--quiet", "--cache-dir", "", "--method", "ukd-il",
                 "--out", str(models / "tiny-student"), "--no-share-base"]) == 0
    return models


@pytest.fixture(scope="module")
def registry(models_dir):
    return ModelRegistry.from_source(models_dir / "tiny-teacher", models_dir=models_dir)


def _report(tmp_path, runs, teacher_dev=None):
    path = tmp_path / "universal_kd_runs.json"
    path.write_text(json.dumps({"data": "tiny rows", "teacher": "assets/models/tiny-teacher",
                                "teacher_dev": teacher_dev or {}, "runs": runs}))
    return path


def _run(student, method, seed, accuracy, lambdas=None, **extra):
    return {"student": student, "method": method, "seed": seed, "accuracy": accuracy,
            "layer_accuracy": [accuracy - 0.1, accuracy], "flops_per_sample": 1e6, "params": 1000,
            "lambdas": lambdas, **extra}


def _elem_ids(app) -> set:
    return {getattr(block, "elem_id", None) for block in app.blocks.values()}


# ----- the student model directory ----------------------------------------------------------
def test_the_student_directory_is_a_fastbert_model_in_the_picker_and_exits_early(registry, models_dir):
    assert set(registry.names) == {"tiny-teacher", "tiny-student"}
    student = registry.get("tiny-student")
    assert student.num_layers == 2 and student.labels == ["negative", "positive"]
    full = api.classify(student, "good film", 0.0)
    early = api.classify(student, "good film", 1.0)  # any uncertainty below 1 exits at the first layer
    assert full["exit_layer"] == 2 and early["exit_layer"] == 1
    assert early["flops"] < full["flops"] and early["flops"] < early["full_flops"] and early["speedup"] > 1
    expected = student.model.predict(["good film"], speed=1.0)[0]
    assert (early["label"], early["confidence"]) == (expected.label, pytest.approx(expected.confidence))


def test_the_tab_renders_from_the_student_directory_alone(registry, models_dir, tmp_path):
    summary = load_student_summary(models_dir / "tiny-student")
    view = find_student(registry.sources, tmp_path / "no_report.json")
    assert view.model_name == "tiny-student" and view.method == "Universal-KD IL" and not view.report
    assert view.student.accuracy == summary.accuracy and view.student.params == summary.params
    assert view.teacher_row.accuracy == summary.teacher_accuracy
    assert view.teacher_row.flops_per_sample == summary.teacher_flops_per_sample > view.student.flops_per_sample
    # The early-exit rows are the summary's, and the teacher's exit-rule rows come from training.json.
    student_exits = [r for r in view.comparison if r.model == view.student.model]
    assert [r.accuracy for r in student_exits] == [e["accuracy"] for e in summary.early_exit]
    assert any(r.model == view.teacher_row.model and "speed 0.5" in r.setting for r in view.comparison)
    (heatmap,) = view.heatmaps
    assert heatmap.lambdas == summary.lambdas
    assert summary.space == "logits" and "logits reading" in heatmap.title and "logits reading" in view.notes
    assert [sum(row) for row in heatmap.lambdas] == pytest.approx([1.0, 1.0], abs=1e-5)
    page = student_html(view)
    assert f"{summary.accuracy:.1%}" in page and "tiny-student" in page and "tiny-teacher" in page
    ratio = summary.teacher_flops_per_sample / view.student.flops_per_sample  # the card's "× fewer"
    assert f"{ratio:.1f}× fewer" in page
    assert "distilled from tiny-teacher with Universal-KD IL" in model_info(registry.get("tiny-student"), view)
    assert "distilled" not in model_info(registry.get("tiny-teacher"), view)
    app = build_app(registry, distill_report=tmp_path / "no_report.json")
    assert {"tab-student", "student-summary", "lambda-plot"} <= _elem_ids(app)
    app.close()


def test_the_student_directory_comes_first_and_the_report_adds_its_table(registry, tmp_path):
    path = _report(tmp_path, [_run("bert", "kd", 0, 0.7), _run("bert", "kd", 1, 0.8)])
    view = find_student(registry.sources, path)
    assert view.model_name == "tiny-student" and len(view.heatmaps) == 1
    (row,) = view.report
    assert row.setting == "vanilla KD" and row.seeds == 2
    assert row.accuracy == pytest.approx(0.75) and row.accuracy_std == pytest.approx(statistics.stdev([0.7, 0.8]))


# ----- the report JSON alone ------------------------------------------------------------------
LAM_A = [[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]]
LAM_B = [[0.5, 0.4, 0.1], [0.3, 0.3, 0.4]]


def test_the_tab_renders_from_a_partial_report_alone(model, tmp_path):
    logits = {"space": "logits"}
    runs = [_run("bert", "none", 0, 0.70, LAM_B), _run("bert", "none", 1, 0.72, LAM_B),
            _run("bert", "ukd-il", 0, 0.80, LAM_A, **logits), _run("bert", "ukd-il", 1, 0.76, LAM_B, **logits),
            _run("bert", "ukd-il", 2, 0.78, [[1.0]], **logits),  # a λ of another shape: left out of the mean
            _run("bert", "ukd-il", 0, 0.75, LAM_B),  # no space: written before the logits reading, probs
            _run("bilstm", "ukd-ca", 0, 0.60, None, **logits),
            _run("bilstm", "ukd-ca", 1, 0.62, [[0.2, 0.2, 0.6]] * 3, **logits),
            _run("bilstm", "ukd-ca", 1, 0.61, [[0.3, 0.3, 0.4]] * 3, space="probs"),
            {"student": "bert", "method": "kd", "seed": 0},  # no accuracy (an interrupted run): skipped
            "not a run"]
    teacher_dev = {"accuracy": 0.9, "flops_per_sample": 5e6, "params": 4000, "layer_accuracy": [0.8, 0.85, 0.9],
                   "early_exit": [{"speed": 0.5, "accuracy": 0.88, "flops_per_sample": 2e6, "mean_exit_layer": 1.5}]}
    path = _report(tmp_path, runs, teacher_dev)
    view = find_student({}, path)
    assert view.model_name is None and view.method == "Universal-KD IL (logits)"
    assert view.student.accuracy == pytest.approx(statistics.mean([0.80, 0.76, 0.78])) and view.student.seeds == 3
    assert view.teacher_row.accuracy == 0.9 and [r.accuracy for r in view.comparison] == [0.88]
    assert [(r.model, r.setting, r.seeds) for r in view.report] == [
        ("BERT-style student", "no KD (labels only)", 2), ("BERT-style student", "Universal-KD IL (logits)", 3),
        ("BERT-style student", "Universal-KD IL (probs)", 1), ("BiLSTM student", "Universal-KD CA (logits)", 2),
        ("BiLSTM student", "Universal-KD CA (probs)", 1)]
    bert, bilstm = view.heatmaps  # the reading the tab's student used: logits only
    assert "logits reading" in bert.title and "logits reading" in bilstm.title and "logits" in view.notes
    mean = [(a + b) / 2 for ra, rb in zip(LAM_A, LAM_B) for a, b in zip(ra, rb)]
    assert [v for row in bert.lambdas for v in row] == pytest.approx(mean)
    assert bert.teacher_layers == ["T1", "T2", "T3"] and bert.student_layers == ["S1", "S2"]
    assert "2 seeds" in bert.title and "1 seed" in bilstm.title and len(bilstm.lambdas) == 3
    fig = charts.lambda_chart(view.heatmaps)
    assert [t.type for t in fig.data] == ["heatmap", "heatmap"] and fig.layout.meta is None
    for trace in fig.data:
        assert [sum(row) for row in trace.z] == pytest.approx([1.0] * len(trace.z))
    _check_colour_scale_and_titles(fig, view.heatmaps)
    page = student_html(view)
    acc = [0.80, 0.76, 0.78]
    assert f"{statistics.mean(acc):.2%} ± {100 * statistics.stdev(acc):.2f} (3 seeds)" in page
    app = build_app(ModelRegistry.from_model(model, name="tiny"), distill_report=path)
    assert {"tab-student", "student-summary", "lambda-plot"} <= _elem_ids(app)
    app.close()


def _check_colour_scale_and_titles(fig, heatmaps):
    """One colour scale, fitted to the values (widened only to reach 1/N), 1/N named on its bar;
    subplot titles short enough not to run into the next panel's."""
    values = [v for h in heatmaps for row in h.lambdas for v in row]
    uniform = 1 / len(heatmaps[0].lambdas[0])
    ax = fig.layout.coloraxis
    assert all(t.coloraxis == "coloraxis" for t in fig.data)
    assert ax.cmin == pytest.approx(min(min(values), uniform)) and ax.cmax == pytest.approx(max(max(values), uniform))
    assert any(f"1/N = {uniform:.3f}" in t for t in ax.colorbar.ticktext)
    stops = {round(p, 6): c for p, c in ax.colorscale}
    assert stops[round((uniform - ax.cmin) / (ax.cmax - ax.cmin), 6)] == "#f7f7f7"  # white at 1/N
    titles = list(fig.layout.annotations)
    assert len(titles) == len(heatmaps)
    for a in titles:  # side by side at >= half the figure apart, each line <= 40 characters (~300 px)
        assert max(len(line) for line in a.text.split("<br>")) <= 40
        for b in titles:
            if a is not b and a.y == b.y:
                assert abs(a.x - b.x) >= 0.5


def test_colour_scale_fits_nearly_uniform_lambdas():
    """λ between 0.159 and 0.170 must not look alike: the scale spans the data, not 0..1."""
    from demo.student import Heatmap

    lam = [[0.159, 0.170, 0.165, 0.166, 0.170, 0.170], [0.168, 0.160, 0.164, 0.169, 0.170, 0.169]]
    hs = [Heatmap(f"bert / Universal-KD {m} (probs reading, mean over 5 seeds)", lam, ["S1", "S2"],
                  [f"T{i}" for i in range(1, 7)]) for m in ("IL", "CG", "CA")]
    fig = charts.lambda_chart(hs)
    _check_colour_scale_and_titles(fig, hs)
    assert fig.layout.coloraxis.cmax - fig.layout.coloraxis.cmin < 0.02


def test_a_report_without_universal_kd_rows_has_a_table_but_no_heatmap(tmp_path):
    view = find_student({}, _report(tmp_path, [_run("gated-cnn", "kd", 0, 0.6, LAM_A)]))
    assert view.method == "vanilla KD" and view.heatmaps == [] and view.teacher_row is None
    assert "gated CNN student" in student_html(view)


# ----- neither -------------------------------------------------------------------------------
@pytest.mark.parametrize("content", [None, "{not json", "[]", '{"runs": []}', '{"runs": [{"student": "bert"}]}'])
def test_no_tab_without_a_student_or_a_usable_report(model, tmp_path, content):
    path = tmp_path / "universal_kd_runs.json"
    if content is not None:
        path.write_text(content)
    assert find_student({"tiny": tmp_path}, path) is None
    app = build_app(ModelRegistry.from_model(model, name="tiny"), distill_report=path)
    assert not {"tab-student", "student-summary", "lambda-plot"} & _elem_ids(app)
    app.close()


def test_empty_heatmap_list_is_an_error_figure():
    assert "no λ" in charts.lambda_chart([]).layout.meta["error"]


def test_read_report_and_from_report_tolerate_missing_parts(tmp_path):
    assert read_report(None) is None and read_report(tmp_path / "missing.json") is None
    view = from_report({"runs": [_run("bert", "ukd-il", 0, 0.8, LAM_A)]})  # no teacher, no data
    assert view.teacher_row is None and view.student.accuracy == 0.8 and view.student.accuracy_std is None
    assert student_html(view)


def test_a_tuned_tau_row_is_its_own_reading_beside_the_logits_row(tmp_path):
    """Runs with a λ temperature τ ≠ 1 form their own row ('logits, τ=0.333') after the plain logits
    row; the tab's λ is always the reading its student used: τ = 1 for the report's IL row, the
    summary's τ for a student directory."""
    from demo.student import from_student_dir
    from fastbert.training.kd import StudentSummary, save_student_summary

    tau = {"space": "logits", "tau": 1 / 3}
    runs = [_run("bert", "ukd-il", 0, 0.70, LAM_B, space="probs"),
            _run("bert", "ukd-il", 0, 0.80, LAM_A, **tau), _run("bert", "ukd-il", 1, 0.82, LAM_A, **tau),
            _run("bert", "ukd-il", 0, 0.78, LAM_B, space="logits", tau=1.0),
            _run("bert", "ukd-il", 1, 0.76, LAM_B, space="logits")]  # no tau: written before it, tau = 1
    path = _report(tmp_path, runs)
    view = find_student({}, path)
    assert [r.setting for r in view.report] == ["Universal-KD IL (logits)", "Universal-KD IL (logits, τ=0.333)",
                                                "Universal-KD IL (probs)"]
    assert view.method == "Universal-KD IL (logits)" and view.student.accuracy == pytest.approx(0.77)
    (heat,) = view.heatmaps
    assert sum(heat.lambdas, []) == pytest.approx(sum(LAM_B, [])) and "τ" not in heat.title
    summary = StudentSummary(student="bert", method="ukd-il", student_layers=["S1", "S2"], teacher="t",
                             teacher_layers=["T1", "T2", "T3"], data="d", accuracy=0.8, flops_per_sample=1e6,
                             params=10, teacher_accuracy=0.9, teacher_flops_per_sample=3e6, teacher_params=30,
                             lambdas=LAM_A, space="logits", tau=1 / 3)
    save_student_summary(tmp_path / "s", summary)
    view = from_student_dir(tmp_path / "s", report=read_report(path))
    own, row = view.heatmaps
    assert "logits, τ=0.333 reading" in own.title and "logits, τ=0.333 reading" in row.title
    assert sum(row.lambdas, []) == pytest.approx(sum(LAM_A, [])) and "divided by τ=0.333" in view.notes
    assert "logits, τ=0.333" in student_html(view)
