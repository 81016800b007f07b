import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import torch  # noqa: E402

from tiny import TEXTS, tiny_model  # noqa: E402



@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """Tiny models gain nothing from threads, and on a busy 2-core machine OpenMP threads waiting
    for each other make every small op slow. The caller's setting is restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def _onnx_cache(tmp_path_factory):
    """ONNX exports made by tests (the app loads its models on ONNX Runtime) go to a temporary
    cache, not the user's."""
    old = os.environ.get("FASTBERT_ONNX_CACHE")
    os.environ["FASTBERT_ONNX_CACHE"] = str(tmp_path_factory.mktemp("onnx-cache"))
    yield
    if old is None:
        os.environ.pop("FASTBERT_ONNX_CACHE", None)
    else:
        os.environ["FASTBERT_ONNX_CACHE"] = old


@pytest.fixture(scope="session")
def model(tmp_path_factory):
    """The seeded tiny random FastBERT (3 layers, 2 labels)."""
    return tiny_model(tmp_path_factory.mktemp("tiny"))


@pytest.fixture
def texts():
    return list(TEXTS)


@pytest.fixture(scope="session")
def tiny_model_dir(model, tmp_path_factory):
    """The tiny model saved as a model directory the app can serve."""
    directory = tmp_path_factory.mktemp("models") / "tiny-sentiment"
    model.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def app_url(tiny_model_dir):
    """The app on the tiny model (at most 20 rows per batch), launched once and shared by every
    module that talks to it; tests never change its state."""
    from serving import running_app

    with running_app(tiny_model_dir, max_batch_rows=20) as address:
        yield address


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, driven by playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    from serving import CHROMIUM

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield chromium
        chromium.close()
