"""app.py and launching: host choice, clear start-up errors, and a helper that serves the app
on a free local port for the end-to-end tests (test_app_api.py, test_app_browser.py)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

import app as app_module
import demo
from serving import running_app

ROOT = Path(__file__).resolve().parents[1]


def test_served_app_answers_on_localhost(tiny_model_dir):
    import httpx

    with running_app(tiny_model_dir) as url:
        assert url.startswith("http://127.0.0.1:")
        page = httpx.get(url, timeout=30)
        assert page.status_code == 200 and "FastBERT" in page.text
        config = httpx.get(url + "config", timeout=30).json()
        # No analytics, no MCP server, no external stylesheets.
        assert config["analytics_enabled"] is False and config["mcp_server"] is False
        assert config["stylesheets"] == []
        (picker,) = [c for c in config["components"] if c.get("props", {}).get("elem_id") == "model"]
        assert picker["props"]["visible"] is False  # one model: no picker


def test_several_models_get_a_picker_and_load_on_demand(model, tiny_model_dir, tmp_path):
    import httpx
    from gradio_client import Client
    from gradio_client.exceptions import AppError
    from tiny import tiny_model

    models = tmp_path / "models"
    model.save_pretrained(models / "a-sentiment")
    news = ("World", "Sports", "Business", "Sci/Tech")
    tiny_model(tmp_path / "news", labels=news).save_pretrained(models / "b-news")
    with running_app(models / "a-sentiment", models_dir=models) as url:
        config = httpx.get(url + "config", timeout=30).json()
        (picker,) = [c for c in config["components"] if c.get("props", {}).get("elem_id") == "model"]
        assert picker["props"]["visible"] is True
        assert [choice[0] for choice in picker["props"]["choices"]] == ["a-sentiment", "b-news"]
        client = Client(url, verbose=False)
        assert client.predict("good film", 0.5, api_name="/classify")["labels"] == ["negative", "positive"]
        other = client.predict("good film", 0.5, "b-news", api_name="/classify")
        assert other["labels"] == list(news) and other["model"] == "b-news"
        with pytest.raises(AppError, match="^Unknown model 'c'; choose one of: a-sentiment, b-news") as err:
            client.predict("good film", 0.5, "c", api_name="/classify")
        assert "KeyError" not in str(err.value) and "\n" not in str(err.value)


def test_default_host_is_local_except_on_spaces(monkeypatch):
    monkeypatch.delenv("GRADIO_SERVER_NAME", raising=False)
    monkeypatch.delenv("SYSTEM", raising=False)
    assert app_module.default_host() == "127.0.0.1"
    monkeypatch.setenv("SYSTEM", "spaces")
    assert app_module.default_host() == "0.0.0.0"
    monkeypatch.setenv("GRADIO_SERVER_NAME", "10.0.0.5")
    assert app_module.default_host() == "10.0.0.5"


def test_missing_default_model_is_a_clear_message(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(demo, "DEFAULT_MODEL", tmp_path / "sst2-minilm")
    assert app_module.main([]) == 2
    err = capsys.readouterr().err
    assert "default model is missing" in err and "--model" in err and "Traceback" not in err


def test_bad_model_path_is_a_clear_message(tmp_path, capsys):
    assert app_module.main(["--model", str(tmp_path / "nowhere")]) == 2
    assert "cannot load model" in capsys.readouterr().err


def test_app_turns_off_analytics_and_telemetry_before_gradio_loads():
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "True", "HF_HUB_DISABLE_TELEMETRY": "0"}
    code = ("import sys, app, os; assert 'gradio' not in sys.modules; "
            "print(os.environ['GRADIO_ANALYTICS_ENABLED'], os.environ['HF_HUB_DISABLE_TELEMETRY'])")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "1"]
