"""demo.views, demo.inputs, demo.examples, demo.models: the app's numbers equal the library's."""
import pytest

from demo.examples import examples_for, load_example_sets
from demo.inputs import DEFAULT_MAX_ROWS, BatchInput, InputError, lines_to_texts, read_file, read_pasted
from demo.models import ModelRegistry, find_models
from demo.views import (SWEEP_SPEEDS, LabelMatch, batch_table, batch_view, layer_agreement, layer_step,
                        match_labels, run_batch, run_text, text_view)
from fastbert.data import TextDataset
from fastbert.evaluate import evaluate, luha_bins
from tiny import TEXTS

SPEEDS = [0.0, 0.2, 0.5, 0.8, 1.0]


@pytest.fixture(scope="module")
def loaded(model):
    return ModelRegistry.from_model(model, name="tiny").get()


@pytest.fixture(scope="module")
def labeled(texts_module):
    labels = ["positive", "negative", "positive", "negative", "positive", "positive", "negative",
              "negative", "positive"]
    return BatchInput(texts_module, labels, "unit test")


@pytest.fixture(scope="module")
def texts_module():
    return list(TEXTS)


@pytest.fixture(scope="module")
def runs(loaded, texts_module):
    return {text: run_text(loaded, text, speed=0.5) for text in texts_module}


@pytest.fixture(scope="module")
def batch_run(loaded, labeled):
    return run_batch(loaded, labeled)


@pytest.mark.parametrize("speed", SPEEDS)
def test_text_view_at_any_speed_equals_adaptive_predict(model, loaded, runs, speed):
    # The slider re-decides from one all-layers pass; it must agree with a fresh adaptive run.
    preds = model.predict(list(runs), speed=speed)
    for (text, run), pred in zip(runs.items(), preds):
        view = text_view(loaded, run, speed)
        assert (view.exit_layer, view.label) == (pred.exit_layer, pred.label)
        assert view.flops == pred.flops and view.full_flops == pred.full_flops
        assert view.speedup == pytest.approx(pred.speedup)
        assert view.uncertainties[: view.exit_layer] == pytest.approx(pred.uncertainties, abs=1e-5)
        assert view.saved == pytest.approx(1 - 1 / pred.speedup)


def test_exit_layer_never_later_at_higher_speed(loaded, runs):
    for run in runs.values():
        exits = [text_view(loaded, run, s).exit_layer for s in SWEEP_SPEEDS]
        assert exits == sorted(exits, reverse=True)
        assert exits[0] == run.num_layers  # speed 0 is the full model


def test_run_text_times_the_adaptive_run_and_reports_truncation(model, loaded):
    run = run_text(loaded, "good film", speed=0.3, repeats=4)
    # Each side is timed several times (the card shows medians, never one noisy run).
    assert len(run.adaptive_ms) == len(run.all_layers_ms) == 4
    assert min(run.adaptive_ms) <= run.adaptive_median_ms <= max(run.adaptive_ms)
    assert min(run.all_layers_ms) > 0
    assert run.timed_exit_layer == model.predict(["good film"], speed=0.3)[0].exit_layer
    assert not run.truncated
    long = run_text(loaded, " ".join(["good film"] * 100), speed=0.3)
    assert long.truncated and long.num_tokens == model.config.max_length < long.input_tokens


@pytest.mark.parametrize("bad", ["", "   \n\t", None])
def test_empty_text_is_an_input_error(loaded, bad):
    with pytest.raises(InputError, match="empty"):
        run_text(loaded, bad, speed=0.5)


@pytest.mark.parametrize("speed", [-0.1, 1.5, "fast"])
def test_speed_outside_0_1_is_an_input_error(loaded, speed):
    with pytest.raises(InputError, match="Speed"):
        run_text(loaded, "good", speed)


@pytest.mark.parametrize("speed", SPEEDS)
def test_batch_view_equals_adaptive_evaluate(model, loaded, labeled, batch_run, speed):
    run = batch_run
    view = batch_view(loaded, run, speed)
    ref = evaluate(model, TextDataset(labeled.texts, labeled.raw_labels), speed)
    assert view.result.exit_histogram == ref.exit_histogram
    assert view.result.accuracy == pytest.approx(ref.accuracy)
    assert view.result.flops_speedup == pytest.approx(ref.flops_speedup)
    preds = model.predict(labeled.texts, speed=speed)
    assert view.exit_layer == [p.exit_layer for p in preds]
    assert view.predicted == [p.label for p in preds]
    assert view.flops == pytest.approx([p.flops for p in preds])
    assert view.total_full_flops / view.total_flops == pytest.approx(view.result.flops_speedup)


def test_batch_sweep_covers_speeds_and_table_has_a_row_per_text(loaded, labeled, batch_run):
    run = batch_run
    assert [r.speed for r in run.sweep] == SWEEP_SPEEDS
    assert run.sweep[0].mean_exit_layer == run.num_layers
    view = batch_view(loaded, run, 0.5)
    table = batch_table(run, view)
    assert list(table.columns) == ["text", "label", "confidence", "exit layer", "uncertainty", "true label",
                                   "correct"]
    assert len(table) == len(labeled.texts)
    assert table["correct"].mean() == pytest.approx(view.result.accuracy)


def test_labels_are_names_or_ids_covering_every_class():
    news = ["World", "Sports", "Business", "Sci/Tech"]
    assert match_labels(["Sports", "World"], news) == LabelMatch([1, 0], "")
    ids = match_labels(["0", "1", "3", "2"], news)
    assert ids.ids == [0, 1, 3, 2] and "0 = World" in ids.note
    # SST-2's 0/1 on a news model: ids of the model, but not its labelling: no accuracy, and say so.
    sst = match_labels(["0", "1", "1"], news)
    assert sst.ids is None and "no accuracy" in sst.note and "World" in sst.note
    assert match_labels(["7", "0"], ["negative", "positive"]).ids is None
    other = match_labels(["spam", "ham"], news)
    assert other.ids is None and "'spam'" in other.note and "Sci/Tech" in other.note
    assert match_labels(None, news).ids is None


def test_sst2_ids_on_a_news_model_give_no_accuracy(tmp_path, texts_module):
    from tiny import tiny_model

    news = ModelRegistry.from_model(tiny_model(tmp_path, labels=("World", "Sports", "Business", "Sci/Tech")),
                                    name="news").get()
    run = run_batch(news, BatchInput(texts_module, ["0", "1"] * 4 + ["1"], "sst2.csv"))
    assert not run.has_labels and run.sweep[0].accuracy is None and "not this model's class ids" in run.label_note
    table = batch_table(run, batch_view(news, run, 0.5))
    assert "correct" not in table.columns


def test_labels_the_model_does_not_know_are_dropped_with_a_note(loaded, texts_module):
    run = run_batch(loaded, BatchInput(texts_module, ["spam"] * len(texts_module), "x"))
    assert not run.has_labels and "spam" in run.label_note
    assert run_batch(loaded, BatchInput(texts_module, None, "x")).label_note.startswith("no label column")
    table = batch_table(run, batch_view(loaded, run, 0.5))
    assert "true label" not in table.columns


@pytest.mark.parametrize("speed", [0.0, 0.5, 1.0])
def test_layer_steps_account_for_every_sample_once(loaded, labeled, batch_run, speed):
    run = batch_run
    view = batch_view(loaded, run, speed)
    steps = [layer_step(run, view, k) for k in range(1, run.num_layers + 1)]
    left = [i for s in steps for i in s.leaving]
    assert sorted(left) == list(range(len(labeled.texts)))  # each sample leaves exactly once
    running = steps[0].running_per_layer
    assert running[0] == len(labeled.texts) and running == sorted(running, reverse=True)
    for s in steps[:-1]:  # entropy rule: those who leave are below the threshold, those who stay are not
        unc = dict(zip(s.running, s.uncertainty))
        assert all(unc[i] < speed for i in s.leaving)
        assert all(unc[i] >= speed for i in s.staying)
    assert set(steps[-1].leaving) == set(steps[-1].running)  # the teacher answers for everyone left


def test_uncertainty_bins_and_agreement(loaded, labeled, batch_run):
    run = batch_run
    bins = luha_bins(run.outputs, bins=4)
    assert sum(bins.counts) == run.num_layers * len(labeled.texts)
    assert all((a is None) == (n == 0) for a, n in zip(bins.accuracy, bins.counts))
    assert bins.reference == "labels"
    agree = layer_agreement(run)
    assert agree.agreement[-1] == 1.0 and len(agree.accuracy) == run.num_layers
    unlabeled = run_batch(loaded, BatchInput(labeled.texts, None, "x"))
    assert luha_bins(unlabeled.outputs).reference == "teacher" and layer_agreement(unlabeled).accuracy is None


# ----- inputs -------------------------------------------------------------------------------
def test_lines_to_texts_and_pasted_limits():
    assert lines_to_texts("a\n\n  b \r\nc") == ["a", "b", "c"]
    assert read_pasted("x\ny").texts == ["x", "y"]
    with pytest.raises(InputError, match="empty"):
        read_pasted("  \n ")
    with pytest.raises(InputError, match="at most 3"):
        read_pasted("a\nb\nc\nd", max_rows=3)
    assert DEFAULT_MAX_ROWS == 1000


def test_read_file_accepts_txt_csv_tsv_with_optional_labels(tmp_path):
    (tmp_path / "a.txt").write_text("good film\n\nbad film\n")
    (tmp_path / "b.csv").write_text('text,label\n"good, really",positive\nbad,negative\n')
    (tmp_path / "c.tsv").write_text("sentence\nfine\n")
    assert read_file(tmp_path / "a.txt").texts == ["good film", "bad film"]
    csv = read_file(tmp_path / "b.csv")
    assert csv.texts == ["good, really", "bad"] and csv.raw_labels == ["positive", "negative"]
    assert read_file(tmp_path / "c.tsv").raw_labels is None


def test_bad_files_get_clear_messages(tmp_path):
    (tmp_path / "latin.txt").write_bytes("caf\xe9 cr\xe8me\n".encode("latin-1"))
    (tmp_path / "labels.csv").write_text("label\n1\n0\n")
    (tmp_path / "empty.tsv").write_text("")
    (tmp_path / "wide.csv").write_text("a,b,c,d\n1,2,3,4\n")
    (tmp_path / "big.txt").write_text("good\n" * 11)
    (tmp_path / "x.pdf").write_bytes(b"%PDF")
    cases = {"latin.txt": "not UTF-8", "labels.csv": "text column", "empty.tsv": "no rows",
             "wide.csv": "text columns", "big.txt": "at most 10", "x.pdf": ".txt, .csv or .tsv"}
    for name, message in cases.items():
        with pytest.raises(InputError, match=message) as err:
            read_file(tmp_path / name, max_rows=10)
        assert str(tmp_path) not in str(err.value)  # the server's paths stay private
        assert name in str(err.value)


# ----- examples and models ------------------------------------------------------------------
def test_example_sets_cover_the_cases_and_a_40_sentence_batch():
    sets = {s.task: s for s in load_example_sets()}
    assert {"sentiment", "news"} <= set(sets)
    for s in sets.values():  # every set, including ones other modules add
        assert s.single and len(s.batch.raw_labels) == len(s.batch.texts) > 0
        assert len(set(s.batch.texts)) == len(s.batch.texts)
        assert all(t.strip() for _, t in s.single) and all(t.strip() for t in s.batch.texts)
    assert len(sets["sentiment"].batch.texts) >= 40 and len(sets["news"].batch.texts) >= 40
    cases = {case for case, _ in sets["sentiment"].single}
    assert cases == {"easy", "hard", "negated", "mixed", "neutral"}


def test_chinese_examples_cover_the_cases_with_a_balanced_batch():
    zh = {s.task: s for s in load_example_sets()}["zh-sentiment"]
    assert {case for case, _ in zh.single} == {"easy", "hard", "negated", "mixed", "neutral"}
    assert len(zh.batch.texts) >= 40
    assert sorted(set(zh.batch.raw_labels)) == ["正面", "负面"]
    assert zh.batch.raw_labels.count("正面") == zh.batch.raw_labels.count("负面")
    # A model trained with `--labels 负面,正面` (ChnSentiCorp's ids 0, 1) gets these examples.
    assert examples_for(["负面", "正面"]).task == "zh-sentiment"


def test_examples_follow_the_model_labels():
    assert examples_for(["negative", "positive"]).task == "sentiment"
    assert examples_for(["World", "Sports", "Business", "Sci/Tech"]).task == "news"
    other = examples_for(["a", "b", "c"])
    assert other.task == "sentiment" and other.batch.raw_labels is None


def test_registry_lists_model_dirs_and_loads_lazily(model, tmp_path):
    model.save_pretrained(tmp_path / "models" / "b-tiny")
    model.save_pretrained(tmp_path / "models" / "a-tiny")
    (tmp_path / "models" / "not-a-model").mkdir()
    assert list(find_models(tmp_path / "models")) == ["a-tiny", "b-tiny"]
    reg = ModelRegistry.from_source(tmp_path / "models" / "b-tiny", models_dir=tmp_path / "models")
    assert reg.names == ["a-tiny", "b-tiny"] and reg.default == "b-tiny"
    assert reg._loaded == {}
    got = reg.get()
    assert got is reg.get("b-tiny") and list(reg._loaded) == ["b-tiny"]
    probs = got.model.predict(["good film"], speed=0.0)[0].probs
    assert probs == pytest.approx(model.predict(["good film"], speed=0.0)[0].probs, abs=1e-6)
    with pytest.raises(KeyError, match="unknown model"):
        reg.get("c")


def test_batch_counts_truncated_texts(model, loaded):
    long = " ".join(["good film"] * 60)
    run = run_batch(loaded, BatchInput(["good film", long, "bad"], None, "x"))
    assert run.truncated == 1
    assert int(run.outputs.num_tokens.max()) == model.config.max_length


def test_the_views_never_tokenize_while_holding_the_model_lock(model, loaded, labeled, monkeypatch):
    """Another user waits on the lock only for the layers, not for tokenizing (issue: a long text
    tokenized under the lock stalled everyone)."""
    real = type(model).tokenize
    held = []

    def spy(self, texts):
        held.append(loaded.lock.locked())
        return real(self, texts)

    monkeypatch.setattr(type(model), "tokenize", spy)
    run_text(loaded, "good film", 0.5, repeats=2)
    run_batch(loaded, labeled)
    assert held and not any(held)
