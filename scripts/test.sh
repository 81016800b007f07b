#!/usr/bin/env bash
# Installs everything the test suite needs (Python packages, Debian's Chromium for the browser
# test) and runs the whole suite. This is the README's test command and what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q -r requirements-dev.txt
bash scripts/install_chromium.sh
export HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 GRADIO_ANALYTICS_ENABLED=False
python3 -m pytest -q "$@"
