#!/usr/bin/env bash
# Creates .venv (Python 3.11) and installs ShopDesk with its dev tools; re-installs only when
# pyproject.toml changed. Sourced by scripts/demo and scripts/test.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PYTHON="${PYTHON:-python3.11}"
if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "ShopDesk needs Python 3.11 ($PYTHON not found; set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PYTHON" -m venv .venv
fi
STAMP=.venv/.shopdesk-installed
WANT="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
  echo "==> installing dependencies into .venv (first run: a few minutes)"
  .venv/bin/python -m pip install --quiet --upgrade pip 2>&1 | grep -v "is ignored" || true
  # torch is pinned to the CPU wheel (torch==2.13.0) in pyproject.toml; FAISS comes from the
  # cpu extra (use .[gpu] on a CUDA machine).
  .venv/bin/python -m pip install --quiet -e ".[cpu,dev]" 2>&1 | grep -v "is ignored" || true
  .venv/bin/python -c "import django, channels, celery, torch, faiss, sentence_transformers" \
    || { echo "dependency install failed" >&2; exit 1; }
  echo "$WANT" > "$STAMP"
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
