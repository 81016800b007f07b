"""`python -m fastbert distill --report`: the study behind `assets/reports/universal_kd.md`.

Rows: each student kind with labels only, vanilla KD and Universal-KD in each reading of f
(`fastbert.training.kd.SPACES`). The KD temperature T (per student kind) and the Universal-KD weight
gamma (per row) are chosen on a held-out slice of train at the first seed; the dev set only
scores. With --tau-grid, each logits-reading Universal-KD row gets a twin whose lambda temperature
tau is chosen the same way, at the plain row's T and gamma; with --probe-taus, every seed of
each logits Universal-KD row is also run at those fixed taus, to measure lambda (not chosen). The first seed's run at the chosen values is that seed's study run (it was trained
before dev was looked at), and the other seeds follow at the chosen values, one student kind
at a time.

Every finished run is written at once to the runs JSON, so an interrupted study resumes where
it stopped and a partial study can still be reported (`python -m demo.ukd_report RUNS_JSON`).
"""
from __future__ import annotations

import json
import os
import shlex
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from .distill_options import parse_grid as _floats
from .distill_run import distill_config as _config
from .distill_run import load_distillation as _load
from .kd import universal_kd_loss
from .student_scores import distil_one, save_bert_student, teacher_scores

TUNING_ORDER = ("bilstm", "gated-cnn", "bert")  # cheapest students first: early results for all kinds


@dataclass(frozen=True)
class StudyRow:
    """One row of the report: a student kind, a method and (Universal-KD only) a reading of f."""

    student: str
    method: str
    space: str = ""  # "" for "none" and "kd", whose training has no Universal-KD term
    tuned_tau: bool = False  # a row whose lambda temperature tau is tuned (at its plain row's T and gamma)

    @property
    def key(self) -> str:
        return "/".join(x for x in (self.student, self.method, self.space, "tau" if self.tuned_tau else "") if x)

    @property
    def plain(self) -> StudyRow:
        """The row at tau = 1 whose T and gamma a tuned-tau row reuses."""
        return StudyRow(self.student, self.method, self.space)


def study_rows(students: list[str], spaces: list[str], tau_rows: bool = False) -> list[StudyRow]:
    """The report's rows, in its order: bert (none, kd, IL and CG per reading), then bilstm and
    gated-cnn (none, kd, CA per reading); with `tau_rows`, each logits-reading Universal-KD row
    is followed by its tuned-tau row."""
    out = []
    for kind in ("bert", "bilstm", "gated-cnn"):
        if kind not in students:
            continue
        out += [StudyRow(kind, "none"), StudyRow(kind, "kd")]
        for method in (("ukd-il", "ukd-cg") if kind == "bert" else ("ukd-ca",)):
            for space in spaces:
                out.append(StudyRow(kind, method, space))
                if tau_rows and space == "logits":
                    out.append(StudyRow(kind, method, space, tuned_tau=True))
    return out


def run_tau(run: dict) -> float:
    """A run's lambda temperature (runs saved before it existed used 1, the paper's formula)."""
    return float(run.get("tau") or 1.0)


def row_of(run: dict) -> StudyRow:
    """The row a run was trained for (a tau = 1 run is its plain row's, also when a tuned-tau row
    chose tau = 1 and reuses it)."""
    ukd = run["method"].startswith("ukd-")
    return StudyRow(run["student"], run["method"], run.get("space", "probs") if ukd else "",
                    tuned_tau=ukd and run_tau(run) != 1.0)


def run_key(run: dict) -> tuple:
    """What makes two runs the same training: the row, the seed and the weights it uses."""
    method = run["method"]
    t = None if method == "none" else round(float(run["temperature"]), 6)
    ukd = method.startswith("ukd-")
    g = round(float(run["gamma"]), 6) if ukd else None
    return row_of(run), int(run["seed"]), t, g, round(run_tau(run), 6) if ukd else None


def _params(row: StudyRow, chosen: dict) -> dict | None:
    """The weights the study uses for `row` ({"temperature", "gamma"}), None while untuned."""
    if row.method == "none":
        return {}
    kd = chosen.get(StudyRow(row.student, "kd").key)
    if kd is None:
        return None
    if row.method == "kd":
        return kd
    if row.tuned_tau:
        return chosen.get(row.key)  # {"temperature", "gamma", "tau"}
    p = chosen.get(row.key)
    return None if p is None else {**p, "tau": 1.0}


def split_runs(runs: list[dict], chosen: dict) -> tuple[list[dict], list[dict]]:
    """(study runs: at the chosen weights, tuning runs: every other grid point)."""
    study, tuning = [], []
    for r in runs:
        p = _params(row_of(r), chosen)
        value = {"tau": run_tau(r)}
        ok = p is not None and all(round(float(value.get(k, r.get(k))), 6) == round(float(v), 6) for k, v in p.items())
        (study if ok else tuning).append(r)
    return study, tuning


class Study:
    """The runs JSON and the training of whatever run it does not hold yet."""

    def __init__(self, args):
        self.args = args
        self.path = Path(args.runs_out)
        self.loaded = _load(args)
        if self.loaded.val is None:
            raise ValueError("--val-size: the study tunes on a held-out slice of train; give it some rows")
        self.tscores = teacher_scores(self.loaded.teacher, self.loaded.dev)
        self.probe = scale_probe(self.loaded.dev.logits)
        self.runs: list[dict] = []
        self.chosen: dict = {}
        if self.path.is_file():  # resume
            old = json.loads(self.path.read_text())
            self.runs = [r for r in old.get("runs", []) + old.get("tuning", []) if "temperature" in r]
        self.done = {run_key(r): r for r in self.runs}
        self.kept_student = None  # (val accuracy, student, cfg, result) of the run to save
        self.save()  # the plan (rows, seeds, grids) is on disk before the first run ends

    def run(self, row: StudyRow, seed: int, temperature: float | None = None, gamma: float | None = None,
            tau: float = 1.0) -> dict:
        cfg = _config(self.args, row.student, row.method, seed, row.space or "logits", gamma, temperature, tau)
        probe = {"student": row.student, "method": row.method, "space": cfg.space, "seed": seed,
                 "temperature": cfg.weights.temperature, "gamma": cfg.weights.gamma, "tau": cfg.weights.tau}
        if run_key(probe) in self.done:
            return self.done[run_key(probe)]
        ld = self.loaded
        student, result = distil_one(ld.teacher, ld.train, ld.dev, cfg, ld.val)
        print(f"{row.key:>22} seed {seed} T={cfg.weights.temperature:g} gamma={cfg.weights.gamma:g} "
              f"tau={cfg.weights.tau:.3g}: "
              f"val {100 * result.val_accuracy:.2f} dev {100 * result.accuracy:.2f} "
              f"({result.train_seconds:.0f}s, {time.strftime('%H:%M:%S')})", file=sys.stderr, flush=True)
        a = self.args
        if (a.save_student and tau == 1.0 and row == StudyRow("bert", a.save_method, a.save_space if a.save_method.startswith("ukd-")
                                               else "") and seed == self.seeds[0]):
            if self.kept_student is None or result.val_accuracy > self.kept_student[0]:
                self.kept_student = (result.val_accuracy, student, cfg, result)
        d = result.to_dict()
        self.runs.append(d)
        self.done[run_key(d)] = d
        self.save()
        return d

    @property
    def seeds(self) -> list[int]:
        return [int(s) for s in self.args.seeds.split(",")]

    def pick(self, row: StudyRow, runs: list[dict], name: str) -> float:
        """The grid value with the best accuracy on the held-out slice (the first on ties)."""
        best = max(runs, key=lambda r: r["val_accuracy"])
        self.chosen[row.key] = {"temperature": best["temperature"]}
        if row.method.startswith("ukd-"):
            self.chosen[row.key]["gamma"] = best["gamma"]
        if row.tuned_tau:
            self.chosen[row.key]["tau"] = run_tau(best)
        self.save()
        return run_tau(best) if name == "tau" else best[name]

    def save(self) -> None:
        study, tuning = split_runs(self.runs, self.chosen)
        a = self.args
        state = {
            "data": self.loaded.note, "teacher": a.teacher, "teacher_dev": self.tscores,
            "teacher_val_accuracy": (self.loaded.val.log_probs[-1].argmax(-1) == self.loaded.val.labels)
            .double().mean().item(),
            "rows": [r.key for r in study_rows(a.report_students.split(","), a.spaces.split(","), bool(a.tau_grid))],
            "seeds": self.seeds, "grids": {"temperature": _floats(a.t_grid), "gamma": _floats(a.gamma_grid),
                                           "tau": _floats(a.tau_grid), "probe_tau": _floats(a.probe_taus)},
            "chosen": self.chosen, "settings": _settings(a), "scale_probe": self.probe,
            "command": "python -m fastbert " + shlex.join(sys.argv[1:]), "runs": study, "tuning": tuning}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1) + "\n")
        os.replace(tmp, self.path)  # a reader never sees half a file


def scale_probe(teacher_logits: torch.Tensor, scales=(0.03, 0.1, 0.3, 1.0, 3.0)) -> list[dict]:
    """How sharp the logits reading's lambda is as a function of the student's logit scale, with
    no training: a stand-in student whose logits are the teacher's last layer times `scale`
    (it agrees with the teacher; only its scale changes, as between a BiLSTM and a BERT). A
    temperature tau on the dot products is the same as scale = 1/tau. teacher_logits: (N, n, C)."""
    out = []
    for c in scales:
        student = c * teacher_logits[-1:].repeat(2, 1, 1)  # two identical student layers (IL needs 2)
        u = universal_kd_loss(teacher_logits, student, "CG", "logits", return_lambda=True)
        out.append({"scale": c, "student_logit_norm": student[-1].norm(dim=-1).mean().item(),
                    "lambda": u.lambdas[-1].tolist(), "peak": u.peak[-1].item()})
    return out


def _settings(a) -> dict:
    return {"alpha": a.alpha, "beta": a.beta, "epochs": a.epochs, "batch_size": a.batch_size, "lr": a.lr,
            "layers": a.layers, "num_layers": a.num_layers, "width": a.width, "embeddings": a.embeddings,
            "train_size": a.train_size, "val_size": a.val_size, "subset_seed": a.subset_seed}


def run_study(args) -> int:
    """Student kind by kind (cheapest first): tune at the first seed, then the other seeds of that
    kind's rows, so that a study cut short still has whole seed sets (with error bars) for the
    kinds it reached."""
    study = Study(args)
    rows = study_rows(args.report_students.split(","), args.spaces.split(","), bool(args.tau_grid))
    s0 = study.seeds[0]
    for kind in (k for k in TUNING_ORDER if any(r.student == k for r in rows)):
        study.run(StudyRow(kind, "none"), s0)
        kd = StudyRow(kind, "kd")
        t = study.pick(kd, [study.run(kd, s0, temperature=t) for t in _floats(args.t_grid)], "temperature")
        for row in (r for r in rows if r.student == kind and r.method.startswith("ukd-") and not r.tuned_tau):
            study.pick(row, [study.run(row, s0, t, g) for g in _floats(args.gamma_grid)], "gamma")
        for row in (r for r in rows if r.student == kind and r.tuned_tau):  # tau at the plain row's T and gamma
            g = study.chosen[row.plain.key]["gamma"]
            study.pick(row, [study.run(row, s0, t, g, tau) for tau in _floats(args.tau_grid)], "tau")
        if study.kept_student is not None:
            _save_kept(study, args)
        for seed in study.seeds[1:]:
            for row in (r for r in rows if r.student == kind):
                p = _params(row, study.chosen)
                study.run(row, seed, p.get("temperature"), p.get("gamma"), p.get("tau", 1.0))
        _probe(study, [r for r in rows if r.student == kind], _floats(args.probe_taus))
    print(f"study complete: {study.path}", file=sys.stderr)
    return 0


def _probe(study: Study, rows: list[StudyRow], taus: list[float]) -> None:
    """Every seed of each plain logits Universal-KD row again at each fixed tau (its chosen T and
    gamma): lambda measured over seeds at a tau the tuning may not have chosen. Runs already done
    (a grid point, or the tuned row at the same tau) are reused."""
    for tau in taus:
        for row in (r for r in rows if r.method.startswith("ukd-") and r.space == "logits" and not r.tuned_tau):
            p = _params(row, study.chosen)
            twin = StudyRow(row.student, row.method, row.space, tuned_tau=tau != 1.0)
            for seed in study.seeds:
                study.run(twin, seed, p["temperature"], p["gamma"], tau)


def _save_kept(study: Study, args) -> None:
    """Save the BERT-style student of --save-method/--save-space at the chosen gamma (first seed)."""
    _, student, cfg, result = study.kept_student
    ld = study.loaded
    record = {"command": "python -m fastbert " + shlex.join(sys.argv[1:]), "teacher": args.teacher,
              "data": ld.note, "distill": asdict(cfg), "dev": result.to_dict(), "teacher_dev": study.tscores}
    save_bert_student(student, ld.teacher, Path(args.save_student), cfg, result, study.tscores, ld.note,
                      record, ld.dev_data)
    study.kept_student = None
