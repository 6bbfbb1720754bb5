# Sourced by scripts/run, scripts/admin and scripts/test: make sure uv is there and
# the workspace is installed exactly as uv.lock says. On a fresh machine with only
# Python 3.11+, uv itself comes from PyPI into .local/bootstrap.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

# The same uv the Dockerfiles install: one resolver and lock format everywhere.
UV_VERSION=0.13.9

if ! command -v uv >/dev/null 2>&1; then
    if [ ! -x .local/bootstrap/bin/uv ] \
            || [ "$(.local/bootstrap/bin/uv --version | cut -d' ' -f2)" != "$UV_VERSION" ]; then
        python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
            || { echo "Python 3.11 or newer is required" >&2; exit 1; }
        echo "bootstrapping uv $UV_VERSION into .local/bootstrap" >&2
        python3 -m venv .local/bootstrap
        .local/bootstrap/bin/python -m pip install --quiet --disable-pip-version-check \
            "uv==$UV_VERSION"
    fi
    PATH="$ROOT/.local/bootstrap/bin:$PATH"
    export PATH
fi

if ! uv sync --frozen --check --quiet >/dev/null 2>&1; then
    echo "installing dependencies (uv sync --frozen; the first time takes a minute)" >&2
    if [ -t 2 ]; then
        uv sync --frozen          # uv's own progress bars on a terminal
    else
        uv sync --frozen --quiet
    fi
fi
