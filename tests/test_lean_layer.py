"""The inference-only layer path computes what the Hugging Face layer computes."""
import pytest
import torch
from tiny import tiny_backbone_config
from transformers import AutoModel

from fastbert import backbone as backbone_module
from fastbert.backbone import LayerwiseEncoder


def encoder(model_type="bert", attn="sdpa", **overrides):
    torch.manual_seed(0)
    config = tiny_backbone_config(model_type, **overrides)
    enc = LayerwiseEncoder(AutoModel.from_config(config, add_pooling_layer=False, attn_implementation=attn))
    # BERT's initialisation (std 0.02, unit layer norms) leaves the feed-forward and layer-norm
    # parameters nearly invisible in the output; random ones make every weight count.
    with torch.no_grad():
        for p in enc.model.encoder.parameters():
            p.normal_(0.0, 0.3)
    return enc.eval()


def batch(padded: bool):
    ids = torch.randint(5, 99, (3, 9))
    mask = torch.ones(3, 9, dtype=torch.long)
    if padded:
        mask[1, 5:] = 0
        mask[2, 2:] = 0
    return ids, mask


def hf_layer(enc, i, hidden, layer_mask):
    out = enc.model.encoder.layer[i](hidden, attention_mask=layer_mask)
    return out[0] if isinstance(out, tuple) else out


@pytest.mark.parametrize("model_type,attn", [("bert", "sdpa"), ("bert", "eager"), ("roberta", "sdpa")])
@pytest.mark.parametrize("padded", [False, True])
def test_lean_layers_equal_hugging_face_layers(model_type, attn, padded):
    enc = encoder(model_type, attn)
    assert enc.runs_lean()
    ids, mask = batch(padded)
    with torch.inference_mode():
        hidden = enc.embed(ids)
        layer_mask = enc.layer_mask(hidden, mask)
        assert (layer_mask is None) == (not padded)
        for i in range(enc.num_layers):
            expected = hf_layer(enc, i, hidden, layer_mask)
            got = enc.run_layer(i, hidden, mask, layer_mask)
            real = mask.bool()  # padded positions' outputs are never read
            torch.testing.assert_close(got[real], expected[real], atol=1e-5, rtol=1e-5)
            hidden = expected


def test_inference_takes_the_lean_path_and_training_does_not(model, texts, monkeypatch):
    calls = []
    original = backbone_module.lean_layer_forward

    def counting(*args):
        calls.append(1)
        return original(*args)

    monkeypatch.setattr(backbone_module, "lean_layer_forward", counting)
    model.predict(texts[:2], speed=0.0)
    assert len(calls) == model.num_layers  # one batch of two, every layer at speed 0
    calls.clear()
    ids, mask = batch(False)
    model.train()
    try:
        model(ids, mask).teacher_logits.sum().backward()  # training: autograd and dropout
        with torch.no_grad():
            model(ids, mask)  # train mode without grad (frozen backbone while distilling)
    finally:
        model.eval()
        model.zero_grad()
    assert calls == []


def test_weight_updates_are_seen(model):
    """The stacked query/key/value weights are cached; an in-place update must refresh them."""
    enc = model.encoder.eval()
    ids, mask = batch(False)
    query = enc.model.encoder.layer[0].attention.self.query.weight
    saved = query.detach().clone()
    try:
        with torch.inference_mode():
            hidden = enc.embed(ids)
            before = enc.run_layer(0, hidden, mask, None)
        with torch.no_grad():
            query.mul_(3.0)
        with torch.inference_mode():
            after = enc.run_layer(0, hidden, mask, None)
            torch.testing.assert_close(after, hf_layer(enc, 0, hidden, None), atol=1e-5, rtol=1e-5)
        assert not torch.allclose(before, after)
    finally:
        with torch.no_grad():
            query.copy_(saved)


def test_unsupported_layers_fall_back():
    assert not encoder(chunk_size_feed_forward=4).runs_lean()
    enc = encoder()
    assert enc.runs_lean()
    enc.model.config._attn_implementation = "flex_attention"  # switched after the first use
    assert not enc.runs_lean()
    enc.model.config._attn_implementation = "eager"
    assert enc.runs_lean()


def assert_layers_match(enc, padded=True):
    """run_layer (whichever path it takes) equals transformers' layer, layer by layer."""
    ids, mask = batch(padded)
    with torch.inference_mode():
        hidden = enc.embed(ids)
        layer_mask = enc.layer_mask(hidden, mask)
        for i in range(enc.num_layers):
            expected = hf_layer(enc, i, hidden, layer_mask)
            real = mask.bool()
            torch.testing.assert_close(enc.run_layer(i, hidden, mask, layer_mask)[real], expected[real],
                                       atol=1e-5, rtol=1e-5)
            hidden = expected


def test_replaced_sub_module_is_seen():
    enc = encoder()
    assert_layers_match(enc)  # fills the caches
    layer = enc.model.encoder.layer[0]
    new = torch.nn.Linear(32, 32)
    with torch.no_grad():
        new.weight.normal_(0.0, 0.3)
    layer.attention.self.query = new
    assert_layers_match(enc)


class Wrapped(torch.nn.Module):
    """A linear wrapped as adapters and quantizers wrap them: no `weight` of its own."""

    def __init__(self, base):
        super().__init__()
        self.base_layer = base

    def forward(self, x):
        return 2.0 * self.base_layer(x)


def test_wrapped_linears_run_as_themselves():
    enc = encoder()
    assert_layers_match(enc)
    layer = enc.model.encoder.layer[1]
    layer.intermediate.dense = Wrapped(layer.intermediate.dense)
    assert not enc.runs_lean()
    assert_layers_match(enc)


def test_forward_hooks_still_run():
    enc = encoder()
    assert_layers_match(enc)
    seen = []
    handle = enc.model.encoder.layer[1].output.register_forward_hook(lambda m, i, o: seen.append(o.shape))
    try:
        assert not enc.runs_lean()
        ids, mask = batch(False)
        with torch.inference_mode():
            hidden = enc.embed(ids)
            for i in range(enc.num_layers):
                hidden = enc.run_layer(i, hidden, mask, None)
        assert seen == [hidden.shape]
    finally:
        handle.remove()
    assert enc.runs_lean()


def test_model_caches_are_dropped_on_mode_switch_and_on_request(model, texts):
    """Edits through `.data` bypass the version counter: a mode switch or
    `clear_inference_cache()` makes inference see them."""
    query = model.encoder.model.encoder.layer[0].attention.self.query.weight
    saved = query.detach().clone()

    def probs():
        return [p.layer_probs for p in model.predict(texts[:3], speed=0.0)]

    try:
        before = probs()
        query.data.mul_(3.0)
        model.clear_inference_cache()
        changed = probs()
        assert changed != before
        query.data.copy_(saved)
        model.train()
        model.eval()
        assert probs() == before
    finally:
        query.data.copy_(saved)
        model.clear_inference_cache()
        model.eval()
