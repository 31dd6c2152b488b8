#!/usr/bin/env bash
# Writes a wide synthetic regression table (400 rows x 800 features + y) to stdout, deterministically,
# with nothing but awk: big enough that a fine 10-fold CV path runs long enough to cancel.
set -euo pipefail
awk 'BEGIN {
  srand(7); n = 400; p = 800
  header = "x1"; for (j = 2; j <= p; j++) header = header ",x" j; print header ",y"
  for (i = 1; i <= n; i++) {
    line = ""; y = 0
    for (j = 1; j <= p; j++) {
      v = (rand() + rand() + rand() - 1.5) * 2
      if (j <= 40) y += v * (j % 2 ? 1 : -1)
      line = line (j > 1 ? "," : "") sprintf("%.4f", v)
    }
    print line "," sprintf("%.4f", y + (rand() - 0.5) * 4)
  }
}'
