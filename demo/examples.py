"""Example texts written for the project (assets/examples/<task>/): single.tsv has one text per
case (easy, hard, negated, mixed, neutral); batch.tsv is a labeled batch of mixed difficulty."""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from .inputs import BatchInput
from .models import ROOT

EXAMPLES_DIR = ROOT / "assets" / "examples"
DEFAULT_TASK = "sentiment"


@dataclass
class ExampleSet:
    task: str
    single: list[tuple[str, str]]  # (case, text)
    batch: BatchInput


def _read_tsv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [r for r in rows[1:] if r and any(c.strip() for c in r)]


def load_example_sets(directory: str | Path = EXAMPLES_DIR) -> list[ExampleSet]:
    sets = []
    for task_dir in sorted(Path(directory).iterdir()) if Path(directory).is_dir() else []:
        single, batch = task_dir / "single.tsv", task_dir / "batch.tsv"
        if not (single.is_file() and batch.is_file()):
            continue
        rows = _read_tsv(batch)
        sets.append(ExampleSet(task_dir.name, [(r[0], r[1]) for r in _read_tsv(single)],
                               BatchInput([r[0] for r in rows], [r[1] for r in rows],
                                          f"example batch ({task_dir.name})")))
    return sets


def examples_for(labels: list[str], sets: list[ExampleSet] | None = None) -> ExampleSet:
    """The example set whose batch labels are all among the model's labels; otherwise the
    sentiment set, without its labels (they would not mean anything to this model).

    >>> examples_for(["negative", "positive"]).task
    'sentiment'
    """
    sets = load_example_sets() if sets is None else sets
    if not sets:
        raise FileNotFoundError(f"no example sets under {EXAMPLES_DIR}")
    names = set(labels)
    for s in sets:
        if set(s.batch.raw_labels or []) <= names:
            return s
    first = next((s for s in sets if s.task == DEFAULT_TASK), sets[0])
    return ExampleSet(first.task, first.single, BatchInput(first.batch.texts, None, first.batch.source))
