"""The benchmark's ONNX Runtime contenders, timed in the same rounds as the others:
  (d) the full model as one ONNX graph (every layer, the teacher, softmax; `FullGraph`), exported
      the way a user who does not exit early would export it, run on the same length-sorted
      batches as (b);
  (e) FastBERT on ONNX Runtime (`OrtRunner`: the same loop as PyTorch's, the layers as segments).
Both use the same session settings (`OrtOptions`: threads as the benchmark's, spinning off).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch


@dataclass
class OrtContenders:
    runner: object  # fastbert.ort_runtime.OrtRunner, (e)
    full: object  # onnxruntime.InferenceSession of the whole model, (d)
    full_inputs: list[str]

    def full_run(self, batches: Sequence[tuple[torch.Tensor, ...]]) -> Callable[[], None]:
        """(d) over pre-collated (ids, mask, types) batches."""
        feeds = []
        for ids, mask, types in batches:
            named = {"input_ids": ids, "mask": mask, "token_type_ids": types}
            feeds.append({k: np.ascontiguousarray(named[k].cpu().numpy()) for k in self.full_inputs})

        def run():
            for feed in feeds:
                self.full.run(None, feed)
        return run


def full_graph_file(model):
    """(d)'s ONNX file in the export cache (`<key>-full/model.onnx`), exported there when absent."""
    from ..onnx_export import export_full_graph, model_key
    from ..ort_runtime import cache_root

    path = cache_root() / f"{model_key(model)}-full" / "model.onnx"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        export_full_graph(model, path.with_suffix(".tmp"))
        path.with_suffix(".tmp").rename(path)
    return path


def build_contenders(model, threads: int, log=print, options=None) -> OrtContenders | None:
    """(d) and (e) for `model`, exported into the ONNX cache (reused when there); None, with a
    logged reason, when onnxruntime is missing or the export fails. options: `OrtOptions` (by
    default the runtime's, with `threads`)."""
    try:
        from ..ort_runtime import OrtOptions, load_runner, new_session

        options = options or OrtOptions(threads=threads or None)
        runner = load_runner(model, options=options)
        session = new_session(full_graph_file(model), options)
        return OrtContenders(runner, session, [i.name for i in session.get_inputs()])
    except Exception as err:  # ImportError without onnxruntime, or an export that fails
        log(f"  onnxruntime contenders skipped: {type(err).__name__}: {err}")
        return None
