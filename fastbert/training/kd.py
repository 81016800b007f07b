"""Universal-KD (Wu et al., EMNLP 2021) and vanilla KD, as plain functions of tensors; plus the
summary a distilled student keeps in its directory.

Universal-KD matches each student layer j to an attention-weighted mixture of the teacher's
layers, compared in the output space of pseudo-classifiers (so the two networks may differ in
width, depth and architecture). With f the pseudo-classifier's logits W h (space="logits", the
paper's Sim_Univ = KL(softmax(W^t h^t), softmax(W^s h^s)) applies the softmax inside):

    lambda_ij = softmax_i(f_i^t . f_j^s)
    F^t(j)    = sum_i lambda_ij f_i^t                     (a mixture of logits)
    l(j)      = KL(softmax(F^t(j)) || softmax(f_j^s))

space="probs" reads f as the class probabilities softmax(W h) instead (then F^t(j) mixes
probabilities and l(j) = KL(F^t(j) || f_j^s)); its dot products lie in [0, 1], so lambda can
never give one of N teacher layers more than e / (e + N - 1).

An optional temperature tau divides the dot products, lambda_ij = softmax_i(f_i^t . f_j^s / tau);
tau = 1 is the paper's formula. Under the logits reading it is the same as scaling the
student's logits by 1/tau inside lambda only (F^t(j) and l(j) are unchanged): tau < 1 lets lambda
pick layers when the logits are small (`assets/reports/universal_kd.md`, "Logit scales").

IL sums l(j) over the student's intermediate layers j = 1..M-1, CG takes l(M) only, CA is IL
with a student of another architecture (same formula). The teacher's pseudo-classifiers are a
FastBERT model's per-layer classifiers, frozen: their outputs are always detached here.
lambda is a function of the student's outputs too, and gradients flow through it (the paper
gives no stop-gradient), so the student can also move towards the teacher layers it already
resembles.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F

from .distill_options import METHODS, SPACES

VARIANTS = ("IL", "CG", "CA")
SUMMARY_FILE = "distill_summary.json"
_TINY = 1e-12  # floor for log(p): a probability that underflowed to 0 must not give -inf


class UniversalKD(NamedTuple):
    """`loss`: L_univ (scalar); `lambdas`: (M, N) attention of each student layer over the
    teacher's layers, averaged over the batch (rows sum to 1); `peak`: (M,) the mean over the
    batch of each sample's largest lambda (a batch mean near 1/N can hide sharp per-sample picks)."""

    loss: torch.Tensor
    lambdas: torch.Tensor
    peak: torch.Tensor  # (M,) batch mean of max_i lambda_ij per sample: how sharply each sample picks


def universal_kd_loss(teacher: torch.Tensor, student: torch.Tensor, variant: str, space: str = "logits",
                      return_lambda: bool = False, tau: float = 1.0) -> torch.Tensor | UniversalKD:
    """L_univ, the mean over the batch of the summed per-layer KL divergences.

    teacher (N, B, C): the teacher's pseudo-classifier outputs, one per teacher layer (treated
    as constants); student (M, B, C): the student's, one per layer. space="logits": both are
    logits (the paper's reading); space="probs": both are class probabilities. tau (> 0): the
    temperature of lambda's softmax over the dot products (1: the paper's formula).

    Example:
        >>> t = torch.tensor([[[2.0, -2.0]], [[0.5, -0.5]]])        # N=2 teacher layers, B=1
        >>> s = torch.tensor([[[0.0, 0.0]], [[1.0, -1.0]]])         # M=2 student layers
        >>> loss, lam = universal_kd_loss(t, s, "IL", return_lambda=True)
        >>> lam.shape, round(float(lam.sum(-1)[0]), 6)
        (torch.Size([2, 2]), 1.0)
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    if space not in SPACES:
        raise ValueError(f"space must be one of {SPACES}, got {space!r}")
    check_tau(tau)
    if teacher.dim() != 3 or student.dim() != 3:
        raise ValueError(f"expected (layers, batch, classes) tensors, got teacher {tuple(teacher.shape)} "
                         f"and student {tuple(student.shape)}")
    if teacher.shape[1:] != student.shape[1:]:
        raise ValueError(f"batch and class sizes differ: teacher {tuple(teacher.shape)}, "
                         f"student {tuple(student.shape)}")
    M = student.size(0)
    if variant in ("IL", "CA") and M < 2:
        raise ValueError(f"{variant} distils the student's intermediate layers; a student of {M} layer has none")
    t = teacher.detach()  # frozen teacher: no gradient may reach it
    s = student
    dots = torch.einsum("nbc,mbc->bmn", t, s)  # (B, M, N) f_i^t . f_j^s
    lam = (dots / tau).softmax(dim=-1)  # over teacher layers i (x / 1.0 == x exactly: tau 1 is the paper's)
    mix = torch.einsum("bmn,nbc->mbc", lam, t)  # (M, B, C) F^t(j)
    if space == "logits":
        log_target, log_s = mix.log_softmax(-1), s.log_softmax(-1)
        kl = (log_target.exp() * (log_target - log_s)).sum(-1)  # (M, B)
    else:
        kl = (torch.xlogy(mix, mix) - mix * s.clamp_min(_TINY).log()).sum(-1)  # (M, B)
    layers = kl[-1:] if variant == "CG" else kl[:-1]
    loss = layers.sum(0).mean()
    if return_lambda:
        return UniversalKD(loss, lam.mean(0), lam.max(-1).values.mean(0))
    return loss


def check_tau(tau: float) -> float:
    """tau, or a ValueError naming it when it is not a positive finite number."""
    if isinstance(tau, bool) or not isinstance(tau, (int, float)) or not math.isfinite(tau) or tau <= 0:
        raise ValueError(f"tau (the temperature of Universal-KD's lambda): must be a positive number, got {tau!r}")
    return float(tau)


def vanilla_kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                    temperature: float = 1.0) -> torch.Tensor:
    """T^2 * KL(softmax(z_t/T) || softmax(z_s/T)), mean over the batch (Hinton et al., 2015).

    Example:
        >>> z = torch.tensor([[2.0, -1.0]])
        >>> float(vanilla_kd_loss(z, z, temperature=2.0))
        0.0
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    log_t = F.log_softmax(teacher_logits.detach() / temperature, dim=-1)
    log_s = F.log_softmax(student_logits / temperature, dim=-1)
    return temperature ** 2 * F.kl_div(log_s, log_t, log_target=True, reduction="batchmean")


@dataclass
class DistillWeights:
    """alpha*L_CE + beta*L_KD + gamma*L_univ; T is the KD temperature, tau the temperature of
    Universal-KD's lambda (1: the paper's formula).
    Example: `DistillWeights(alpha=1.0, beta=1.0, gamma=1.0, temperature=2.0, tau=1.0)`."""

    alpha: float = 1.0
    beta: float = 1.0
    gamma: float = 1.0
    temperature: float = 2.0
    tau: float = 1.0

    def __post_init__(self):
        for name in ("alpha", "beta", "gamma"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: must be non-negative, got {getattr(self, name)}")
        if self.temperature <= 0:
            raise ValueError(f"temperature: must be positive, got {self.temperature}")
        self.tau = check_tau(self.tau)


@dataclass
class DistillLoss:
    """The total loss and its parts (the parts a method does not use are None)."""

    total: torch.Tensor
    ce: torch.Tensor
    kd: torch.Tensor | None = None
    univ: torch.Tensor | None = None
    lambdas: torch.Tensor | None = None  # (M, N), batch mean


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
                      method: str, weights: DistillWeights, space: str = "logits") -> DistillLoss:
    """The training objective of `method` ("none", "kd", "ukd-il", "ukd-cg", "ukd-ca").

    student_logits (M, B, C): every student pseudo-classifier, the last one being the student's
    output; teacher_logits (N, B, C): every teacher layer's classifier, the last one the
    teacher's output. Universal-KD reads them in `space` ("logits": as they are, the paper's
    reading; "probs": their softmax). Under "logits" the teacher's raw logits matter, not
    log-probabilities: a per-row constant changes the dot products behind lambda.

    Example:
        >>> s, t = torch.zeros(2, 4, 2, requires_grad=True), torch.randn(6, 4, 2)
        >>> out = distillation_loss(s, t, torch.tensor([0, 1, 1, 0]), "ukd-il", DistillWeights())
        >>> out.total.backward()
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    ce = F.cross_entropy(student_logits[-1], labels)
    total = weights.alpha * ce
    out = DistillLoss(total=total, ce=ce)
    if method == "none":
        return out
    out.kd = vanilla_kd_loss(student_logits[-1], teacher_logits[-1], weights.temperature)
    out.total = out.total + weights.beta * out.kd
    if method.startswith("ukd-"):
        t, s = teacher_logits.detach(), student_logits
        if space == "probs":
            t, s = t.softmax(-1), s.softmax(-1)
        univ = universal_kd_loss(t, s, method[4:].upper(), space, return_lambda=True, tau=weights.tau)
        out.univ, out.lambdas = univ.loss, univ.lambdas
        out.total = out.total + weights.gamma * univ.loss
    return out


# ----- what a distilled student keeps beside its weights ------------------------------------
@dataclass
class StudentSummary:
    """Accuracy, cost and lambda matrix of a distilled student, saved as `distill_summary.json`.

    lambdas[j][i]: attention of student layer j+1 on teacher layer i+1 over the dev set
    (None for methods without Universal-KD). FLOPs per sample: mean over `data` of the
    student's full forward pass (no early exit), 2 x multiply-adds, fvcore-counted.
    """

    student: str  # "bert", "bilstm" or "gated-cnn"
    method: str
    student_layers: list[str]
    teacher: str
    teacher_layers: list[str]
    data: str
    accuracy: float
    flops_per_sample: float
    params: int
    teacher_accuracy: float
    teacher_flops_per_sample: float
    teacher_params: int
    layer_accuracy: list[float] = field(default_factory=list)  # of each student pseudo-classifier
    lambdas: list[list[float]] | None = None
    # FastBERT students only: [{"speed", "accuracy", "flops_per_sample", "mean_exit_layer"}, ...]
    early_exit: list[dict] = field(default_factory=list)
    notes: str = ""
    space: str = "logits"  # the Universal-KD reading behind `lambdas` (see SPACES)
    tau: float = 1.0  # the temperature of lambda behind `lambdas` (1: the paper's formula)

    def to_dict(self) -> dict:
        return asdict(self)


def save_student_summary(directory: str | Path, summary: StudentSummary) -> Path:
    path = Path(directory) / SUMMARY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary.to_dict(), indent=2) + "\n")
    return path


def load_student_summary(directory: str | Path) -> StudentSummary | None:
    """The summary of a distilled student directory, or None when it has none.

    Example:
        >>> s = load_student_summary("assets/models/sst2-student-2l")
        >>> s.accuracy, s.flops_per_sample, s.lambdas      # doctest: +SKIP
    """
    path = Path(directory) / SUMMARY_FILE
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    known = {f.name for f in fields(StudentSummary)}
    data.setdefault("space", "probs")  # summaries written before the logits reading used probabilities
    return StudentSummary(**{k: v for k, v in data.items() if k in known})
