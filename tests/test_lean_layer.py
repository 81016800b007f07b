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
    assert enc.lean
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


def test_unsupported_layers_fall_back(monkeypatch):
    assert not encoder(chunk_size_feed_forward=4).lean
    enc = encoder()
    enc.lean = False  # as for an encoder family it does not know
    monkeypatch.setattr(backbone_module, "lean_layer_forward", lambda *a: pytest.fail("lean path taken"))
    ids, mask = batch(True)
    with torch.inference_mode():
        hidden = enc.embed(ids)
        enc.run_layer(0, hidden, mask)
