"""Training losses as plain functions of tensors."""
from __future__ import annotations

import torch
import torch.nn.functional as F

KL_DIRECTIONS = ("student_teacher", "teacher_student")


def classification_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy, mean over the batch. logits (B, C), labels (B,)."""
    return F.cross_entropy(logits, labels)


def joint_classification_loss(layer_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Sum over layers of the cross-entropy with the labels (the 'no self-distillation'
    ablation: students trained on labels). layer_logits (L, B, C)."""
    L, B, C = layer_logits.shape
    return F.cross_entropy(layer_logits.reshape(L * B, C), labels.repeat(L), reduction="sum") / B


def self_distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                           direction: str = "student_teacher") -> torch.Tensor:
    """Sum over student layers of KL divergences to the teacher's soft labels, mean over batch.

    direction="student_teacher" is the paper's formula (6): sum_j p_s(j) log(p_s(j) / p_t(j)).
    direction="teacher_student" is KL(p_t || p_s), the direction of the authors' released code.
    student_logits (S, B, C); teacher_logits (B, C), treated as a constant.
    """
    if direction not in KL_DIRECTIONS:
        raise ValueError(f"direction must be one of {KL_DIRECTIONS}, got {direction!r}")
    log_t = F.log_softmax(teacher_logits.detach(), dim=-1).unsqueeze(0)  # (1, B, C)
    log_s = F.log_softmax(student_logits, dim=-1)  # (S, B, C)
    if direction == "student_teacher":
        kl = (log_s.exp() * (log_s - log_t)).sum(-1)
    else:
        kl = (log_t.exp() * (log_t - log_s)).sum(-1)
    return kl.sum(0).mean()
