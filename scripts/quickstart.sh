#!/usr/bin/env bash
# Set up the environment (if needed) and run the main job: frame-level vs sequence-level
# training of tiny TransT on the embedded synthetic data (the tracker whose SLT gain shows at a
# CPU budget; ltr/experiments/README.md has every tracker's table). Extra arguments go to the
# experiment (ltr/run_experiment.py slt_vs_flt --help), e.g. --tracker siamrpnpp.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$REPO/scripts/setup_env.sh"
VENV="${SLT_VENV:-$REPO/.venv}"
cd "$REPO"
exec "$VENV/bin/python" ltr/run_experiment.py slt_vs_flt --tracker transt --out workspace/slt_vs_flt "$@"
