"""Reading labeled or unlabeled text from TSV, CSV, JSON lines and plain-text files.

Columns are chosen by name (files with a header) or by 0-based index (files without one).
Without explicit choices: a header is recognised by known column names; the label column is
`label` (or the last column of a header-less file); the remaining columns are the text
(two text columns make a sentence pair).
"""
from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

Text = str | tuple[str, str]
TEXT_NAMES = ("text_a", "text_b", "sentence", "sentence1", "sentence2", "text", "title", "review",
              "content", "question1", "question2")
LABEL_NAMES = ("label", "labels", "class", "category", "label_id")
# The largest cell read, in characters (csv's own default is 131,072).
FIELD_LIMIT = 10_000_000


class DataError(ValueError):
    """A data file that cannot be read as asked; the message says what and where."""


@dataclass
class TextDataset:
    texts: list[Text]
    raw_labels: list[str] | None = None  # label cells as written in the file
    source: str = ""
    label_names: list[str] = field(default_factory=list)  # distinct raw labels, sorted

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def is_pair(self) -> bool:
        return bool(self.texts) and isinstance(self.texts[0], tuple)

    def label_ids(self, labels: Sequence[str]) -> list[int]:
        """Map raw labels to ids of `labels` (a model's label names); ids are accepted too."""
        if self.raw_labels is None:
            raise DataError(f"{self.source}: has no label column")
        index = {name: i for i, name in enumerate(labels)}
        ids = []
        for row, raw in enumerate(self.raw_labels):
            if raw in index:
                ids.append(index[raw])
            elif raw.lstrip("-").isdigit() and 0 <= int(raw) < len(labels):
                ids.append(int(raw))
            else:
                raise DataError(f"{self.source}: row {row + 1} has label {raw!r}, not one of {list(labels)}")
        return ids

    def subset(self, rows: Sequence[int]) -> "TextDataset":
        return TextDataset([self.texts[r] for r in rows],
                           None if self.raw_labels is None else [self.raw_labels[r] for r in rows],
                           self.source, self.label_names)

    def split(self, dev_fraction: float, seed: int = 0) -> tuple["TextDataset", "TextDataset"]:
        """A seeded random (train, dev) split."""
        train, dev = split_rows(len(self), dev_fraction, seed)
        return self.subset(train), self.subset(dev)


def split_rows(n: int, dev_fraction: float, seed: int = 0) -> tuple[list[int], list[int]]:
    """The (train, dev) row indices of `TextDataset.split`, each sorted."""
    rows = list(range(n))
    random.Random(seed).shuffle(rows)
    n_dev = max(1, round(n * dev_fraction))
    return sorted(rows[n_dev:]), sorted(rows[:n_dev])


def _sort_labels(values) -> list[str]:
    values = set(values)
    if all(v.lstrip("-").isdigit() for v in values):
        return sorted(values, key=int)
    return sorted(values)


def _read_rows(path: Path, fmt: str) -> list[list[str]] | list[dict]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from err
    lines = text.splitlines()
    if fmt == "jsonl":
        rows = []
        for i, line in enumerate(lines):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise DataError(f"{path}: line {i + 1} is not JSON ({err.msg})") from err
        return rows
    if fmt == "txt":
        return [[line] for line in lines if line.strip()]
    # TSV cells are taken literally (SST-2 has unbalanced quotes); CSV follows RFC 4180.
    reader = csv.reader(lines, delimiter="\t", quoting=csv.QUOTE_NONE) if fmt == "tsv" else csv.reader(lines)
    before = csv.field_size_limit(FIELD_LIMIT)  # process-wide, so restored right after
    try:
        return [row for row in reader if any(c.strip() for c in row)]
    except csv.Error as err:
        raise DataError(f"{path}: line {reader.line_num}: {err} (cells of at most {FIELD_LIMIT:,} "
                        "characters)") from err
    finally:
        csv.field_size_limit(before)


def _pick(columns, wanted, names, what, path):
    """Resolve column choices (names or indices) to indices."""
    out = []
    for w in wanted:
        if isinstance(w, int) or (isinstance(w, str) and w.isdigit() and w not in names):
            i = int(w)
            if not 0 <= i < columns:
                raise DataError(f"{path}: {what} column {i} does not exist ({columns} columns)")
            out.append(i)
        elif w in names:
            out.append(names.index(w))
        else:
            raise DataError(f"{path}: no {what} column {w!r}; columns are {names or list(range(columns))}")
    return out


def load_dataset(path: str | Path, text_columns: Sequence[str | int] | None = None,
                 label_column: str | int | None = None, fmt: str | None = None,
                 header: bool | None = None, unlabeled: bool = False) -> TextDataset:
    """Read a data file. Example: `load_dataset("../shared/data/sst2/dev.tsv")`.

    fmt: "tsv", "csv", "jsonl" or "txt" (one text per line, no labels); by default from the
    file extension. unlabeled=True ignores any label column.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    fmt = fmt or {".tsv": "tsv", ".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl",
                  ".txt": "txt"}.get(path.suffix.lower(), "tsv")
    rows = _read_rows(path, fmt)
    if not rows:
        raise DataError(f"{path}: no rows")
    if fmt == "jsonl":
        names = list(rows[0].keys())
        table = [[str(r.get(n, "")) for n in names] for r in rows]
    else:
        width = max(len(r) for r in rows)
        table = [[c for c in r] + [""] * (width - len(r)) for r in rows]
        first = [c.strip().lower() for c in table[0]]
        known = set(TEXT_NAMES) | set(LABEL_NAMES)
        if header is None:
            header = fmt != "txt" and any(c in known for c in first)
        names = first if header else []
        if header:
            table = table[1:]
    if not table:
        raise DataError(f"{path}: a header but no rows")
    columns = len(table[0])
    if label_column is None and not unlabeled and fmt != "txt":
        label_column = next((n for n in LABEL_NAMES if n in names), None)
        if label_column is None and not names and columns > 1:
            label_column = columns - 1
    label_idx = None if unlabeled or label_column is None else _pick(columns, [label_column], names, "label", path)[0]
    if text_columns is None:
        by_name = [i for i, n in enumerate(names) if n in TEXT_NAMES and i != label_idx]
        text_idx = by_name or [i for i in range(columns) if i != label_idx]
    else:
        text_idx = _pick(columns, list(text_columns), names, "text", path)
    if not 1 <= len(text_idx) <= 2:
        raise DataError(f"{path}: need one or two text columns, found {len(text_idx)}; choose them explicitly")
    if len(text_idx) == 1:
        texts: list[Text] = [r[text_idx[0]].strip() for r in table]
    else:
        texts = [(r[text_idx[0]].strip(), r[text_idx[1]].strip()) for r in table]
    labels = None if label_idx is None else [r[label_idx].strip() for r in table]
    return TextDataset(texts, labels, str(path), _sort_labels(labels) if labels else [])
