#!/usr/bin/env bash
# Install if needed, then run the default (fast, offline) test suite. Pass -m slow for the slow tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/python -m pytest "$@"
