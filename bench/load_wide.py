"""Wide tables in the load test's traffic: a few hundred rows by 2,500 columns, fitted with a path and CV.

Issue 10 lost every wide model on the real server (its result crossed the job pipe half-way), so the
load test mixes wide uploads, wide jobs and predictions from wide models into its traffic, and the
verification reads every wide model back whole.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

WIDE_FEATURES = [f"w{j}" for j in range(2500)]
WIDE_ROWS = 300
WIDE_INFORMATIVE = 10
# Of uploads, the share that is wide (a 300 x 2,501 CSV is about 6 MB); of a client's submissions
# while it holds a wide dataset, the share that fits one.
WIDE_UPLOAD_SHARE = 0.04
WIDE_JOB_SHARE = 0.25
# A path of 100 alphas with 3-fold CV: the request that lost wide results before.
WIDE_JOB = {
    "target": "y",
    "family": "gaussian",
    "penalty": "lasso",
    "cv": {"folds": 3},
    "path": {"n_alphas": 100},
}
WIDE_TABLES = 3  # distinct tables, serialized once, before the clock


@dataclass(frozen=True)
class WideBodies:
    """Wide tables as CSV and Parquet bytes, made once: writing 6 MB of CSV per upload on the load
    generator's event loop would stall its 200 users and inflate every latency it reports."""

    csv: list[bytes]
    parquet: list[bytes]


def wide_table(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    X = rng.standard_normal((WIDE_ROWS, len(WIDE_FEATURES)))
    beta = np.zeros(len(WIDE_FEATURES))
    beta[:WIDE_INFORMATIVE] = rng.uniform(1.0, 2.0, WIDE_INFORMATIVE)
    return X, X @ beta + rng.standard_normal(WIDE_ROWS)


def table_csv(columns: list[str], values: np.ndarray) -> bytes:
    buffer = io.StringIO()
    np.savetxt(buffer, values, fmt="%.6g", delimiter=",", header=",".join(columns), comments="")
    return buffer.getvalue().encode()


def make_wide_bodies(seed: int = 10) -> WideBodies:
    rng = np.random.default_rng(seed)
    csv, parquet = [], []
    for _ in range(WIDE_TABLES):
        X, y = wide_table(rng)
        csv.append(table_csv([*WIDE_FEATURES, "y"], np.column_stack([X, y])))
        table = pa.table({**{name: X[:, j] for j, name in enumerate(WIDE_FEATURES)}, "y": y})
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        parquet.append(buffer.getvalue())
    return WideBodies(csv, parquet)


def wide_upload_request(
    bodies: WideBodies, rng: np.random.Generator, name: str
) -> tuple[str, dict[str, object]]:
    """A wide upload's variant label and request keyword arguments (raw CSV or raw Parquet body)."""
    index = int(rng.integers(WIDE_TABLES))
    if rng.random() < 0.5:
        headers = {"Content-Type": "text/csv"}
        return "wide-csv", {"content": bodies.csv[index], "params": {"name": name}, "headers": headers}
    headers = {"Content-Type": "application/vnd.apache.parquet"}
    return "wide-parquet", {"content": bodies.parquet[index], "params": {"name": name}, "headers": headers}
