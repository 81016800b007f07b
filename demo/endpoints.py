"""The public endpoints (/classify, /classify_batch, /classify_file) wired into a Blocks, and
`user_errors`, which turns any failure of a callback into a message (never a traceback)."""
from __future__ import annotations

import functools
import html
import logging

import gradio as gr

from . import api, limits
from .batching import Batcher
from .inputs import FILE_TYPES, InputError, check_model, read_file
from .models import LoadedModel, ModelRegistry

log = logging.getLogger(__name__)
DEFAULT_SPEED = 0.5


def user_errors(fn=None, *, escape: bool = True):
    """Show input problems and failures as messages in the page, never as a traceback.
    escape=False for API endpoints: their messages are JSON strings, not HTML."""
    if fn is None:
        return functools.partial(user_errors, escape=escape)
    quote = html.escape if escape else str

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except InputError as err:
            raise gr.Error(quote(str(err)), title="Please check the input", print_exception=False) from None
        except Exception as err:
            log.exception("callback %s failed", fn.__name__)
            raise gr.Error(f"Something went wrong: {quote(type(err).__name__)}: {quote(str(err))}",
                           print_exception=False) from None

    return wrapper



def wire_api(registry: ModelRegistry, max_batch_rows: int) -> None:
    """The public endpoints /classify, /classify_batch and /classify_file (inside a Blocks)."""
    batcher = Batcher(api.run_together, max_batch=limits.MAX_BATCH_SIZE)

    def model_for(name) -> LoadedModel:
        return registry.get(check_model(name, registry.names, registry.default))

    def classify(text: str, speed: float = DEFAULT_SPEED, model: str = "") -> dict:
        """Classify one text with early exit. Returns label, confidence, probs, exit_layer (1-based),
        num_layers, uncertainties (of the layers that ran), flops, full_flops, speedup, num_tokens,
        input_tokens (input_tokens_estimated: true when a very long text was not read whole),
        truncated, notice, latency_ms (the model run) and batch_size (calls made at the same time
        run through the model together). `text` repeats at most the first 10,000 characters."""
        return user_errors(lambda: api.classify(model_for(model), text, speed, batcher), escape=False)()

    # Many at once: calls wait for the model together and share its runs (demo.batching).
    gr.api(classify, api_name="classify", concurrency_limit=limits.CLASSIFY_CONCURRENCY,
           concurrency_id="classify")

    def classify_batch(texts: list[str] | str, speed: float = DEFAULT_SPEED, model: str = "") -> list[dict]:
        """Classify many texts. `texts`: a list of strings, or one string with one text per line
        (blank lines skipped). Returns a list of /classify results (without latency_ms), in order."""
        work = lambda: api.classify_batch(model_for(model), texts, speed, max_batch_rows)  # noqa: E731
        return user_errors(work, escape=False)()

    gr.api(classify_batch, api_name="classify_batch")

    # Files need a File component so that clients upload them; it is never shown.
    with gr.Row(visible=False):
        api_file = gr.File(file_types=list(FILE_TYPES), type="filepath", label="file")
        api_file_speed = gr.Number(DEFAULT_SPEED, label="speed", minimum=0, maximum=1)
        api_result = gr.JSON(label="results")

    def classify_file(file, speed):
        """Classify every row of an uploaded .txt/.csv/.tsv file (a text column, optional label
        column); returns a list of /classify results (without latency_ms), in file order."""
        def work():
            if not file:
                raise InputError("No file was uploaded.")
            texts = read_file(file, max_batch_rows).texts
            return api.classify_texts(registry.get(), texts, speed, max_batch_rows)
        return user_errors(work, escape=False)()

    api_file.upload(classify_file, inputs=[api_file, api_file_speed], outputs=api_result, api_name="classify_file")
