"""What one client may ask of the server: request and file sizes, queue and batch sizes, and
how long uploads are kept."""
MAX_REQUEST_BYTES = 24 * 1024 * 1024  # a 10 MB text fits; a 30 MB one gets 413 before it is read
MAX_FILE_BYTES = 20 * 1024 * 1024  # per uploaded file (Gradio's own check)
DELETE_CACHE = (300, 900)  # every 5 minutes, delete uploads older than 15 minutes
QUEUE_SIZE = 512  # calls waiting at once; more are refused with "queue is full"
MAX_BATCH_SIZE = 32  # /classify calls run through the model together, at most
CLASSIFY_CONCURRENCY = 64  # /classify calls in progress at once (waiting ones share model runs)
MAX_THREADS = 96  # Gradio's worker threads: the /classify calls plus the page's callbacks


def app_kwargs() -> dict:
    """FastAPI options for `Blocks.launch(app_kwargs=...)`: FastAPI's own request-size limit
    (a longer body gets 413 Content Too Large, by its Content-Length or as soon as it is read)."""
    return {"max_body_size": MAX_REQUEST_BYTES}
