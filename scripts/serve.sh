#!/usr/bin/env bash
# Builds the page and serves it at http://127.0.0.1:8080/ (PORT=… to change).
source "$(dirname "$0")/common.sh"
ensure_python
build_site
exec python3 "$ROOT/scripts/serve.py" --dir "$ROOT/dist" --port "${PORT:-8080}"
