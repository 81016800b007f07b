"""The named API endpoints, `/classify` and `/classify_batch`, as plain functions.

Texts are tokenized before the model lock is taken (`FastBert.tokenize` is thread-safe and reads
at most a bounded prefix of each text), so a long text never makes other requests wait; the
lock is held only while the layers run. Concurrent `/classify` calls run through the model
together as one shrinking batch, and each text still leaves at its own layer (`demo.batching`).

Example with gradio_client:
    >>> from gradio_client import Client                                     # doctest: +SKIP
    >>> client = Client("http://127.0.0.1:7860/")                            # doctest: +SKIP
    >>> client.predict("a fine film", 0.5, api_name="/classify")["exit_layer"]   # doctest: +SKIP
    2
    >>> client.predict(["good", "bad"], 0.5, api_name="/classify_batch")    # doctest: +SKIP
"""
import time

from fastbert import Prediction

from .batching import Batcher
from .inputs import DEFAULT_MAX_ROWS, InputError, check_size, check_speed, check_text, lines_to_texts
from .models import LoadedModel

ECHO_CHARS = 10_000  # answers repeat at most this much of a text


def truncation_notice(pred: Prediction, max_length: int) -> str:
    if not pred.truncated:
        return ""
    count = (f"about {pred.input_tokens:,} tokens (estimated from its beginning; a text this long is not "
             "read whole)" if pred.input_tokens_estimated else f"{pred.input_tokens:,} tokens")
    return (f"Text truncated: it has {count} and the model reads at most {max_length}, so only the first "
            f"{pred.num_tokens} tokens were used.")


def prediction_dict(pred: Prediction, loaded: LoadedModel, speed: float) -> dict:
    """Prediction.to_dict() plus what an API user needs to read it on its own."""
    out = pred.to_dict()
    text = pred.text
    if isinstance(text, str) and len(text) > ECHO_CHARS:
        text = text[:ECHO_CHARS] + "…"
    out.update(text=text, labels=list(loaded.labels), model=loaded.name, runtime=loaded.runtime, speed=speed,
               notice=truncation_notice(pred, loaded.model.config.max_length))
    return out


def predict(loaded: LoadedModel, texts: list, speed: float, batch_size: int = 32) -> tuple[list[Prediction], float]:
    """Predictions and the milliseconds the model ran: tokenized outside the lock, run inside it."""
    enc = loaded.model.tokenize(texts)
    with loaded.lock:
        start = time.perf_counter()
        preds = loaded.model.predict(texts, speed=speed, batch_size=batch_size, encodings=enc)
        ms = 1000 * (time.perf_counter() - start)
    return preds, ms


def classify(loaded: LoadedModel, text: str, speed: float, batcher: Batcher | None = None) -> dict:
    """One text, adaptive inference: label, confidence, exit_layer, num_layers, uncertainties
    (of the layers that ran), flops, full_flops, speedup, latency_ms (the model run), batch_size
    (texts in that run: with a `Batcher`, calls made at the same time run together), notice."""
    text, speed = check_text(text), check_speed(speed)
    enc = loaded.model.tokenize([text])  # outside the lock
    batcher = batcher or Batcher(run_together, max_batch=1)
    pred, ms, size = batcher.submit((loaded.name, speed), (loaded, text, enc), loaded.lock)
    return {**prediction_dict(pred, loaded, speed), "latency_ms": ms, "batch_size": size}


def run_together(key: tuple[str, float], items: list[tuple[LoadedModel, str, dict]]) -> list[tuple]:
    """`Batcher`'s run for `classify` (the model lock is held): every text of one model at one
    speed as one shrinking batch -> (prediction, ms of the run, batch size) per text."""
    _, speed = key
    loaded = items[0][0]
    texts = [text for _, text, _ in items]
    encodings = {k: [enc[k][0] for _, _, enc in items] for k in items[0][2]}
    start = time.perf_counter()
    preds = loaded.model.predict(texts, speed=speed, batch_size=len(texts), encodings=encodings)
    ms = 1000 * (time.perf_counter() - start)
    return [(pred, ms, len(texts)) for pred in preds]


def classify_batch(loaded: LoadedModel, texts, speed: float, max_rows: int = DEFAULT_MAX_ROWS) -> list[dict]:
    """A list of texts (or one string with a text per line; blank lines are skipped) -> a list
    of `classify` results in the same order, without per-text latency."""
    if isinstance(texts, str):
        items = lines_to_texts(texts)
    elif isinstance(texts, (list, tuple)):
        # A list keeps its positions: a blank item is an error, not silently dropped.
        items = lines_to_texts(list(texts))
        if len(items) != len(texts):
            blank = next(i for i, t in enumerate(texts) if not t.strip())
            raise InputError(f"Item {blank + 1} of the batch is empty; remove it or give it a text.")
    else:
        raise InputError("texts must be a list of strings or one string with a text per line, "
                         f"got {type(texts).__name__}")
    return classify_texts(loaded, items, speed, max_rows)


def classify_texts(loaded: LoadedModel, texts: list, speed: float, max_rows: int = DEFAULT_MAX_ROWS) -> list[dict]:
    """Already parsed texts (strings or sentence pairs) -> a list of `classify` results."""
    check_size(len(texts), max_rows)
    speed = check_speed(speed)
    for i, t in enumerate(texts):
        if isinstance(t, tuple) and not all(half.strip() for half in t):
            raise InputError(f"Row {i + 1}: one text of the sentence pair is empty; give both texts.")
    preds, _ = predict(loaded, list(texts), speed)
    return [prediction_dict(p, loaded, speed) for p in preds]
