"""Simulations with known truth for the selection procedures of issue 13, one subcommand each.

    .venv/bin/python -m bench.selection_sim knockoffs --reps 200
    .venv/bin/python -m bench.selection_sim <procedure> --help

Each procedure lives in its own module (``PROCEDURES``), which defines ``add_arguments(parser)``
and ``run(args) -> dict``; the dict is printed as JSON (and written to ``--out`` when given).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path

# One BLAS thread: the machines are small and shared (CONVENTIONS.md, Numerics).
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

# subcommand -> module (add a line per procedure)
PROCEDURES = {
    "knockoffs": "bench.knockoff_sim",
    "inference": "bench.inference_sim",
    "stability": "bench.stability_sim",
    "bootstrap": "bench.bootstrap_sim",
    "support": "bench.support_sim",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.selection_sim", description=__doc__)
    parser.add_argument("--out", type=Path, help="also write the JSON summary here")
    commands = parser.add_subparsers(dest="procedure", required=True)
    modules = {name: importlib.import_module(module) for name, module in PROCEDURES.items()}
    for name, module in modules.items():
        module.add_arguments(commands.add_parser(name, help=module.__doc__))
    args = parser.parse_args(argv)
    summary = modules[args.procedure].run(args)
    text = json.dumps(summary, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
