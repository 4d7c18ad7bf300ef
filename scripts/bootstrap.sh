#!/usr/bin/env bash
# Prepare .venv from uv.lock. Never downloads a Python interpreter: Rasa 3.6 needs 3.10.
set -euo pipefail
export UV_PYTHON_DOWNLOADS=never
cd "$(dirname "$0")/.."

find_python() {
  for candidate in python3.10 "$(pyenv root 2>/dev/null)/versions/3.10"*/bin/python3.10 /usr/bin/python3.10; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null; then
      command -v "$candidate"; return 0
    fi
  done
  return 1
}

if ! PY=$(find_python); then
  cat >&2 <<'MSG'
找不到 Python 3.10。Rasa Open Source 3.6 只支持 Python 3.8–3.10，本项目固定为 3.10。
No Python 3.10 found. Install one, then run the command again:
  pyenv install 3.10        (with pyenv)
  sudo apt install python3.10 python3.10-venv   (Debian/Ubuntu with that package)
MSG
  exit 1
fi

if ! "$PY" -m uv --version >/dev/null 2>&1 && ! command -v uv >/dev/null 2>&1; then
  echo "uv not found: installing it with pip for $PY" >&2
  "$PY" -m pip install --quiet --user uv || "$PY" -m pip install --quiet uv
fi
if "$PY" -m uv --version >/dev/null 2>&1; then UV=("$PY" -m uv); else UV=(uv); fi

"${UV[@]}" sync --frozen --python "$PY" --quiet

# The console's browser libraries (ECharts) come from the npm registry through
# package-lock.json and are served by the app from node_modules (never a CDN).
if [ -f package-lock.json ] && [ ! -d node_modules ]; then
  if command -v npm >/dev/null 2>&1; then
    npm ci --no-audit --no-fund --loglevel=error
  else
    echo "npm not found: the dashboard charts will be missing until 'npm ci' is run" >&2
  fi
fi
