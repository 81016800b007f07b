"""Turning what a user typed or uploaded into texts, with messages a person can act on."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from fastbert.data import DataError, load_dataset

Text = str | tuple[str, str]
DEFAULT_MAX_ROWS = 1000
FILE_TYPES = (".txt", ".csv", ".tsv")
LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # JSON can carry them; no tokenizer takes them


class InputError(ValueError):
    """Input the app cannot use; the message is shown to the user as is."""


@dataclass
class BatchInput:
    """Texts to classify, with their labels when the source had a label column."""

    texts: list[Text]
    raw_labels: list[str] | None
    source: str  # "pasted lines", a file name, or "example batch"


def check_text(text) -> str:
    """The text to classify, or InputError when there is nothing to classify or it is no text.

    >>> check_text("  fine  ")
    'fine'
    """
    if text is None or (isinstance(text, str) and not text.strip()):
        raise InputError("Please enter a text to classify: the text box is empty.")
    if not isinstance(text, str):
        raise InputError(f"The text must be a string, got {_kind(text)}; send the text to classify as a "
                         "JSON string (several texts: use /classify_batch).")
    check_unicode(text, "The text")
    return text.strip()


def check_unicode(text: str, what: str) -> None:
    surrogate = LONE_SURROGATE.search(text)
    if surrogate:
        raise InputError(f"{what} has a lone surrogate (U+{ord(surrogate.group()):04X}) at character "
                         f"{surrogate.start() + 1}, which is not valid Unicode; send UTF-8 text.")


def _kind(value) -> str:
    """>>> _kind(3), _kind([1]), _kind({"a": 1})
    ('a number', 'a list', 'an object')"""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def check_speed(speed) -> float:
    """A number from 0 to 1 (not a bool, not a string).

    >>> check_speed(1)
    1.0
    """
    if isinstance(speed, bool) or not isinstance(speed, (int, float)):
        raise InputError(f"Speed must be a number between 0 and 1 (0 runs every layer, 1 exits earliest), "
                         f"got {speed!r}.")
    value = float(speed)
    if not 0.0 <= value <= 1.0:
        raise InputError(f"Speed must be between 0 and 1 (0 runs every layer, 1 exits earliest), got {value}.")
    return value


def check_model(name, names: list[str], default: str) -> str:
    """The model's name ("" or None: the default), or InputError naming the choices.

    >>> check_model("", ["a", "b"], "a"), check_model("b", ["a", "b"], "a")
    ('a', 'b')
    """
    if name is None or name == "":
        return default
    if not isinstance(name, str) or name not in names:
        raise InputError(f"Unknown model {name!r}; choose one of: {', '.join(names)} (or leave it empty for "
                         f"{default}).")
    return name


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
            raise InputError(f"Item {i + 1} of the batch is {_kind(item)}, not a string.")
        check_unicode(item, f"Item {i + 1} of the batch")
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
