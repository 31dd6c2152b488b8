"""Dataset and Job: what the service says about an uploaded table and a training job."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FINISHED = frozenset({"succeeded", "failed", "canceled"})


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # "numeric" | "categorical"
    n_missing: int
    levels: list[str] | None = None


@dataclass(frozen=True)
class Dataset:
    """An uploaded table (the service's DatasetRead).

    ``columns`` holds the column summaries the service sent: for a very wide table the first 1,000
    (``info["columns_truncated"]`` says so).
    """

    id: str
    name: str | None
    n_rows: int
    n_columns: int
    columns: list[Column]
    storage: str
    created_at: str
    info: dict[str, Any] = field(repr=False, compare=False)

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> Dataset:
        columns = [
            Column(c["name"], c["kind"], int(c.get("n_missing", 0)), c.get("levels"))
            for c in document.get("columns", [])
        ]
        return cls(
            id=document["id"],
            name=document.get("name"),
            n_rows=int(document["n_rows"]),
            n_columns=int(document["n_columns"]),
            columns=columns,
            storage=document.get("storage", "dense"),
            created_at=document.get("created_at", ""),
            info=document,
        )


@dataclass(frozen=True)
class Job:
    """A job (the service's JobRead) as it was when read: a fit makes a model, a stability,
    knockoffs or bootstrap job a selection."""

    id: str
    name: str | None
    status: str  # queued | running | succeeded | failed | canceled
    fraction: float
    stage: str
    message: str | None
    model_id: str | None
    dataset_id: str | None
    error: dict[str, Any] | None
    created_at: str
    finished_at: str | None
    info: dict[str, Any] = field(repr=False, compare=False)
    kind: str = "fit"
    selection_id: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> Job:
        progress = document.get("progress") or {}
        return cls(
            id=document["id"],
            name=document.get("name"),
            status=document["status"],
            fraction=float(progress.get("fraction", 0.0)),
            stage=str(progress.get("stage", "")),
            message=progress.get("message"),
            model_id=document.get("model_id"),
            dataset_id=document.get("dataset_id"),
            error=document.get("error"),
            created_at=document.get("created_at", ""),
            finished_at=document.get("finished_at"),
            info=document,
            kind=str(document.get("kind", "fit")),
            selection_id=document.get("selection_id"),
        )
