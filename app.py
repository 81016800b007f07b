"""FastBERT explorer: `python app.py [--model DIR_OR_HUB_ID] [--host 127.0.0.1] [--port 7860]`.

Offline: no analytics, no telemetry, no share link. On Hugging Face Spaces (which run
`python app.py`) it binds 0.0.0.0.
"""
import os

# Before gradio or huggingface_hub are imported: they read these at import time.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
# Gradio's queue rebuilds a pandas summary of its last 10,000 events after every event, for a
# monitoring page this app turns off: work that grows with traffic. Keep one event, summarise rarely.
os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", "1")
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "1000000")

import argparse  # noqa: E402
import gc  # noqa: E402
import sys  # noqa: E402


def default_host() -> str:
    """127.0.0.1, unless on Spaces (SYSTEM=spaces) or GRADIO_SERVER_NAME says otherwise."""
    if os.environ.get("GRADIO_SERVER_NAME"):
        return os.environ["GRADIO_SERVER_NAME"]
    return "0.0.0.0" if os.environ.get("SYSTEM") == "spaces" else "127.0.0.1"


def main(argv=None) -> int:
    from demo import DEFAULT_MODEL, ModelRegistry, build_app, launch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(DEFAULT_MODEL),
                        help="a FastBERT model directory or Hugging Face hub id (default: %(default)s); "
                             "other models in assets/models/ appear in a picker")
    parser.add_argument("--host", default=default_host(), help="address to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    parser.add_argument("--max-batch-rows", type=int, default=1000, help="largest batch accepted (default: 1000)")
    args = parser.parse_args(argv)

    if args.model == str(DEFAULT_MODEL) and not DEFAULT_MODEL.is_dir():
        print(f"error: the default model is missing: {DEFAULT_MODEL}\n"
              "Rebuild it (docs/results.md, section 'Rebuild the models'), or pass --model with a FastBERT model "
              "directory (written by FastBert.save_pretrained) or a hub id.", file=sys.stderr)
        return 2
    try:
        app = build_app(ModelRegistry.from_source(args.model), max_batch_rows=args.max_batch_rows)
    except (OSError, ValueError, ImportError) as err:  # a bad directory: one line, no traceback
        print(f"error: cannot load model {args.model!r}: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    # Torch, transformers and Gradio leave ~600k objects that live as long as the process; a full
    # garbage collection walked them all (about a second on this machine, every thread stopped).
    gc.freeze()
    launch(app, args.host, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
