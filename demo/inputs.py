"""Turning what a user typed or uploaded into texts, with messages a person can act on."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastbert.data import DataError, load_dataset

Text = str | tuple[str, str]
DEFAULT_MAX_ROWS = 1000
FILE_TYPES = (".txt", ".csv", ".tsv")


class InputError(ValueError):
    """Input the app cannot use; the message is shown to the user as is."""


@dataclass
class BatchInput:
    """Texts to classify, with their labels when the source had a label column."""

    texts: list[Text]
    raw_labels: list[str] | None
    source: str  # "pasted lines", a file name, or "example batch"


def check_text(text: str | None) -> str:
    """The text to classify, or InputError when there is nothing to classify.

    >>> check_text("  fine  ")
    'fine'
    """
    if text is None or not str(text).strip():
        raise InputError("Please enter a text to classify: the text box is empty.")
    return str(text).strip()


def check_speed(speed) -> float:
    try:
        value = float(speed)
    except (TypeError, ValueError):
        raise InputError(f"Speed must be a number between 0 and 1, got {speed!r}.") from None
    if not 0.0 <= value <= 1.0:
        raise InputError(f"Speed must be between 0 and 1, got {value}.")
    return value


def check_size(n: int, max_rows: int) -> None:
    if n == 0:
        raise InputError("The batch is empty: paste one text per line, upload a file, or use the example batch.")
    if n > max_rows:
        raise InputError(f"The batch has {n:,} rows; this app classifies at most {max_rows:,} at a time. "
                         "Split the file, or start the app with a larger --max-batch-rows.")


def lines_to_texts(pasted: str | list[str] | None) -> list[str]:
    """One text per non-blank line (a string), or the non-blank items of a list.

    >>> lines_to_texts("good film\\n\\n  bad plot ")
    ['good film', 'bad plot']
    """
    if pasted is None:
        return []
    items = pasted.splitlines() if isinstance(pasted, str) else list(pasted)
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise InputError(f"Item {i + 1} of the batch is a {type(item).__name__}, not a text.")
    return [t.strip() for t in items if t.strip()]


def read_pasted(pasted: str | None, max_rows: int = DEFAULT_MAX_ROWS) -> BatchInput:
    texts = lines_to_texts(pasted)
    check_size(len(texts), max_rows)
    return BatchInput(texts, None, "pasted lines")


def read_file(path: str | Path, max_rows: int = DEFAULT_MAX_ROWS) -> BatchInput:
    """Texts (and an optional label column) from a .txt, .csv or .tsv file.

    .txt: one text per line. .csv/.tsv: a header naming a text column (sentence, text, ...)
    and optionally a `label` column; without a header, the last of several columns is the label.
    """
    path = Path(path)
    name = path.name
    if path.suffix.lower() not in FILE_TYPES:
        raise InputError(f"{name}: upload a .txt, .csv or .tsv file (got {path.suffix or 'no extension'}).")
    try:
        data = load_dataset(path)
    except DataError as err:
        raise InputError(f"Could not read {name}: {str(err).replace(str(path), '').lstrip(': ')}") from None
    except (OSError, ValueError) as err:  # e.g. a CSV the csv module rejects
        raise InputError(f"Could not read {name}: {err}") from None
    texts = data.texts
    empty = [i + 1 for i, t in enumerate(texts) if not (t if isinstance(t, str) else "".join(t)).strip()]
    if empty and len(empty) == len(texts):
        raise InputError(f"{name}: the text column is empty in every row. Is it the right column?")
    blank = set(empty)
    keep = [i for i in range(len(texts)) if i + 1 not in blank]
    texts = [texts[i] for i in keep]
    labels = None if data.raw_labels is None else [data.raw_labels[i] for i in keep]
    try:
        check_size(len(texts), max_rows)
    except InputError as err:
        raise InputError(f"{name}: {err}") from None
    return BatchInput(texts, labels, name)
