#!/usr/bin/env sh
# FINN (finn-plus 1.4.0) into the Python environment that holds wavebits, changing nothing installed.
# pip alone cannot: finn-plus 1.4.0 pins versions that clash with wavebits's (README, "FINN users");
# uv's --override replaces exactly those (finn-overrides.txt beside this script), and a constraint
# file of what is installed keeps every other version. PYTHON names the interpreter (default python).
set -eu
PY=${PYTHON:-python}
HERE=$(cd "$(dirname "$0")" && pwd)
"$PY" -c "import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)" || {
    echo "error: finn-plus 1.4.0 installs on Python 3.11 only, not $("$PY" -V 2>&1)"; exit 2; }
"$PY" -c "import wavebits" 2>/dev/null || {
    echo "error: install wavebits first (pip install -e \".[dev]\") in the environment of $PY"; exit 2; }
"$PY" -m pip install -q uv
INSTALLED=$(mktemp)
trap 'rm -f "$INSTALLED"' EXIT
"$PY" -m pip freeze --exclude-editable > "$INSTALLED"
"$PY" -m uv pip install -q --python "$PY" --override "$HERE/finn-overrides.txt" -c "$INSTALLED" finn-plus==1.4.0
