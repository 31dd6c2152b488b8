"""Small predictions answered on the event loop: a thread hop costs more than their whole work."""

from __future__ import annotations

from service.api.deps import Services
from service.api.prediction_rows import read_split_rows
from service.api.uploads import is_json_list
from service.data.sparse import SparseTable
from service.data.table import Table
from service.worker.artifact import ModelArtifact

# Profiled on one core (wrk, one row of diabetes): handing each step to a thread (the artifact's
# catalog read, parsing, predicting) spent more time waking threads and trading the GIL than in the
# steps themselves. Below these sizes a step takes well under a millisecond on the loop, so it
# runs there; anything larger still goes to a thread, as before.
INLINE_BODY_BYTES = 256 * 1024
# Rows x the wider of the table and the model's design: 1,000 rows of diabetes are 10,000 cells.
INLINE_CELLS = 32 * 1024
# Reading rows costs per column too: 5 rows of a 2,500-column model (a 260 KB body) took 19 ms
# to read, against 2 ms for 1,000 rows of 10 columns (200 KB); under `make load` such reads on
# the loop set the /healthz p99. A wider model's rows are read in a thread.
INLINE_COLUMNS = 256


def artifact_now(services: Services, model_id: str, tenant: str) -> ModelArtifact | None:
    """The model's artifact if it can be had without waiting, else None (then load it in a thread).

    Still the catalog's answer first, for every request: a deleted model or another tenant's is a
    404 here, and a file whose checksum the catalog changed is a cache miss.
    """
    sha256 = services.catalog.model_sha256_nowait(model_id, tenant=tenant)
    if sha256 is None:
        return None
    return services.artifacts.cached(model_id, sha256, tenant)


def json_rows_now(
    body: bytes, services: Services, alpha: float | None, artifact: ModelArtifact
) -> tuple[Table, float | None] | None:
    """A small ``columns`` + ``data`` body's rows and alpha for a narrow model, read on the loop;
    None for anything else."""
    narrow = len(artifact.encoder.design_columns) <= INLINE_COLUMNS
    if not narrow or len(body) > INLINE_BODY_BYTES or is_json_list(body):
        return None
    lean = read_split_rows(body, services.table_limits)
    if lean is None:
        return None
    table, chosen = lean
    return table, chosen if chosen is not None else alpha


def predicts_inline(artifact: ModelArtifact, rows: Table | SparseTable) -> bool:
    """Whether predicting ``rows`` is small enough for the event loop."""
    width = max(rows.n_columns, len(artifact.encoder.design_columns))
    return rows.n_rows * width <= INLINE_CELLS
