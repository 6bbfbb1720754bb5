# Sourced by scripts/run and scripts/test: make sure uv is there and the
# workspace is installed exactly as uv.lock says. On a fresh machine with only
# Python 3.11+, uv itself comes from PyPI into .local/bootstrap.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

if ! command -v uv >/dev/null 2>&1; then
    if [ ! -x .local/bootstrap/bin/uv ]; then
        python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
            || { echo "Python 3.11 or newer is required" >&2; exit 1; }
        echo "bootstrapping uv into .local/bootstrap" >&2
        python3 -m venv .local/bootstrap
        .local/bootstrap/bin/python -m pip install --quiet --disable-pip-version-check uv
    fi
    PATH="$ROOT/.local/bootstrap/bin:$PATH"
    export PATH
fi

uv sync --frozen --quiet
