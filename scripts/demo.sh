#!/usr/bin/env bash
# Install if needed, then stylise the bundled photo with Starry Night (Gatys optimisation).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/nst demo "$@"
