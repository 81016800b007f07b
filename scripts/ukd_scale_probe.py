"""How the logits reading's λ depends on the scale of the logits, without training (about half a
minute of one core), from the repository root: `python -m scripts.ukd_scale_probe`.

Prints (1) the mean L2 norm of each teacher layer's logits on SST-2 dev; (2) each student kind
at initialisation (seed 0, before any training step): its pseudo-classifiers' logit norms and
λ in both readings (averaged over dev, and the per-sample peak); (3) `fastbert.training.distill_study.
scale_probe`: a stand-in student equal to the teacher's last layer times a scale c (c = 1/τ for
a temperature τ on the dot products); (4) that stand-in at c = 1 with λ's temperature τ = 1, 1/3, 1/5.
"""
from __future__ import annotations

import argparse

import torch

from fastbert import FastBert
from fastbert.data import load_dataset
from fastbert.training.kd import universal_kd_loss
from fastbert.training.student import DistillConfig, build_student, layer_logits, teacher_outputs
from fastbert.training.distill_study import scale_probe


def _fmt(values) -> str:
    return " / ".join(f"{v:.3f}" for v in values)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--teacher", default="assets/models/sst2-minilm")
    p.add_argument("--dev", default="../shared/data/sst2/dev.tsv")
    a = p.parse_args()
    torch.set_num_threads(1)
    teacher = FastBert.from_pretrained(a.teacher).eval()
    dev = teacher_outputs(teacher, load_dataset(a.dev))
    print("teacher logit norm per layer:", _fmt(dev.logits.norm(dim=-1).mean(1)))
    print("\nstudents at initialisation (seed 0): logit norm | λ max (dev mean) | per-sample peak, per student layer")
    for kind in ("bert", "bilstm", "gated-cnn"):
        cfg = DistillConfig(student=kind, method="kd", seed=0)
        s = layer_logits(build_student(teacher, cfg), teacher.collate, dev.enc)
        print(f"  {kind}: logit norm {_fmt(s.norm(dim=-1).mean(1))}")
        for space, (t, st) in (("logits", (dev.logits, s)), ("probs", (dev.logits.softmax(-1), s.softmax(-1)))):
            u = universal_kd_loss(t, st, "IL", space, return_lambda=True)
            print(f"    {space:>6}: λ max {_fmt(u.lambdas.max(-1).values)} | peak {_fmt(u.peak)}")
    print("\nstand-in student = teacher's last layer x c (c = 1/τ):")
    for r in scale_probe(dev.logits):
        print(f"  c={r['scale']:<5g} norm {r['student_logit_norm']:.2f}  λ {_fmt(r['lambda'])}  peak {r['peak']:.3f}")
    print("\nthe same stand-in at c = 1 with λ's temperature τ (fastbert.training.kd, tau=...): should match c = 1/τ")
    same = dev.logits[-1:].repeat(2, 1, 1)
    for tau in (1.0, 1 / 3, 1 / 5):
        u = universal_kd_loss(dev.logits, same, "CG", "logits", return_lambda=True, tau=tau)
        print(f"  τ={tau:<5.3g} λ {_fmt(u.lambdas[-1])}  largest {u.lambdas[-1].max():.3f}  peak {u.peak[-1]:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
