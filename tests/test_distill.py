"""Universal-KD and vanilla KD losses: the paper's formulas by hand (f = logits and f =
probabilities), lambda, CG, gradients."""
import json
import math

import pytest
import torch

from fastbert.training.kd import (DistillWeights, StudentSummary, distillation_loss, load_student_summary,
                              save_student_summary, universal_kd_loss, vanilla_kd_loss)


def _probs(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (3 * torch.randn(*shape, generator=g)).softmax(-1)


def _logits(*shape, seed=0, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(*shape, generator=g)


def _softmax(v):
    z = sum(math.exp(x) for x in v)
    return [math.exp(x) / z for x in v]


def _by_hand(teacher, student, space, tau=1.0):
    """l(j) for every student layer j and sample b, and lambda[b][j][i], with plain floats.
    space="logits": f are logits, F^t(j) mixes logits, l(j) = KL(softmax F^t(j) || softmax f_j^s);
    space="probs": f are probabilities, l(j) = KL(F^t(j) || f_j^s). lambda = softmax(dots / tau)."""
    N, B, C = len(teacher), len(teacher[0]), len(teacher[0][0])
    M = len(student)
    l, lam = [[0.0] * B for _ in range(M)], [[[0.0] * N for _ in range(M)] for _ in range(B)]
    for b in range(B):
        for j in range(M):
            dots = [sum(teacher[i][b][c] * student[j][b][c] for c in range(C)) / tau for i in range(N)]
            lam[b][j] = _softmax(dots)
            F = [sum(lam[b][j][i] * teacher[i][b][c] for i in range(N)) for c in range(C)]
            p, q = (_softmax(F), _softmax(student[j][b])) if space == "logits" else (F, student[j][b])
            l[j][b] = sum(p[c] * math.log(p[c] / q[c]) for c in range(C))
    return l, lam


@pytest.mark.parametrize("tau", [1.0, 1 / 3, 4.0])
@pytest.mark.parametrize("space", ["logits", "probs"])
@pytest.mark.parametrize("variant", ["IL", "CG", "CA"])
def test_universal_kd_equals_the_formulas_by_hand(variant, space, tau):
    make = _logits if space == "logits" else _probs
    teacher, student = make(4, 3, 3, seed=1), make(3, 3, 3, seed=2)  # N=4, M=3, B=3, C=3
    l, lam = _by_hand(teacher.tolist(), student.tolist(), space, tau)
    M, B = 3, 3
    layers = [M - 1] if variant == "CG" else range(M - 1)
    expected = sum(sum(l[j][b] for j in layers) for b in range(B)) / B
    kw = {} if tau == 1.0 else {"tau": tau}  # tau=1 is also the default
    out = universal_kd_loss(teacher, student, variant, space, return_lambda=True, **kw)
    assert out.loss.item() == pytest.approx(expected, rel=1e-5)
    expected_lam = [[sum(lam[b][j][i] for b in range(B)) / B for i in range(4)] for j in range(M)]
    for j in range(M):
        assert out.lambdas[j].tolist() == pytest.approx(expected_lam[j], rel=1e-5)
    expected_peak = [sum(max(lam[b][j]) for b in range(B)) / B for j in range(M)]
    assert out.peak.tolist() == pytest.approx(expected_peak, rel=1e-5)
    assert universal_kd_loss(teacher, student, variant, space, **kw).item() == pytest.approx(expected, rel=1e-5)


def test_tau_one_is_the_paper_formula_bit_for_bit():
    """tau = 1 gives exactly (torch.equal) what lambda = softmax(f^t . f^s) gave before tau existed,
    loss, lambda and gradient; other taus change lambda, and a smaller tau sharpens it."""
    t, s0 = _logits(6, 5, 2, seed=20), _logits(2, 5, 2, seed=21)
    s = s0.clone().requires_grad_(True)
    lam = torch.einsum("nbc,mbc->bmn", t, s).softmax(-1)  # the formula without tau, by plain torch ops
    mix = torch.einsum("bmn,nbc->mbc", lam, t)
    log_p, log_q = mix.log_softmax(-1), s.log_softmax(-1)
    ref = (log_p.exp() * (log_p - log_q)).sum(-1)[:-1].sum(0).mean()
    (ref_grad,) = torch.autograd.grad(ref, s)
    s2 = s0.clone().requires_grad_(True)
    out = universal_kd_loss(t, s2, "IL", "logits", return_lambda=True, tau=1.0)
    out.loss.backward()
    assert torch.equal(out.loss, ref) and torch.equal(out.lambdas, lam.mean(0)) and torch.equal(s2.grad, ref_grad)
    w = DistillWeights()
    assert w.tau == 1.0
    y = torch.tensor([0, 1, 1, 0, 1])
    assert torch.equal(distillation_loss(s0, t, y, "ukd-il", w).total,
                       distillation_loss(s0, t, y, "ukd-il", DistillWeights(tau=1.0)).total)
    peaks = [universal_kd_loss(t, s0, "IL", return_lambda=True, tau=tau).peak.mean().item() for tau in (3, 1, 1 / 3)]
    assert peaks[0] < peaks[1] < peaks[2]


def test_distillation_loss_uses_the_weights_tau():
    s, t, y = _logits(2, 4, 2, seed=30), _logits(6, 4, 2, seed=31), torch.tensor([0, 1, 1, 0])
    out = distillation_loss(s, t, y, "ukd-il", DistillWeights(tau=0.25))
    direct = universal_kd_loss(t, s, "IL", return_lambda=True, tau=0.25)
    assert torch.equal(out.univ, direct.loss) and torch.equal(out.lambdas, direct.lambdas)
    assert not torch.allclose(out.lambdas, universal_kd_loss(t, s, "IL", return_lambda=True).lambdas)
    probs = distillation_loss(s, t, y, "ukd-cg", DistillWeights(tau=0.25), space="probs")
    assert torch.equal(probs.univ, universal_kd_loss(t.softmax(-1), s.softmax(-1), "CG", "probs", tau=0.25))


@pytest.mark.parametrize("tau", [0, -1.0, float("nan"), float("inf"), "1", True, None])
def test_a_bad_tau_is_named(tau):
    t, s = _logits(6, 2, 2), _logits(2, 2, 2)
    with pytest.raises(ValueError, match="tau"):
        universal_kd_loss(t, s, "IL", tau=tau)
    with pytest.raises(ValueError, match="tau"):
        DistillWeights(tau=tau)


def test_the_two_readings_differ_and_logits_is_the_default():
    t, s = _logits(4, 3, 2, seed=12), _logits(3, 3, 2, seed=13)
    default = universal_kd_loss(t, s, "IL").item()
    assert default == universal_kd_loss(t, s, "IL", "logits").item()
    assert default != pytest.approx(universal_kd_loss(t.softmax(-1), s.softmax(-1), "IL", "probs").item(), rel=1e-3)


def test_probabilities_cap_lambda_and_logits_do_not():
    """With f = probabilities no teacher layer gets more than e/(e+N-1); with logits of a confident
    teacher layer that agrees with the student, lambda picks that layer."""
    N = 6
    t = torch.zeros(N, 1, 2)
    t[2] = torch.tensor([4.0, -4.0])  # one confident layer, the others undecided
    s = torch.tensor([[[3.0, -3.0]], [[3.0, -3.0]]])
    probs = universal_kd_loss(t.softmax(-1), s.softmax(-1), "IL", "probs", return_lambda=True).lambdas
    logits = universal_kd_loss(t, s, "IL", "logits", return_lambda=True).lambdas
    assert probs.max().item() <= math.e / (math.e + N - 1) + 1e-6
    assert logits[0, 2].item() > 0.99


def test_logits_reading_needs_raw_logits_not_log_probabilities():
    """log_softmax shifts each teacher layer by its own constant (its logsumexp): the dot products
    behind lambda change, so the logits reading must get the raw logits. With one teacher layer
    (lambda = 1) the loss is the same, since softmax ignores a per-row constant."""
    t, s = _logits(3, 4, 2, seed=14), _logits(2, 4, 2, seed=15)
    a = universal_kd_loss(t, s, "IL", return_lambda=True).lambdas
    b = universal_kd_loss(t.log_softmax(-1), s, "IL", return_lambda=True).lambdas
    assert not torch.allclose(a, b, atol=1e-3)
    assert universal_kd_loss(t[:1], s, "IL").item() == pytest.approx(
        universal_kd_loss(t[:1].log_softmax(-1), s, "IL").item(), rel=1e-5)


def test_il_and_ca_are_the_same_formula():
    teacher, student = _probs(6, 5, 2, seed=3), _probs(4, 5, 2, seed=4)
    assert universal_kd_loss(teacher, student, "IL").item() == universal_kd_loss(teacher, student, "CA").item()


def test_lambda_rows_sum_to_one_and_follow_the_dot_products():
    teacher, student = _probs(6, 8, 3, seed=5), _probs(3, 8, 3, seed=6)
    lam = universal_kd_loss(teacher, student, "IL", return_lambda=True).lambdas
    assert lam.shape == (3, 6)
    assert torch.allclose(lam.sum(-1), torch.ones(3), atol=1e-6)
    assert (lam > 0).all()
    # A teacher layer that agrees with the student gets more attention than one that does not.
    t = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])
    s = torch.tensor([[[0.9, 0.1]], [[0.2, 0.8]]])
    lam = universal_kd_loss(t, s, "IL", return_lambda=True).lambdas
    assert lam[0, 0] > lam[0, 1] and lam[1, 1] > lam[1, 0]


def test_cg_uses_only_the_last_student_layer():
    teacher, student = _probs(6, 4, 2, seed=7), _probs(3, 4, 2, seed=8)
    base = universal_kd_loss(teacher, student, "CG")
    other = student.clone()
    other[:-1] = _probs(2, 4, 2, seed=9)
    assert universal_kd_loss(teacher, other, "CG").item() == base.item()
    assert universal_kd_loss(teacher, other, "IL").item() != universal_kd_loss(teacher, student, "IL").item()
    last = student.clone()
    last[-1] = _probs(1, 4, 2, seed=10)[0]
    assert universal_kd_loss(teacher, last, "CG").item() != base.item()
    # ... and IL never looks at it.
    assert universal_kd_loss(teacher, last, "IL").item() == universal_kd_loss(teacher, student, "IL").item()


def test_zero_when_every_layer_agrees():
    p = _probs(1, 5, 3, seed=11)
    assert universal_kd_loss(p.expand(4, -1, -1), p.expand(3, -1, -1), "IL").item() == pytest.approx(0, abs=1e-6)


def test_gradients_reach_the_student_never_the_teacher():
    teacher_logits = torch.randn(6, 4, 2, requires_grad=True)
    student_logits = torch.randn(3, 4, 2, requires_grad=True)
    for space in ("logits", "probs"):
        for variant in ("IL", "CG"):
            teacher_logits.grad = student_logits.grad = None
            t, s = ((teacher_logits, student_logits) if space == "logits"
                    else (teacher_logits.softmax(-1), student_logits.softmax(-1)))
            universal_kd_loss(t, s, variant, space).backward()
            assert teacher_logits.grad is None
            touched = student_logits.grad.abs().sum((1, 2)) > 0
            assert touched.tolist() == ([False, False, True] if variant == "CG" else [True, True, False])
        teacher_logits.grad = student_logits.grad = None
        loss = distillation_loss(student_logits, teacher_logits, torch.tensor([0, 1, 1, 0]), "ukd-il",
                                 DistillWeights(), space)
        loss.total.backward()
        assert teacher_logits.grad is None and student_logits.grad.abs().sum() > 0


def test_vanilla_kd_equals_t_squared_kl():
    s, t, T = torch.randn(5, 3), torch.randn(5, 3), 2.5
    pt, ps = (t / T).softmax(-1), (s / T).softmax(-1)
    expected = T ** 2 * (pt * (pt.log() - ps.log())).sum(-1).mean()
    assert vanilla_kd_loss(s, t, T).item() == pytest.approx(expected.item(), rel=1e-5)
    assert vanilla_kd_loss(t, t, T).item() == pytest.approx(0, abs=1e-6)


def test_distillation_loss_adds_the_weighted_terms():
    s, t, y = torch.randn(2, 4, 2), torch.randn(6, 4, 2), torch.tensor([0, 1, 1, 0])
    w = DistillWeights(alpha=0.3, beta=0.5, gamma=2.0, temperature=3.0)
    none = distillation_loss(s, t, y, "none", w)
    kd = distillation_loss(s, t, y, "kd", w)
    il = distillation_loss(s, t, y, "ukd-il", w)
    cg = distillation_loss(s, t, y, "ukd-cg", w)
    assert none.kd is None and none.total.item() == pytest.approx(0.3 * none.ce.item())
    assert kd.total.item() == pytest.approx(0.3 * kd.ce.item() + 0.5 * kd.kd.item())
    assert il.total.item() == pytest.approx(kd.total.item() + 2.0 * il.univ.item(), rel=1e-6)
    assert cg.univ.item() == pytest.approx(universal_kd_loss(t, s, "CG").item(), rel=1e-6)
    # The probabilities reading: the softmax of both, then the same formula; log-probabilities as
    # teacher input give the same loss there (softmax ignores a per-row constant).
    p = distillation_loss(s, t, y, "ukd-cg", w, space="probs")
    assert p.univ.item() == pytest.approx(universal_kd_loss(t.softmax(-1), s.softmax(-1), "CG", "probs").item(),
                                          rel=1e-6)
    assert distillation_loss(s, t.log_softmax(-1), y, "ukd-cg", w, "probs").univ.item() == pytest.approx(
        p.univ.item(), rel=1e-5)


def test_bad_inputs_name_the_problem():
    t, s = _probs(6, 2, 2), _probs(3, 2, 2)
    with pytest.raises(ValueError, match="variant"):
        universal_kd_loss(t, s, "XX")
    with pytest.raises(ValueError, match="space must be one of"):
        universal_kd_loss(t, s, "IL", "log-probs")
    with pytest.raises(ValueError, match="intermediate"):
        universal_kd_loss(t, s[:1], "IL")
    with pytest.raises(ValueError, match="batch and class"):
        universal_kd_loss(t, _probs(3, 2, 3), "IL")
    with pytest.raises(ValueError, match="method"):
        distillation_loss(s, t, torch.tensor([0, 1]), "ukd-xx", DistillWeights())
    with pytest.raises(ValueError, match="temperature"):
        DistillWeights(temperature=0)


def test_student_summary_round_trip(tmp_path):
    summary = StudentSummary(student="bert", method="ukd-il", student_layers=["S1", "S2"], teacher="t",
                             teacher_layers=["T1", "T2", "T3"], data="d", accuracy=0.8, flops_per_sample=1e6,
                             params=10, teacher_accuracy=0.9, teacher_flops_per_sample=3e6, teacher_params=30,
                             layer_accuracy=[0.7, 0.8], lambdas=[[0.2, 0.3, 0.5], [0.1, 0.1, 0.8]])
    assert load_student_summary(tmp_path) is None
    save_student_summary(tmp_path, summary)
    assert load_student_summary(tmp_path) == summary
    # A summary written before the logits reading carries no space: its lambdas were probabilities.
    old = json.loads((tmp_path / "distill_summary.json").read_text())
    del old["space"]
    (tmp_path / "distill_summary.json").write_text(json.dumps(old))
    assert load_student_summary(tmp_path).space == "probs"
    assert load_student_summary(tmp_path).tau == 1.0  # nor a tau: lambda had none (the paper's formula)
    save_student_summary(tmp_path, StudentSummary(**{**summary.to_dict(), "tau": 0.25}))
    assert load_student_summary(tmp_path).tau == 0.25
