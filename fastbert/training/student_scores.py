"""Scoring and saving a distilled student: dev accuracy, cost and the Universal-KD diagnostics,
the teacher's reference scores, and a BERT-style student saved as a FastBERT model."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..data import TextDataset
from .kd import StudentSummary, save_student_summary, universal_kd_loss
from .student import DistillConfig, TeacherOutputs, build_student, layer_logits, train_student
from .students import count_parameters

@dataclass
class RunResult:
    """Dev scores of one trained student (one method, one seed)."""

    student: str
    method: str
    seed: int
    accuracy: float
    layer_accuracy: list[float]
    flops_per_sample: float
    params: int
    params_without_word_embeddings: int
    lambdas: list[list[float]]  # (M, N) on dev in `space`, whatever the method (a diagnostic for none/kd)
    dev_l_il: float | None  # Universal-KD losses on dev in `space` (None where undefined)
    dev_l_cg: float
    train_seconds: float
    train_log: list[dict]
    space: str = "probs"  # runs saved before the logits reading used probabilities
    gamma: float | None = None
    temperature: float | None = None
    val_accuracy: float | None = None  # on the held-out slice of train used for tuning
    lambda_peak: list[float] | None = None  # (M,) dev mean of each sample's largest lambda
    logit_norm: list[float] | None = None  # (M,) dev mean L2 norm of each pseudo-classifier's logits
    tau: float = 1.0  # the temperature of lambda (training and the diagnostics above); 1: the paper's

    def to_dict(self) -> dict:
        return asdict(self)


def word_embedding_params(student) -> int:
    emb = getattr(student, "embeddings", None)
    if hasattr(student, "encoder"):
        emb = student.encoder.model.embeddings.word_embeddings
    return emb.weight.numel()


def inference_flops(student, num_tokens: torch.Tensor) -> torch.Tensor:
    """FLOPs of the student's full forward pass (no early exit) per sample."""
    if hasattr(student, "cost"):  # FastBert: every layer + the last classifier
        return student.cost.full_flops(num_tokens)
    return student.full_flops(num_tokens)


def score_student(student, collate, dev: TeacherOutputs, cfg: DistillConfig, seconds: float,
                  log: list[dict], val: TeacherOutputs | None = None) -> RunResult:
    """Dev accuracy, cost and the Universal-KD diagnostics in `cfg.space` (plus the accuracy on
    the held-out slice of train `val`, when given)."""
    logits = layer_logits(student, collate, dev.enc)  # (M, n, C)
    layer_acc = (logits.argmax(-1) == dev.labels).double().mean(1).tolist()
    t, s = (dev.logits, logits) if cfg.space == "logits" else (dev.logits.softmax(-1), logits.softmax(-1))
    tau = cfg.weights.tau
    cg = universal_kd_loss(t, s, "CG", cfg.space, return_lambda=True, tau=tau)
    il = universal_kd_loss(t, s, "IL", cfg.space, tau=tau).item() if s.size(0) > 1 else None
    val_acc = None
    if val is not None:
        val_acc = (layer_logits(student, collate, val.enc)[-1].argmax(-1) == val.labels).double().mean().item()
    params = count_parameters(student)
    return RunResult(cfg.student, cfg.method, cfg.seed, layer_acc[-1], layer_acc,
                     inference_flops(student, dev.num_tokens).mean().item(), params,
                     params - word_embedding_params(student), cg.lambdas.tolist(), il, cg.loss.item(),
                     seconds, log, space=cfg.space, gamma=cfg.weights.gamma, temperature=cfg.weights.temperature,
                     val_accuracy=val_acc, lambda_peak=cg.peak.tolist(), logit_norm=logits.norm(dim=-1).mean(1).tolist(),
                     tau=tau)


def distil_one(teacher, train: TeacherOutputs, dev: TeacherOutputs, cfg: DistillConfig,
               val: TeacherOutputs | None = None):
    """Build, train and score one student. Returns (student, RunResult)."""
    student = build_student(teacher, cfg)
    start = time.perf_counter()
    log = train_student(student, teacher.collate, train, cfg)
    seconds = time.perf_counter() - start
    return student, score_student(student, teacher.collate, dev, cfg, seconds, log, val)


def layer_names(teacher, cfg: DistillConfig) -> tuple[list[str], list[str]]:
    teacher_names = [f"T{i + 1}" for i in range(teacher.num_layers)]
    if cfg.student == "bert":
        return [f"S{j + 1} (=T{k})" for j, k in enumerate(cfg.layers)], teacher_names
    return [f"{cfg.student} {j + 1}" for j in range(cfg.num_layers)], teacher_names


def teacher_scores(teacher, dev: TeacherOutputs, speeds=(0.1, 0.3, 0.5)) -> dict:
    """The teacher's dev accuracy, FLOPs and parameters; the same for the teacher cut after
    layer k with its own FastBERT classifier k (no training: "truncated"); and with FastBERT's
    early exit at a few speeds (the same decisions as `fastbert.evaluate.sweep`)."""
    from ..evaluate import LayerOutputs, sweep

    n = dev.num_tokens
    layer_acc = (dev.log_probs.argmax(-1) == dev.labels).double().mean(1).tolist()
    embed = count_parameters(teacher.encoder.model.embeddings)
    per_layer = count_parameters(teacher.encoder.model.encoder.layer[0])
    per_clf = count_parameters(teacher.classifiers[0])
    truncated = [{"layers": k, "accuracy": layer_acc[k - 1], "params": embed + k * per_layer + per_clf,
                  "flops_per_sample": (k * teacher.cost.layer(n) + teacher.cost.classifier(n)).mean().item()}
                 for k in range(1, teacher.num_layers + 1)]
    outputs = LayerOutputs(dev.log_probs.exp(), dev.num_tokens.long(), dev.labels)
    early = [{"speed": r.speed, "accuracy": r.accuracy, "flops_per_sample": r.flops_per_sample,
              "mean_exit_layer": r.mean_exit_layer} for r in sweep(teacher, outputs, list(speeds))]
    return {"accuracy": layer_acc[-1], "flops_per_sample": teacher.cost.full_flops(n).mean().item(),
            "logit_norm": dev.logits.norm(dim=-1).mean(1).tolist(),
            "params": count_parameters(teacher), "layer_accuracy": layer_acc, "truncated": truncated,
            "early_exit": early}


def save_bert_student(student, teacher, directory: Path, cfg: DistillConfig, result: RunResult,
                      tscores: dict, data_note: str, record: dict, dev_data: TextDataset,
                      share_base: bool = True, fp16: bool = True) -> None:
    """Save a BERT-style student as a FastBERT model plus its `distill_summary.json`
    (with its early-exit accuracy and FLOPs on `dev_data` at a few speeds)."""
    from ..evaluate import all_layer_outputs, sweep

    early = [{"speed": r.speed, "accuracy": r.accuracy, "flops_per_sample": r.flops_per_sample,
              "mean_exit_layer": r.mean_exit_layer}
             for r in sweep(student, all_layer_outputs(student, dev_data), [0.0, 0.1, 0.3, 0.5, 0.8])]
    record = {**record, "early_exit": early}
    student.save_pretrained(directory, dtype=torch.float16 if fp16 else torch.float32,
                            base_weights=teacher.config.backbone if share_base else None, metadata=record)
    s_names, t_names = layer_names(teacher, cfg)
    save_student_summary(directory, StudentSummary(
        student=cfg.student, method=cfg.method, student_layers=s_names, teacher=record["teacher"],
        teacher_layers=t_names, data=data_note, accuracy=result.accuracy,
        flops_per_sample=result.flops_per_sample, params=result.params,
        teacher_accuracy=tscores["accuracy"], teacher_flops_per_sample=tscores["flops_per_sample"],
        teacher_params=tscores["params"], layer_accuracy=result.layer_accuracy, lambdas=result.lambdas,
        early_exit=early,
        notes=f"seed {cfg.seed}; alpha={cfg.weights.alpha}, beta={cfg.weights.beta}, "
              f"gamma={cfg.weights.gamma}, T={cfg.weights.temperature}, tau={cfg.weights.tau}; lambdas measured "
              f"on the dev set ({cfg.space} reading)", space=cfg.space, tau=cfg.weights.tau))


# ----- the report --------------------------------------------------------------------------
REPORT_ROWS = [("bert", "none"), ("bert", "kd"), ("bert", "ukd-il"), ("bert", "ukd-cg"),
               ("bilstm", "none"), ("bilstm", "kd"), ("bilstm", "ukd-ca"),
               ("gated-cnn", "none"), ("gated-cnn", "kd"), ("gated-cnn", "ukd-ca")]
METHOD_NAMES = {"none": "no KD (labels only)", "kd": "vanilla KD", "ukd-il": "Universal-KD IL",
                "ukd-cg": "Universal-KD CG", "ukd-ca": "Universal-KD CA"}
