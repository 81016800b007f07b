"""The words of the How-it-works tab; the numbers in them come from `demo.views`."""
from __future__ import annotations

import html

from .views import BatchRun, BatchView, LayerStep, text_of

INTRO = """\
### How FastBERT decides when to stop

FastBERT (Liu et al., ACL 2020) puts a small **student classifier** after every transformer
layer; the classifier after the last layer is the **teacher**. At inference a batch goes up
the layers, and after each layer every sample still running is classified by that layer's
student. A sample whose prediction is certain enough **leaves the batch** with that answer,
and the next layer runs only on the samples that are left: the batch shrinks, and so does the
work (the paper's Figure 2). Step through it below with the batch from the *Batch* tab (or the
example batch); move the speed slider at the top to change the threshold.
"""

UNCERTAINTY = """\
#### Uncertainty and the speed threshold
A layer's **uncertainty** is the normalized entropy of its class probabilities p₁ … p_N:
uncertainty = −Σ pᵢ log pᵢ / log N. It is 0 when the layer is sure of one class and 1 when
it spreads its probability evenly. The **speed** is the threshold: a sample leaves at the first
layer whose uncertainty is below the speed. Speed 0 never exits early (the full model);
a higher speed lets more samples leave earlier, which saves FLOPs and may cost accuracy.
"""

LUHA = """\
#### LUHA: lower uncertainty, higher accuracy
The threshold works because a layer's prediction is more often right when its uncertainty is
low. The chart pools every layer's prediction on this batch and groups them by uncertainty
(scored against the labels when the batch has them, else against the teacher).
"""

DISTILL = """\
#### Self-distillation
The students are not trained on labels. After the backbone and the teacher are fine-tuned,
they are frozen, and each student learns to reproduce the **teacher's** output distribution
(a KL-divergence loss) on unlabeled text. So a student's confident answer is a cheap estimate of
what the full model would say. The chart shows how often each layer agrees with the teacher.
"""


def step_markdown(run: BatchRun, view: BatchView, step: LayerStep, criterion: str = "entropy",
                  shown: int = 6) -> str:
    """What happens at one layer of the shrinking batch, and why, in a few lines."""
    k, L = step.layer, step.num_layers
    n_run, n_leave = len(step.running), len(step.leaving)
    if n_run == 0:
        return (f"**Layer {k} of {L}.** No sample reaches this layer at speed {step.speed:.2f}: "
                "all of them left earlier, so it is not computed at all.")
    unc = dict(zip(step.running, step.uncertainty))
    label = dict(enumerate(view.predicted))
    if k == L:
        head = (f"**Layer {k} of {L} (the teacher).** {n_run} of {len(run.texts)} samples are still "
                "running; the teacher answers for all of them, whatever their uncertainty.")
    else:
        rule = (f"their uncertainty is below the threshold {step.speed:.2f}" if criterion == "entropy"
                else f"the model's {criterion!r} exit rule fired")
        head = f"**Layer {k} of {L}.** {n_run} of {len(run.texts)} samples run this layer. "
        if n_leave:
            head += f"**{n_leave} leave** because {rule}; {n_run - n_leave} go on to layer {k + 1}."
        else:
            head += f"**None leaves**: no sample is sure enough yet; all {n_run} go on to layer {k + 1}."
    lines = [head]
    leaving = sorted(step.leaving, key=lambda i: unc[i])
    if leaving:
        lines.append("\nLeaving here:")
        for i in leaving[:shown]:
            lines.append(f"- {_quote(run.texts[i])}: uncertainty {unc[i]:.3f} → **{label[i]}**")
        if len(leaving) > shown:
            lines.append(f"- … and {len(leaving) - shown} more")
    staying = sorted(step.staying, key=lambda i: unc[i])
    if staying and k < L:
        i = staying[0]
        lines.append(f"\nClosest to leaving but staying: {_quote(run.texts[i])}: "
                     f"uncertainty {unc[i]:.3f} ≥ {step.speed:.2f}")
    return "\n".join(lines)


def _quote(text, limit: int = 90) -> str:
    s = text_of(text)
    s = s if len(s) <= limit else s[: limit - 1] + "…"
    # Markdown: escape what could turn a sentence into markup.
    s = html.escape(s).replace("*", "\\*").replace("_", "\\_").replace("`", "\\`").replace("[", "\\[")
    return f"“{s}”"
