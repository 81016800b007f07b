"""ONNX segments and the onnxruntime runtime: each segment equals the PyTorch modules, `predict`
on ONNX Runtime equals PyTorch's, and the export cache is reused and rebuilt when it should be."""
import random
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")

from fastbert import FastBert, cli  # noqa: E402
from fastbert.inference import TorchRunner  # noqa: E402
from fastbert.onnx_export import ExportManifest, export_segments, model_key  # noqa: E402
from fastbert.ort_runtime import OrtOptions, cache_root, load_runner, new_session  # noqa: E402
from tiny import WORDS, tiny_model  # noqa: E402

TOL = 1e-4
# For the tiny model and these texts: layer 1 uncertainties lie in [0.78, 1], layer 2 in [0.06,
# 0.08], so this speed sends some samples out at layer 1 and the others at layer 2.
SPLIT = 0.85


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_model(tmp_path_factory.mktemp("tiny_onnx"))


@pytest.fixture(scope="module")
def exported(tiny, tmp_path_factory):
    directory = tmp_path_factory.mktemp("segments") / "onnx"
    return directory, export_segments(tiny, directory)


@pytest.fixture(scope="module")
def many_texts():
    rng = random.Random(0)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 30))) for _ in range(70)]


def _random_batch(model, padded: bool, batch=4, length=11, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, model.encoder.config.vocab_size, (batch, length), generator=g)
    types = torch.randint(0, 2, (batch, length), generator=g)
    mask = torch.ones(batch, length, dtype=torch.long)
    if padded:
        for row, n in enumerate([length, 3, 7, 1][:batch]):
            mask[row, n:] = 0
    return ids, types, mask


@pytest.mark.parametrize("padded", [False, True])
def test_every_segment_equals_the_pytorch_modules(tiny, exported, padded):
    directory, manifest = exported
    ids, types, mask = _random_batch(tiny, padded)
    torch_run = TorchRunner(tiny)
    with torch.inference_mode():
        want = torch_run.embed(ids, types)
    got = new_session(directory / "embeddings.onnx", OrtOptions()).run(
        None, {"input_ids": ids.numpy(), "token_type_ids": types.numpy()})[0]
    np.testing.assert_allclose(got, want.numpy(), atol=TOL)
    hidden = torch.randn(want.shape, generator=torch.Generator().manual_seed(1))
    real = mask.bool()
    for i in range(tiny.num_layers):
        with torch.inference_mode():
            layer_mask = torch_run.layer_mask(hidden, mask, padded)
            want_h, want_p = torch_run.step(i, hidden, mask, padded, layer_mask, temperature=1.7)
        session = new_session(directory / manifest.layer_file(i), OrtOptions())
        got_h, got_p = session.run(None, {"hidden": hidden.numpy(), "mask": mask.numpy(),
                                          "temperature": np.array([1.7], dtype=np.float32)})
        # Padding positions hold whatever each runtime leaves there; only real tokens are read.
        np.testing.assert_allclose(got_h[real.numpy()], want_h[real].numpy(), atol=TOL)
        np.testing.assert_allclose(got_p, want_p.numpy(), atol=TOL)


def _same(a, b, compute_all=False):
    assert [p.label for p in a] == [p.label for p in b]
    assert [p.exit_layer for p in a] == [p.exit_layer for p in b]
    for x, y in zip(a, b):
        assert x.probs == pytest.approx(y.probs, abs=TOL)
        assert x.uncertainties == pytest.approx(y.uncertainties, abs=TOL)
        assert x.flops == y.flops and x.full_flops == y.full_flops
        if compute_all:
            assert x.all_uncertainties == pytest.approx(y.all_uncertainties, abs=TOL)


@pytest.mark.parametrize("io_binding", [False, True])
@pytest.mark.parametrize("batch_size", [1, 32])
def test_predict_on_onnxruntime_equals_pytorch(tiny, exported, many_texts, batch_size, io_binding):
    runner = load_runner(tiny, exported[0], options=OrtOptions(io_binding=io_binding, threads=1))
    assert runner.source == "directory"
    want = tiny.predict(many_texts, speed=SPLIT, batch_size=batch_size)
    tiny._ort = runner
    try:
        assert tiny.runtime == "onnxruntime"
        got = tiny.predict(many_texts, speed=SPLIT, batch_size=batch_size)
    finally:
        tiny.set_runtime("pytorch")
    assert len({p.exit_layer for p in want}) > 1  # the test means something only if exits vary
    _same(got, want)


def test_compute_all_on_onnxruntime_equals_pytorch(tiny, exported, many_texts):
    want = tiny.predict(many_texts[:20], speed=SPLIT, batch_size=8, compute_all=True)
    tiny.set_runtime("onnxruntime", onnx_dir=exported[0])
    try:
        got = tiny.predict(many_texts[:20], speed=SPLIT, batch_size=8, compute_all=True)
    finally:
        tiny.set_runtime("pytorch")
    _same(got, want, compute_all=True)


class _Untouchable:
    def run(self, *args, **kwargs):
        raise AssertionError("a segment ran, but a lone sample should take the exit graph")


@pytest.mark.parametrize("calibrated", [False, True])
def test_a_lone_sample_runs_in_one_call_of_the_exit_graph(tiny, exported, many_texts, calibrated):
    tiny.config.temperatures = [0.9, 1.1, 1.0][:tiny.num_layers] if calibrated else None
    try:
        want = tiny.predict(many_texts, speed=SPLIT, batch_size=1)
        want_all = tiny.predict(many_texts[:10], speed=SPLIT, batch_size=1, compute_all=True)
        runner = load_runner(tiny, exported[0], options=OrtOptions(threads=1))
        assert runner.exit_session is not None
        runner.embedding = _Untouchable()
        runner.layers = [_Untouchable()] * tiny.num_layers
        tiny._ort = runner
        got = tiny.predict(many_texts, speed=SPLIT, batch_size=1)
        got_all = tiny.predict(many_texts[:10], speed=SPLIT, batch_size=1, compute_all=True)
        with pytest.raises(AssertionError, match="segment ran"):  # batches still use the segments
            tiny.predict(many_texts[:3], speed=SPLIT, batch_size=3)
    finally:
        tiny.config.temperatures = None
        tiny.set_runtime("pytorch")
    assert len({p.exit_layer for p in want}) > 1
    _same(got, want)
    _same(got_all, want_all, compute_all=True)


def test_without_the_exit_graph_a_lone_sample_runs_the_segments(tiny, exported, many_texts):
    runner = load_runner(tiny, exported[0], options=OrtOptions(threads=1, exit_graph=False))
    assert runner.exit_session is None and runner.exit_one(None, None, 0.5) is None
    want = tiny.predict(many_texts[:20], speed=SPLIT, batch_size=1)
    tiny._ort = runner
    try:
        got = tiny.predict(many_texts[:20], speed=SPLIT, batch_size=1)
    finally:
        tiny.set_runtime("pytorch")
    _same(got, want)


def test_cache_is_reused_and_rebuilt_when_the_weights_change(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTBERT_ONNX_CACHE", str(tmp_path / "cache"))
    assert cache_root() == tmp_path / "cache"
    model = tiny_model(tmp_path)
    model.save_pretrained(tmp_path / "m")
    first = FastBert.from_pretrained(tmp_path / "m", runtime="onnxruntime")
    assert first.runtime == "onnxruntime" and first._ort.source == "exported"
    files = sorted((tmp_path / "cache").rglob("*.onnx"))
    stamps = [f.stat().st_mtime_ns for f in files]
    second = FastBert.from_pretrained(tmp_path / "m", runtime="onnxruntime")
    assert second._ort.source == "cache" and second._ort.directory == first._ort.directory
    assert [f.stat().st_mtime_ns for f in files] == stamps
    with torch.no_grad():
        model.classifiers[0].out.bias.add_(1.0)
    model.save_pretrained(tmp_path / "m")
    third = FastBert.from_pretrained(tmp_path / "m", runtime="onnxruntime")
    assert third._ort.source == "exported" and third._ort.directory != first._ort.directory
    text = "the plot was very boring"
    _same(third.predict(text, speed=0.3), model.predict(text, speed=0.3))


def test_export_command_writes_what_from_pretrained_reads(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FASTBERT_ONNX_CACHE", str(tmp_path / "cache"))
    model = tiny_model(tmp_path)
    model.save_pretrained(tmp_path / "m")
    assert cli.main(["export", "--model", str(tmp_path / "m")]) == 0
    manifest = ExportManifest.read(tmp_path / "m" / "onnx")
    assert manifest.key == model_key(FastBert.from_pretrained(tmp_path / "m"))
    loaded = FastBert.from_pretrained(tmp_path / "m", runtime="onnxruntime")
    assert loaded._ort.source == "directory" and not (tmp_path / "cache").exists()


def test_a_stale_export_directory_is_not_used(tiny, exported, tmp_path):
    other = tiny_model(tmp_path, seed=1)
    runner = load_runner(other, exported[0], cache=tmp_path / "cache")
    assert runner.source == "exported" and runner.directory.parent == tmp_path / "cache"


def test_roberta_without_token_types(tmp_path, many_texts):
    model = tiny_model(tmp_path, model_type="roberta")
    want = model.predict(many_texts[:16], speed=SPLIT, batch_size=4)
    model.set_runtime("onnxruntime", cache=tmp_path / "cache")
    assert model._ort.manifest.embedding_inputs == ["input_ids"]
    _same(model.predict(many_texts[:16], speed=SPLIT, batch_size=4), want)


def test_bad_runtime_and_options_name_the_choices(tiny):
    with pytest.raises(ValueError, match="pytorch"):
        tiny.set_runtime("tensorrt")
    with pytest.raises(ValueError, match="level"):
        OrtOptions(level="max")


def test_the_app_runs_on_onnxruntime_and_says_so(tmp_path):
    from demo.api import classify
    from demo.models import ModelRegistry

    tiny_model(tmp_path).save_pretrained(tmp_path / "models" / "t")
    loaded = ModelRegistry.from_source(tmp_path / "models" / "t", models_dir=None).get()
    assert loaded.runtime == "onnxruntime"
    assert classify(loaded, "good film", 0.5)["runtime"] == "onnxruntime"


def test_the_app_falls_back_to_pytorch_with_a_one_line_notice(tmp_path, monkeypatch, capsys):
    import sys

    from demo.api import classify
    from demo.models import ModelRegistry

    tiny_model(tmp_path).save_pretrained(tmp_path / "models" / "t")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` raises ImportError
    loaded = ModelRegistry.from_source(tmp_path / "models" / "t", models_dir=None).get()
    assert loaded.runtime == "pytorch"
    assert classify(loaded, "good film", 0.5)["runtime"] == "pytorch"
    notice = capsys.readouterr().err.strip().splitlines()
    assert len(notice) == 1 and notice[0].startswith("notice:") and "PyTorch" in notice[0]


def test_bench_times_the_onnxruntime_contenders_in_the_same_rounds(tiny, many_texts):
    from fastbert.tools.bench import BenchConfig, BenchResult, measure_group, plain_classifier
    from fastbert.tools.bench_report import Targets, results_table, target_checks
    from fastbert.tools.bench_timing import Workload
    from fastbert.tools.bench_ort import build_contenders
    from fastbert.data import TextDataset

    ort = build_contenders(tiny, threads=1, log=lambda s: None)
    assert ort is not None and ort.runner.options.threads == 1
    cfg = BenchConfig(model="unused", repeats=2, min_repeats=1, speeds=[0.0, 0.5])
    data = TextDataset(many_texts[:12], ["1" if i % 2 else "0" for i in range(12)], "tiny/dev.tsv")
    group = measure_group(tiny, plain_classifier(tiny), None, Workload("tiny", data, 1), cfg,
                          log=lambda s: None, ort=ort)
    assert group.ort_full_ms > 0 and group.repeats["ort full"] == 2
    for r in group.rows:
        assert r.ort_ms > 0 and 0 < r.vs_ort_full < float("inf") and group.repeats[f"ort speed {r.speed:g}"] == 2
    targets = Targets.load(Path(__file__).parents[1] / "benchmarks" / "bench_targets.json")
    checks = [c for c in target_checks(BenchResult({}, "", {}, [group], None, []), targets) if "(d)" in c[0]]
    assert [c[0].split(":")[0] for c in checks] == ["(e) speed 0 at most 15% slower than (d) ORT full, batch 1",
                                                     "(e) batch 1, speed 0.5"]
    assert "(e) × vs (d) ORT full" in results_table([group])


def test_bench_skips_the_onnxruntime_contenders_without_onnxruntime(tiny, monkeypatch):
    import sys

    from fastbert.tools.bench_ort import build_contenders

    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    said = []
    assert build_contenders(tiny, threads=1, log=said.append) is None
    assert len(said) == 1 and "onnxruntime" in said[0]


def test_eval_on_onnxruntime_reports_what_pytorch_reports(tiny, many_texts, tmp_path, capsys):
    import json

    tiny.save_pretrained(tmp_path / "m")
    data = tmp_path / "d.tsv"
    data.write_text("text\tlabel\n" + "".join(f"{t}\t{i % 2}\n" for i, t in enumerate(many_texts)))
    out = {}
    for runtime in ("pytorch", "onnxruntime"):
        assert cli.main(["eval", "--model", str(tmp_path / "m"), "--data", str(data), "--speed", str(SPLIT),
                         "--json", "--runtime", runtime]) == 0
        out[runtime] = json.loads(capsys.readouterr().out)
        out[runtime].pop("seconds")
    assert out["onnxruntime"] == out["pytorch"] and len([n for n in out["pytorch"]["exit_histogram"] if n]) > 1


def test_the_loop_runs_torch_on_one_thread_and_restores_the_count(tiny, exported, many_texts, monkeypatch):
    seen = []
    runner = load_runner(tiny, exported[0], options=OrtOptions(threads=1))
    step = runner.step
    monkeypatch.setattr(runner, "step", lambda *a: seen.append(torch.get_num_threads()) or step(*a))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        tiny._ort = runner
        tiny.predict(many_texts[:5], speed=SPLIT)
        assert seen and set(seen) == {1} and torch.get_num_threads() == 2
    finally:
        tiny.set_runtime("pytorch")
        torch.set_num_threads(before)


def test_calibrated_probabilities_on_onnxruntime_equal_pytorch(tmp_path, many_texts):
    model = tiny_model(tmp_path)
    model.config.temperatures = [1.5, 0.7, 2.0]
    want = model.predict(many_texts[:24], speed=SPLIT, batch_size=8)
    raw = model.predict(many_texts[:24], speed=SPLIT, batch_size=8, calibrated=False)
    model.set_runtime("onnxruntime", cache=tmp_path / "cache")
    _same(model.predict(many_texts[:24], speed=SPLIT, batch_size=8), want)
    _same(model.predict(many_texts[:24], speed=SPLIT, batch_size=8, calibrated=False), raw)
    assert [p.probs for p in want] != [p.probs for p in raw]
