# Sourced by scripts/serve and scripts/test: make `uv` available and the locked environment installed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$HOME/.local/bin:$PATH"
if ! command -v uv >/dev/null 2>&1; then
  echo "Installing uv from PyPI (python3 -m pip install --user uv)…" >&2
  python3 -m pip install --quiet --user uv 2>/dev/null || python3 -m pip install --quiet uv
fi
uv sync --frozen --quiet
