"""The benchmark's logic: scheduling, medians, workloads, references, tables, the command.

No test here asserts a time: timings live in the benchmark's report.
"""
import importlib.util
import json
import os
import shlex
from pathlib import Path

import pytest
import torch

from fastbert import cli
from fastbert.tools.bench import BenchConfig, BenchResult, GroupResult, SpeedRow, measure_group, plain_classifier, text_pipeline
from fastbert.tools.bench_report import Targets, references_table, results_table, target_checks
from fastbert.tools.bench_timing import (Workload, build_workloads, evenly_spaced, interleaved, median, paired_ratio,
                                   plan_repeats, synthetic_texts)
from fastbert.data import TextDataset
from fastbert.evaluate import all_layer_outputs, sweep
from fastbert.options import from_args
from tiny import WORDS, tiny_model

ROOT = Path(__file__).resolve().parents[1]


def _app_latency():
    spec = importlib.util.spec_from_file_location("app_latency", ROOT / "benchmarks" / "app_latency.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class FakeClock:
    """A clock that only moves when a run says how long it took."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_interleaved_is_round_robin_with_rotation_and_untimed_warmup():
    clock, calls = FakeClock(), []

    def run(name, seconds):
        def go():
            calls.append(name)
            clock.now += seconds
        return go

    times = interleaved({"a": run("a", 1.0), "b": run("b", 2.0), "c": run("c", 3.0)}, repeats=3, clock=clock)
    assert calls == list("abc") + list("abc") + list("bca") + list("cab")
    assert times == {"a": [1.0] * 3, "b": [2.0] * 3, "c": [3.0] * 3}


def test_slow_runs_get_fewer_repeats_but_at_least_the_minimum():
    clock = FakeClock()

    def run(seconds):
        def go():
            clock.now += seconds
        return go

    times = interleaved({"fast": run(0.1), "slow": run(10.0)}, repeats=5, min_repeats=3,
                        seconds_per_config=15.0, clock=clock)
    assert len(times["fast"]) == 5 and len(times["slow"]) == 3


def test_plan_repeats_is_bounded_and_never_grows_with_warmup_time():
    counts = [plan_repeats(w, 7, 2, 10.0) for w in (0.001, 0.5, 1.5, 2.0, 4.0, 9.0, 100.0)]
    assert all(2 <= c <= 7 for c in counts)
    assert counts == sorted(counts, reverse=True)
    assert counts[0] == 7 and counts[-1] == 2
    assert plan_repeats(100.0, 1, 3, 1.0) == 1  # min_repeats never exceeds repeats


def test_median():
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5
    with pytest.raises(ValueError):
        median([])


@pytest.mark.parametrize("n,k", [(10, 4), (872, 300), (5, 5), (5, 9), (7, 0), (3, 1)])
def test_evenly_spaced_rows(n, k):
    rows = evenly_spaced(n, k)
    assert len(rows) == (n if k <= 0 or k >= n else k)
    assert rows == sorted(set(rows)) and rows[0] == 0 and rows[-1] < n


@pytest.mark.parametrize("num_tokens", [3, 8, 17, 32])
def test_synthetic_texts_have_exactly_the_asked_token_count(model, num_tokens):
    texts = synthetic_texts(model.tokenizer, WORDS, num_tokens, count=5)
    assert len(texts) == 5 and len(set(texts)) > 1
    assert [len(ids) for ids in model.tokenizer(texts)["input_ids"]] == [num_tokens] * 5


def test_synthetic_texts_need_a_single_token_word(model):
    with pytest.raises(ValueError, match="single-token"):
        synthetic_texts(model.tokenizer, ["good.", "bad!"], 8, 1)  # two tokens each



@pytest.mark.parametrize("model_type", ["bert", "roberta"])
def test_plain_model_runs_the_same_encoder(tmp_path, texts, model_type):
    """Reference (b) has FastBERT's encoder weights: its last hidden state is FastBERT's."""
    m = tiny_model(tmp_path, model_type=model_type)
    hf = plain_classifier(m)
    enc = m.tokenize(texts)
    ids, mask, types = m.collate(enc, range(len(texts)))
    types = types if m.encoder.uses_token_types else None
    with torch.inference_mode():
        ours = m.hidden_states(ids, mask, types)[-1]
        theirs = hf.base_model(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state
        assert hf(input_ids=ids, attention_mask=mask, token_type_ids=types).logits.shape == (len(texts), 2)
    real = mask.bool()
    assert torch.allclose(ours[real], theirs[real], atol=1e-5)
    assert hf.config.id2label == {0: "negative", 1: "positive"}


def test_pipeline_reference_classifies_texts(model, texts):
    pipe = text_pipeline(model, plain_classifier(model))
    out = pipe(texts, batch_size=4, truncation=True, max_length=model.config.max_length)
    assert len(out) == len(texts) and {o["label"] for o in out} <= {"negative", "positive"}


def _labeled(texts):
    return TextDataset(list(texts), ["1" if i % 2 else "0" for i in range(len(texts))], "tiny/dev.tsv")


def test_measure_group_summarises_every_speed_consistently(model, texts):
    cfg = BenchConfig(model="unused", repeats=2, min_repeats=1, speeds=[0.0, 0.5, 0.9])
    group = measure_group(model, plain_classifier(model), None, Workload("tiny", _labeled(texts), 4), cfg,
                          log=lambda s: None)
    assert [r.speed for r in group.rows] == [0.0, 0.5, 0.9]
    assert group.samples == len(texts) and group.pipeline_ms is None
    speed0 = group.row(0.0)
    assert speed0.mean_exit_layer == model.num_layers and speed0.vs_speed0 == 1.0
    for r in group.rows:
        assert r.exit_mismatches == 0  # the timed run made the library's decisions
        assert r.repeats == 2 and 0.0 <= r.accuracy <= 1.0
        # speedups are ratios within rounds (paired_ratio): positive, finite, and 1 for speed 0 itself
        assert 0 < r.vs_speed0 < float("inf") and 0 < r.vs_plain < float("inf")
    assert group.speed0_over_plain == pytest.approx(1 / speed0.vs_plain)
    exits = [r.mean_exit_layer for r in group.rows]
    flops = [r.flops_speedup for r in group.rows]
    assert exits == sorted(exits, reverse=True) and flops == sorted(flops)
    assert exits[-1] < exits[0]  # the tiny model does exit early, so the rows differ


def test_workloads_cover_data_and_lengths(model, texts):
    cfg = BenchConfig(model="unused", lengths=[8, 16], batch_sizes=[1, 4], b1_samples=3, synthetic_samples=2)
    works = build_workloads(cfg, model, _labeled(texts))
    assert [(len(w.data), w.batch_size) for w in works] == [(3, 1), (len(texts), 4), (2, 1), (2, 4), (2, 1), (2, 4)]
    assert works[0].data.raw_labels is not None and works[2].data.raw_labels is None
    assert "3 of 9 rows" in works[0].name


def _group(workload, bs, speed0_ms, plain_ms, ms_05, flops_05):
    def row(speed, ms, flops):
        return SpeedRow(speed, 0.9, 3.0, flops, ms, 3, speed0_ms / ms, plain_ms / ms, None, 0)
    return GroupResult(workload, bs, 10, 20.0, 0.1, 0.05, plain_ms, None, {"plain": 3},
                       [row(0.0, speed0_ms, 0.96), row(0.5, ms_05, flops_05)])


TARGETS_FILE = Path(__file__).parents[1] / "benchmarks" / "bench_targets.json"
TARGETS = Targets(source="a test", speed=0.5, overhead=1.10, wall_over_flops={1: 0.85, 32: 0.75},
                  wall_over_flops_gpu={1: 0.85, 32: 0.60}, app_p50_ms=60.0, ort_overhead=1.15,
                  ort_speedup={1: 2.5, 32: 2.3}, app_p50_ms_ort=8.0)


def test_targets_file_loads_and_names_a_missing_key(tmp_path):
    shipped = Targets.load(TARGETS_FILE)
    assert shipped.wall_over_flops[32] == 0.75 and set(shipped.ort_speedup) == {1, 32}
    (tmp_path / "t.json").write_text('{"source": "x", "speed": 0.5}')
    with pytest.raises(ValueError, match="overhead"):
        Targets.load(tmp_path / "t.json")


def test_target_checks_follow_the_limits():
    ok = _group("sst2/dev.tsv", 32, speed0_ms=1.05, plain_ms=1.0, ms_05=0.4, flops_05=3.0)  # 2.5/3 = 83%
    bad = _group("sst2/dev.tsv (300 of 872 rows)", 1, speed0_ms=1.2, plain_ms=1.0, ms_05=0.5, flops_05=3.0)  # 67%
    synth = _group("synthetic, 8 tokens", 1, speed0_ms=5.0, plain_ms=1.0, ms_05=5.0, flops_05=3.0)
    result = BenchResult({}, "", {"device": "cpu"}, [ok, bad, synth],
                         {"single": {"server_ms": {"p50": 12.0, "p95": 20.0}}}, [])
    checks = target_checks(result, TARGETS)
    assert [met for _, _, met in checks] == [True, True, False, False, True]
    assert not any("synthetic" in what for what, _, _ in checks)
    gpu = BenchResult({}, "", {"device": "cuda"}, [_group("d", 32, 1.0, 1.0, 0.45, 3.0)], None, [])  # 74%
    assert [met for _, _, met in target_checks(gpu, TARGETS)] == [True, True]  # 60% on a GPU


def test_tables_have_one_row_per_speed_and_group():
    groups = [_group("a", 1, 1.0, 1.0, 0.5, 2.0), _group("b", 32, 1.0, 1.0, 0.5, 2.0)]
    for table, rows in ((results_table(groups), 4), (references_table(groups), 2)):
        lines = table.splitlines()
        assert len(lines) == 2 + rows
        assert len({line.count("|") for line in lines}) == 1  # every row has every column


def test_bench_command_writes_report_and_json(tmp_path, texts):
    m = tiny_model(tmp_path)
    m.save_pretrained(tmp_path / "model")
    data = tmp_path / "dev.tsv"
    data.write_text("sentence\tlabel\n" + "".join(f"{t}\t{i % 2}\n" for i, t in enumerate(texts)))
    out, js = tmp_path / "bench.md", tmp_path / "bench.json"
    threads = torch.get_num_threads()
    code = cli.main(["bench", "--model", str(tmp_path / "model"), "--data", str(data), "--lengths", "8",
                     "--synthetic-samples", "3", "--b1-samples", "4", "--batch-sizes", "1,4", "--repeats", "1",
                     "--min-repeats", "1", "--threads", "1", "--no-app", "--out", str(out), "--json", str(js),
                     "--targets", str(TARGETS_FILE)])
    assert code == 0 and torch.get_num_threads() == threads
    result = json.loads(js.read_text())
    name = f"{tmp_path.name}/dev.tsv"
    assert [(g["workload"].split(" ")[0], g["batch_size"]) for g in result["groups"]] == [
        (name, 1), (name, 4), ("synthetic,", 1), ("synthetic,", 4)]
    for g in result["groups"]:
        assert [r["speed"] for r in g["rows"]] == [0.0, 0.1, 0.3, 0.5, 0.8]
        assert g["pipeline_ms"] is not None and g["tokenize_ms"] > 0
    assert result["machine"]["torch_threads"] == 1 and result["machine"]["logical_cpus"] == os.cpu_count()
    report = out.read_text()
    assert "| target | measured | met |" in report and f"From `{TARGETS_FILE}`" in report
    assert report.count(f"| {name}") == 2 * 5 + 2  # speed rows + reference rows
    assert f"--model {tmp_path / 'model'}" in report and "--repeats 1" in report
    # The command printed in the report parses back to the same configuration.
    command = next(line for line in report.splitlines() if line.startswith("Command: "))[len("Command: `"):-1]
    again = cli.build_parser().parse_args(shlex.split(command)[3:])
    assert from_args(BenchConfig, again) == BenchConfig(**result["config"])


def test_bench_names_a_missing_app_script_before_any_work(tmp_path, capsys):
    tiny_model(tmp_path).save_pretrained(tmp_path / "model")
    assert cli.main(["bench", "--model", str(tmp_path / "model"), "--app-script", str(tmp_path / "no.py")]) == 2
    err = capsys.readouterr().err
    assert "no.py: no app latency script" in err and "--no-app" in err


def test_bench_command_rejects_a_missing_model(tmp_path, capsys):
    assert cli.main(["bench", "--model", str(tmp_path / "nope"), "--no-app"]) == 2
    assert "no such model directory" in capsys.readouterr().err


def test_percentile_is_nearest_rank():
    app = _app_latency()
    values = [float(v) for v in range(1, 101)]
    assert app.percentile(values, 50) == 50.0 and app.percentile(values, 95) == 95.0
    assert app.percentile([7.0], 95) == 7.0
    assert app.percentile([3.0, 1.0, 2.0], 100) == 3.0
    with pytest.raises(ValueError):
        app.percentile([], 50)


def test_memory_of_this_process_is_read_from_proc():
    app = _app_latency()
    mem = app.memory_kb(os.getpid())
    assert 0 < mem["VmRSS"] <= mem["VmHWM"]


def test_paired_ratio_divides_within_rounds_and_skips_missing_ones():
    # A machine that slows down 10x in round 2: the ratio of medians would mix rounds, the
    # paired ratio does not.
    times = {"fast": [1.0, 10.0, 1.0], "slow": [2.0, 20.0, 2.0], "few": [4.0], "tok": [1.0, 10.0, 1.0]}
    assert paired_ratio(times, "slow", "fast") == 2.0
    assert paired_ratio(times, "few", "fast") == 4.0  # only the round both ran
    assert paired_ratio(times, "slow", ["fast", "tok"]) == 1.0  # a sum of runs on one side


@pytest.mark.parametrize("calibrated", [True, False])
def test_timed_runs_take_the_reported_exits_on_a_calibrated_model(tmp_path, texts, calibrated):
    """With temperatures set, the timed runs and the reported figures use the same exits, both
    calibrated (the default) or both the paper's (--no-calibration)."""
    m = tiny_model(tmp_path)
    m.config.temperatures = [100.0, 100.0, 1.0]  # students made unsure: the two readings exit differently
    cfg = BenchConfig(model="unused", repeats=1, min_repeats=1, speeds=[0.0, 0.3, 0.6], onnxruntime=False,
                      calibrated=calibrated)
    group = measure_group(m, plain_classifier(m), None, Workload("tiny", _labeled(texts), 4), cfg, log=lambda s: None)
    assert all(r.exit_mismatches == 0 for r in group.rows)
    expected = [r.mean_exit_layer for r in sweep(m, all_layer_outputs(m, _labeled(texts), calibrated=calibrated),
                                                 [0.0, 0.3, 0.6])]
    other = [r.mean_exit_layer for r in sweep(m, all_layer_outputs(m, _labeled(texts), calibrated=not calibrated),
                                              [0.0, 0.3, 0.6])]
    assert [r.mean_exit_layer for r in group.rows] == pytest.approx(expected)
    assert expected != pytest.approx(other)  # the test would see a run that ignored the setting
