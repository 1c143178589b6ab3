#!/usr/bin/env bash
# Set up the environment (if needed) and run the test suite. Extra arguments go to pytest.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$REPO/scripts/setup_env.sh"
VENV="${SLT_VENV:-$REPO/.venv}"
cd "$REPO"
exec "$VENV/bin/python" -m pytest tests -q "$@"
