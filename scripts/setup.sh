#!/usr/bin/env bash
# Sets up a machine for VoiceMill: system packages (apt) and the project's virtual
# environment at .venv, pinned by constraints.txt. Safe to re-run: each step is
# skipped when its inputs have not changed.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(espeak-ng ffmpeg sox libsndfile1 postgresql-client)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "==> installing system packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

PYTHON=${PYTHON:-python3.11}
# The container images install without the test tools: VOICEMILL_EXTRAS=ja.
EXTRAS=${VOICEMILL_EXTRAS:-dev}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
stamp=.venv/.voicemill-installed
want=$( (cat pyproject.toml constraints.txt scripts/setup.sh tests/parity/peer-requirements.txt; echo "$EXTRAS") | sha256sum | cut -d' ' -f1)
# Plain `dagster dev`/`dagster` commands read .env from their working directory. An image
# build has no database to ask (VOICEMILL_SKIP_DOTENV=1): its settings come from the
# container's environment.
write_dotenv() {
  [ "${VOICEMILL_SKIP_DOTENV:-0}" = 1 ] || [ -f .env ] || .venv/bin/voicemill dotenv
}
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  write_dotenv
  exit 0
fi
echo "==> creating .venv and installing pinned dependencies (first run downloads ~5 GB)"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -c constraints.txt -e ".[$EXTRAS]"
# resemblyzer (speaker similarity) declares webrtcvad, which breaks at import; its
# module comes from webrtcvad-wheels (a dependency above), so skip its requirements.
.venv/bin/python -m pip install -q --no-deps -c constraints.txt resemblyzer
# The parity peer (tests/parity): upstream GPT-SoVITS's code from an installable fork,
# kept out of site-packages (see tests/parity/peer-requirements.txt).
.venv/bin/python -m pip install -q --no-deps --upgrade --target .venv/peer \
  -r tests/parity/peer-requirements.txt
echo "$want" > "$stamp"
write_dotenv
