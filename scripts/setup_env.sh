#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment and install everything it needs.
#   SLT_VENV   where the environment lives (default: <checkout>/.venv)
#   SLT_PYTHON the interpreter that creates it (default: python3)
# Safe to run repeatedly: it only reinstalls when setup.py or this script changed.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SLT_VENV:-$REPO/.venv}"
PY="${SLT_PYTHON:-python3}"

if [ "$(id -u)" = "0" ]; then
  if ! ldconfig -p 2>/dev/null | grep -q libturbojpeg; then
    echo "[setup] installing libturbojpeg0 (fast JPEG decoding through jpeg4py)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libturbojpeg0 >/dev/null) \
      || echo "[setup] could not install libturbojpeg0; images will be decoded with OpenCV (slower)"
  fi
else
  ldconfig -p 2>/dev/null | grep -q libturbojpeg || \
    echo "[setup] not root: skipping 'apt-get install libturbojpeg0'; images will be decoded with OpenCV (slower)"
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating virtual environment at $VENV"
  "$PY" -m venv "$VENV"
fi
STAMP="$VENV/.slt-setup-stamp"
WANT="$(cat "$REPO/setup.py" "$REPO/scripts/setup_env.sh" "$REPO/scripts/constraints.txt" | sha256sum | cut -d' ' -f1) $REPO"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ]; then
  exit 0
fi
pip_install() {
  # Some machines' pip configuration names local package folders that may be absent; those
  # warnings are noise here, real errors still fail the script (pipefail).
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$@" 2>&1 \
    | { grep -v "^WARNING: Location '" || true; }
}
echo "[setup] installing packages into $VENV (first time: a few minutes)"
# Every pip call below reads this constraints file: torch needs setuptools>=77.0.3, and a resolver
# left free upgrades setuptools to a release without pkg_resources, which visdom's and jpeg4py's
# source builds (--no-build-isolation) import. Keeping the pin in one file keeps every call honest.
export PIP_CONSTRAINT="$REPO/scripts/constraints.txt"
# torch pinned so pip takes it from the local wheel cache instead of downloading gigabytes;
# setuptools in the same resolver call so torch's requirement and the pin are solved together.
pip_install wheel 'setuptools>=77.0.3,<81' torch==2.14.1 torchvision==0.29.1
# visdom and jpeg4py ship as source only and build against the setuptools installed above.
pip_install --no-build-isolation visdom jpeg4py
pip_install --no-build-isolation -e "$REPO[test]"
echo "$WANT" > "$STAMP"
echo "[setup] done: $VENV"
