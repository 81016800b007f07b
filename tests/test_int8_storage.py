"""int8 storage (save_pretrained(dtype=torch.int8)): the layers' weight matrices as int8 with a
scale per group of GROUP (32) weights of a row (per row where GROUP does not divide it), everything else float16; loading gives float32 weights within half a step of
the originals, and a file whose scales and matrices do not pair up is refused by name."""
import pytest
import torch
from safetensors.torch import load_file, save_file

from fastbert.checkpoint import CheckpointError
from fastbert.int8_storage import GROUP, SCALE_SUFFIX, dequantize, quantize
from fastbert.model import FastBert


def test_quantize_is_round_to_nearest_per_row():
    """One group per row, against the formula and against torch's own per-channel quantizer
    where it still exists."""
    w = torch.randn(5, 7, generator=torch.Generator().manual_seed(0))
    w[3] = 0.0
    stored = quantize("m", w)  # GROUP does not divide 7 columns: one scale per row
    q, scale = stored["m"], stored["m" + SCALE_SUFFIX]
    assert q.dtype == torch.int8 and scale.shape == (5, 1)
    expected_scale = torch.where(w.abs().amax(1) > 0, w.abs().amax(1) / 127, torch.ones(5))
    assert torch.allclose(scale[:, 0], expected_scale)
    assert torch.equal(q, torch.round(w / expected_scale[:, None]).clamp(-127, 127).to(torch.int8))
    if hasattr(torch, "quantize_per_channel"):
        ref = torch.quantize_per_channel(w, expected_scale.double(), torch.zeros(5, dtype=torch.long), 0, torch.qint8)
        assert torch.equal(q, ref.int_repr())
    back = dequantize(stored)["m"]
    assert (back - w).abs().max() <= scale.max() / 2 + 1e-7
    assert torch.equal(back[3], torch.zeros(7))
    # a file from before groups: scales of shape (rows,) load to the same weights
    assert torch.equal(dequantize({"m": q, "m" + SCALE_SUFFIX: scale[:, 0]})["m"], back)


def test_quantize_groups_scale_each_run_of_group_weights():
    g = GROUP
    w = torch.randn(3, 3 * g, generator=torch.Generator().manual_seed(1))
    w[1, g:2 * g] *= 50.0  # an outlier group: it must not coarsen the rest of its row
    w[2, :g] = 0.0
    stored = quantize("m", w)
    q, scale = stored["m"], stored["m" + SCALE_SUFFIX]
    assert scale.shape == (3, 3)
    for r in range(3):
        for k in range(3):
            block = w[r, g * k: g * (k + 1)]
            s = block.abs().max() / 127 if block.abs().max() > 0 else torch.tensor(1.0)
            assert torch.isclose(scale[r, k], s)
            assert torch.equal(q[r, g * k: g * (k + 1)], torch.round(block / s).clamp(-127, 127).to(torch.int8))
    back = dequantize(stored)["m"]
    err = (back - w).abs()
    assert torch.equal(back[2, :g], torch.zeros(g))
    assert err[1, :g].max() <= scale[1, 0] / 2 + 1e-7 and err[1, 2 * g:].max() <= scale[1, 2] / 2 + 1e-7
    per_row = dequantize(quantize("m", w, group=None))["m"]
    assert (per_row - w)[1, :g].abs().max() > 10 * err[1, :g].max()  # what one scale per row would cost
    with pytest.raises(ValueError, match="int8_scale: shape"):  # 5 groups do not divide 3 * GROUP columns
        dequantize({"m": q, "m" + SCALE_SUFFIX: torch.ones(3, 5)})


def test_int8_checkpoint_round_trip(model, texts, tmp_path):
    model.save_pretrained(tmp_path / "q", dtype=torch.int8)
    stored = load_file(str(tmp_path / "q" / "model.safetensors"))
    matrices = [k for k, v in stored.items() if v.dtype == torch.int8]
    layer_matrices = {k for k, v in model.state_dict().items() if k.startswith("encoder.") and ".layer." in k
                      and v.dim() == 2}
    assert set(matrices) == layer_matrices
    assert {k for k, v in stored.items() if v.dtype == torch.float32} == {k + SCALE_SUFFIX for k in matrices}
    rest = {k: v for k, v in stored.items() if k not in matrices and not k.endswith(SCALE_SUFFIX)}
    assert all(v.dtype == torch.float16 for v in rest.values() if v.is_floating_point())
    loaded = FastBert.from_pretrained(tmp_path / "q")
    before, after = model.state_dict(), loaded.state_dict()
    for k in matrices:
        step = stored[k + SCALE_SUFFIX].max()
        assert (after[k] - before[k]).abs().max() <= step / 2 + 1e-6, k
    a, b = model.predict(texts, speed=0.0), loaded.predict(texts, speed=0.0)
    assert max(abs(x - y) for p, r in zip(a, b) for x, y in zip(p.probs, r.probs)) < 0.02
    loaded.save_pretrained(tmp_path / "again", dtype=torch.int8)  # a re-save stores the same values
    again = load_file(str(tmp_path / "again" / "model.safetensors"))
    assert again.keys() == stored.keys() and all(torch.equal(again[k], stored[k]) for k in stored)


def test_unpaired_scale_is_refused_by_name(model, tmp_path):
    model.save_pretrained(tmp_path / "q", dtype=torch.int8)
    path = tmp_path / "q" / "model.safetensors"
    stored = load_file(str(path))
    name = next(k for k in stored if k.endswith(SCALE_SUFFIX))
    matrix = name[: -len(SCALE_SUFFIX)]
    with pytest.raises(ValueError, match="no int8 matrix"):
        dequantize({k: v for k, v in stored.items() if k != matrix})
    with pytest.raises(ValueError, match="without a .int8_scale"):
        dequantize({k: v for k, v in stored.items() if k != name})
    for bad in (torch.tensor(1.0), stored[name][:-1], -stored[name]):
        with pytest.raises(ValueError, match="int8_scale: shape"):
            dequantize({**stored, name: bad})
    save_file({k: v for k, v in stored.items() if k != name}, str(path))  # the matrix without its scale
    with pytest.raises(CheckpointError, match="without a .int8_scale"):
        FastBert.from_pretrained(tmp_path / "q")
    del stored[matrix]
    save_file(stored, str(path))
    with pytest.raises(CheckpointError, match=f"missing: {matrix}"):
        FastBert.from_pretrained(tmp_path / "q")
