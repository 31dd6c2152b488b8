#!/usr/bin/env bash
# Runs the README's walkthrough, exactly as written there, against a running server.
# Usage: examples/walkthrough.sh [BASE_URL]   (default http://127.0.0.1:8000)
# The commands are the ```bash blocks between the walkthrough markers in README.md, so the README
# cannot drift from what works: CI runs this script against a real server.
set -euo pipefail
cd "$(dirname "$0")/.."
export BASE="${1:-${BASE:-http://127.0.0.1:8000}}"
script=$(awk '
  /<!-- walkthrough:start -->/ { on = 1; next }
  /<!-- walkthrough:end -->/   { on = 0 }
  on && /^```bash$/ { code = 1; next }
  on && /^```$/     { code = 0; next }
  on && code        { print }
' README.md)
[ -n "$script" ] || { echo "walkthrough: no commands found in README.md" >&2; exit 1; }
bash -euo pipefail -c "$script"
echo "walkthrough: OK"
