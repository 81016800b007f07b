"""LayerClassifier: the inference form (fused weight products) is the training form."""
import pytest
import torch

from fastbert.classifier import LayerClassifier


def _inputs():
    torch.manual_seed(0)
    hidden = torch.randn(5, 7, 48)
    mask = torch.ones(5, 7, dtype=torch.long)
    mask[1, 4:] = 0
    mask[3, 2:] = 0
    return hidden, mask


def test_inference_form_equals_training_form():
    clf = LayerClassifier(48, 3, width=16, heads=4)
    hidden, mask = _inputs()
    trained_form = clf(hidden, mask)  # grad enabled: the unfused computation
    assert trained_form.requires_grad
    with torch.inference_mode():
        fused = clf(hidden, mask)
    torch.testing.assert_close(fused, trained_form.detach(), atol=1e-5, rtol=1e-5)
    # no padding: mask=None and an all-ones mask give the same logits
    with torch.no_grad():
        torch.testing.assert_close(clf(hidden, None), clf(hidden, torch.ones(5, 7)), atol=1e-6, rtol=1e-6)


def test_inference_weights_follow_parameter_updates():
    clf = LayerClassifier(48, 2, width=16, heads=2)
    hidden, mask = _inputs()
    with torch.no_grad():
        before = clf(hidden, mask)
        first = clf.inference_weights()
        assert clf.inference_weights().query_key_weight is first.query_key_weight  # cached while nothing changes
        clf.value.bias.add_(0.5)  # in place, as an optimizer step
        clf.query.weight.mul_(1.5)
        after = clf(hidden, mask)
    assert clf.inference_weights().query_key_weight is not first.query_key_weight
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, clf(hidden, mask).detach(), atol=1e-5, rtol=1e-5)
    # new storage (load_state_dict into a fresh module) is noticed too
    other = LayerClassifier(48, 2, width=16, heads=2)
    other.load_state_dict(clf.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(other(hidden, mask), after, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("replace", ["assign", "parameter", "half"])
def test_inference_weights_follow_replaced_parameters(replace):
    clf = LayerClassifier(48, 2, width=16, heads=2)
    hidden, mask = _inputs()
    with torch.no_grad():
        clf(hidden, mask)  # fills the cache
    new = {k: torch.randn_like(v) for k, v in clf.state_dict().items()}
    if replace == "assign":
        clf.load_state_dict(new, assign=True)
    elif replace == "parameter":
        clf.dense.weight = torch.nn.Parameter(new["dense.weight"])
    else:
        clf.half().float()  # converted away and back: new storage, same values
    expected = clf(hidden, mask).detach()  # training form, always from the current weights
    with torch.no_grad():
        torch.testing.assert_close(clf(hidden, mask), expected, atol=1e-5, rtol=1e-5)


def test_sub_module_hooks_and_replacements_are_honoured():
    clf = LayerClassifier(48, 2, width=16, heads=2)
    hidden, mask = _inputs()
    with torch.no_grad():
        clf(hidden, mask)  # fills the cache
    seen = []
    handle = clf.dense.register_forward_hook(lambda m, i, o: seen.append(o.shape))
    with torch.no_grad():
        clf(hidden, mask)
    handle.remove()
    assert seen == [(5, 16)]
    clf.dense = torch.nn.Linear(16, 16)  # a new module, after the cache was filled
    expected = clf(hidden, mask).detach()
    with torch.no_grad():
        torch.testing.assert_close(clf(hidden, mask), expected, atol=1e-5, rtol=1e-5)
