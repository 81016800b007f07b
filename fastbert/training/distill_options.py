"""The options of a student distillation run, one field each (`python -m fastbert distill` makes
its command line from them; `distill_run` and `distill_study` read them). Light on purpose: no
torch here, so that building the command line costs nothing."""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from ..options import option as _opt

SPACES = ("logits", "probs")  # what f is: the pseudo-classifier's logits W h, or softmax(W h)
METHODS = ("none", "kd", "ukd-il", "ukd-cg", "ukd-ca")
STUDENT_KINDS = ("bert", "bilstm", "gated-cnn")


@dataclass
class DistillOptions:
    """A distillation run, or with `report` the Universal-KD study (rows x seeds, gamma and T
    tuned on a held-out slice of train). Each field is a command-line option."""

    teacher: str = _opt("assets/models/sst2-minilm", "a saved FastBERT model")
    train: str = _opt("../shared/data/sst2/train.tsv", "training file")
    dev: str = _opt("../shared/data/sst2/dev.tsv", "dev file (the scores)")
    train_size: int = _opt(8000, "seeded random subset of --train (0: all)")
    subset_seed: int = _opt(0, "seed of that subset")
    student: str = _opt("bert", "the student's kind", choices=list(STUDENT_KINDS))
    layers: str = _opt("1,2", "bert: 1-based teacher layers to copy")
    num_layers: int = _opt(3, "bilstm / gated-cnn: number of layers")
    width: int = _opt(256, "bilstm (both directions) / gated-cnn width")
    embeddings: str = _opt("teacher", "bilstm / gated-cnn word embeddings: the teacher's (frozen), the teacher's "
                                      "(trained further) or random (trained)",
                           choices=["teacher", "teacher-trainable", "random"])
    method: str = _opt("ukd-il", "labels only, vanilla KD or Universal-KD", choices=list(METHODS))
    space: str = _opt("logits", "Universal-KD's reading of the pseudo-classifier outputs f: logits W h (the "
                                "paper's Sim_Univ) or probabilities softmax(W h) (the earlier reading)",
                      choices=list(SPACES))
    alpha: float = _opt(1.0, "weight of the cross-entropy with labels")
    beta: float = _opt(1.0, "weight of vanilla KD on the final logits")
    gamma: float = _opt(1.0, "weight of the Universal-KD loss")
    temperature: float = _opt(2.0, "KD temperature")
    lambda_temperature: float = _opt(1.0, "Universal-KD: temperature tau of lambda, softmax_i(f_i^t . f_j^s / tau) "
                                          "(1: the paper's formula; tau < 1 sharpens lambda)")
    epochs: float = _opt(1.0, "passes over the training subset")
    batch_size: int = _opt(32, "rows per optimisation step")
    lr: float | None = _opt(None, "default: 1e-4 for bert, 2e-3 otherwise")
    max_steps: int | None = _opt(None, "stop after this many steps")
    seed: int = _opt(0, "seed of the student and the batches")
    threads: int = _opt(1, "torch CPU threads")
    cache_dir: str = _opt("runs/distill-cache", "keep the teacher's outputs here between runs ('' for none)")
    out: str | None = _opt(None, "directory for the student (bert: a FastBERT model)")
    fp32: bool = _opt(False, "store weights in float32 (default float16)")
    no_share_base: bool = _opt(False, "also store weights identical to the teacher's backbone")
    quiet: bool = _opt(False, "no JSON log lines")
    report: bool = _opt(False, "run the study and append each run to --runs-out (finished runs are reused)")
    seeds: str = _opt("0,1,2,3,4", "study: the first seed also serves the tuning grid")
    report_students: str = _opt("bert,bilstm,gated-cnn", "study: student kinds")
    spaces: str = _opt("logits,probs", "study: Universal-KD readings to compare")
    val_size: int = _opt(1000, "study: rows of train held out for tuning")
    t_grid: str = _opt("1,2,4", "study: vanilla KD temperatures tried (Universal-KD rows use the student's "
                                "chosen T)")
    gamma_grid: str = _opt("0.3,1,3", "study: Universal-KD weights tried")
    tau_grid: str = _opt("", "study: lambda temperatures tried for extra Universal-KD rows of the logits reading, "
                             "at the row's chosen T and gamma, fractions allowed ('1,1/3,1/5'; '': no such rows)")
    probe_taus: str = _opt("", "study: lambda temperatures at which every seed of each logits Universal-KD row is "
                               "also run (the row's chosen T and gamma) to measure how far lambda picks one teacher "
                               "layer; reported in a lambda table, never chosen, never an accuracy row ('1/10')")
    runs_out: str = _opt("assets/reports/universal_kd_runs.json", "study: the runs file")
    save_student: str | None = _opt(None, "study: save the bert student of --save-method/--save-space, first "
                                          "seed, chosen gamma, here")
    save_method: str = _opt("ukd-il", "study: the method of the saved student", choices=list(METHODS))
    save_space: str = _opt("logits", "study: the reading of the saved student", choices=list(SPACES))


def parse_grid(text: str) -> list[float]:
    """'1,1/3,0.2' -> [1.0, 0.333..., 0.2] (fractions allowed); '' -> []."""
    try:
        return [float(Fraction(x.strip())) for x in text.split(",") if x.strip()]
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"a grid is comma-separated numbers or fractions such as '1,1/3,0.2', got {text!r}") from None


def reading_label(space: str, tau: float | None = 1.0) -> str:
    """The name of a Universal-KD reading in reports: 'logits', or 'logits, τ=0.333' when lambda
    has a temperature other than 1."""
    return space if tau is None or float(tau) == 1.0 else f"{space}, τ={float(tau):.3g}"
