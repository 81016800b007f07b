"""The named API endpoints, `/classify` and `/classify_batch`, as plain functions.

Example with gradio_client:
    >>> from gradio_client import Client                                     # doctest: +SKIP
    >>> client = Client("http://127.0.0.1:7860/")                            # doctest: +SKIP
    >>> client.predict("a fine film", 0.5, api_name="/classify")["exit_layer"]   # doctest: +SKIP
    2
    >>> client.predict(["good", "bad"], 0.5, api_name="/classify_batch")    # doctest: +SKIP
"""
import time

from fastbert import Prediction

from .inputs import DEFAULT_MAX_ROWS, InputError, check_size, check_speed, check_text, lines_to_texts
from .models import LoadedModel


def truncation_notice(pred: Prediction, max_length: int) -> str:
    if not pred.truncated:
        return ""
    return (f"Text truncated: it has {pred.input_tokens} tokens and the model reads at most "
            f"{max_length}, so only the first {pred.num_tokens} tokens were used.")


def prediction_dict(pred: Prediction, loaded: LoadedModel, speed: float) -> dict:
    """Prediction.to_dict() plus what an API user needs to read it on its own."""
    out = pred.to_dict()
    out.update(text=pred.text, labels=list(loaded.labels), model=loaded.name, runtime=loaded.runtime, speed=speed,
               input_tokens=pred.input_tokens,
               notice=truncation_notice(pred, loaded.model.config.max_length))
    return out


def classify(loaded: LoadedModel, text: str, speed: float) -> dict:
    """One text, adaptive inference: label, confidence, exit_layer, num_layers, uncertainties
    (of the layers that ran), flops, full_flops, speedup, latency_ms (this run), notice."""
    text, speed = check_text(text), check_speed(speed)
    with loaded.lock:
        start = time.perf_counter()
        pred = loaded.model.predict([text], speed=speed, batch_size=1)[0]
        ms = 1000 * (time.perf_counter() - start)
    return {**prediction_dict(pred, loaded, speed), "latency_ms": ms}


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
    with loaded.lock:
        preds = loaded.model.predict(list(texts), speed=speed, batch_size=32)
    return [prediction_dict(p, loaded, speed) for p in preds]

