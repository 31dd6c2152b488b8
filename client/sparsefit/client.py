"""Client: upload tables, start and follow jobs, read models; one httpx connection pool per client."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, overload

import httpx

from sparsefit.errors import JOB_CANCELED_PROBLEM, TRANSPORT_PROBLEM, SparsefitError
from sparsefit.events import read_events
from sparsefit.models import Model
from sparsefit.progress import Progress, progress_display
from sparsefit.resources import Dataset, Job
from sparsefit.selections import Selection
from sparsefit.transport import DEFAULT_TIMEOUT_S, Http
from sparsefit.uploads import file_body, is_table_path, json_body, table_document

# After an event stream ends without the job's final status (a restarting server), wait this long
# before following it again.
RECONNECT_S = 0.5


class Client:
    """A Sparsefit service at ``url`` (default: $SPARSEFIT_URL, else http://127.0.0.1:8000).

    ``api_key`` (default: $SPARSEFIT_API_KEY) is sent as `Authorization: Bearer <key>`. Every answer of
    400 or more, and every transport failure, raises :class:`SparsefitError`. Use it as a context
    manager, or call :meth:`close`, to close its connections.
    """

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = Http(url, api_key, timeout, transport)

    @property
    def url(self) -> str:
        return self._http.url

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<sparsefit.Client {self.url}>"

    # Datasets

    def upload(
        self, data: object, name: str | None = None, *, columns: Sequence[str] | None = None
    ) -> Dataset:
        """Store a table: a DataFrame, a 2-D numpy array or scipy.sparse matrix (columns named by
        ``columns`` or x1 ... xp), a dict of columns, or a .csv, .parquet, .svm/.svmlight/.libsvm file
        (each possibly .gz)."""
        if is_table_path(data):
            path = os.fspath(data)
            body = file_body(path)
            params = {"name": name or os.path.basename(path)}
            document = self._http.json("POST", "/v1/datasets", params=params, **body.request())
        else:
            table = table_document(data, columns)
            if name is not None:
                table["name"] = name
            document = self._http.json("POST", "/v1/datasets", **json_body(table).request())
        return Dataset.from_json(document)

    def dataset(self, dataset_id: str) -> Dataset:
        return Dataset.from_json(self._http.json("GET", f"/v1/datasets/{dataset_id}"))

    def datasets(self, limit: int = 50, offset: int = 0) -> list[Dataset]:
        page = self._http.json("GET", "/v1/datasets", params={"limit": limit, "offset": offset})
        return [Dataset.from_json(item) for item in page["items"]]

    def delete_dataset(self, dataset: Dataset | str) -> None:
        self._http.request("DELETE", f"/v1/datasets/{_id(dataset)}")

    # Jobs

    @overload
    def fit(
        self,
        dataset: object,
        target: str,
        *,
        wait: Literal[True] = True,
        progress: bool = False,
        columns: Sequence[str] | None = None,
        **options: Any,
    ) -> Model: ...

    @overload
    def fit(
        self,
        dataset: object,
        target: str,
        *,
        wait: Literal[False],
        progress: bool = False,
        columns: Sequence[str] | None = None,
        **options: Any,
    ) -> Job: ...

    def fit(
        self,
        dataset: object,
        target: str,
        *,
        wait: bool = True,
        progress: bool = False,
        columns: Sequence[str] | None = None,
        **options: Any,
    ) -> Model | Job:
        """Train a model of ``target`` on ``dataset`` (a Dataset, a dataset id, or a table or file,
        uploaded first); ``options`` are JobCreate fields (``penalty="elasticnet"``, ``l1_ratio=0.5``,
        ``cv=10`` or ``cv={"folds": 10, "rule": "min"}``, ``family``, ``features`` ...).

        With ``wait`` (the default) it follows the job's events until it ends and returns the Model,
        showing a progress bar when ``progress`` is true; a failed or canceled job raises
        SparsefitError. ``wait=False`` returns the queued Job at once. ``columns`` names the columns
        of an array or sparse matrix uploaded first, as in :meth:`upload`.
        """
        body = job_body(self._dataset_id(dataset, columns), target, options)
        job = Job.from_json(self._http.json("POST", "/v1/jobs", json=body))
        return self.wait(job, progress=progress) if wait else job

    def wait(self, job: Job | str, progress: bool = False) -> Model:
        """Follow a job's events until it ends: its Model, or SparsefitError if it failed or was canceled."""
        return self._model_of(self._finished(job, progress))

    @overload
    def select(
        self,
        dataset: object,
        target: str,
        kind: str = "stability",
        *,
        wait: Literal[True] = True,
        progress: bool = False,
        columns: Sequence[str] | None = None,
        **options: Any,
    ) -> Selection: ...

    @overload
    def select(
        self,
        dataset: object,
        target: str,
        kind: str = "stability",
        *,
        wait: Literal[False],
        progress: bool = False,
        columns: Sequence[str] | None = None,
        **options: Any,
    ) -> Job: ...

    def select(
        self,
        dataset: object,
        target: str,
        kind: str = "stability",
        *,
        wait: bool = True,
        progress: bool = False,
        columns: Sequence[str] | None = None,
        **options: Any,
    ) -> Selection | Job:
        """Select the features of ``target`` on ``dataset`` with ``kind`` (``stability``,
        ``knockoffs`` or ``bootstrap``); ``options`` are JobCreate fields, the kind's own parameters
        among them (``stability={"pfer": 1}``, ``knockoffs={"fdr": 0.1}``, ``bootstrap={...}``).

        With ``wait`` (the default) it follows the job and returns the Selection; ``wait=False``
        returns the queued Job (then :meth:`wait_selection`).
        """
        body = job_body(self._dataset_id(dataset, columns), target, {**options, "kind": kind})
        job = Job.from_json(self._http.json("POST", "/v1/jobs", json=body))
        return self.wait_selection(job, progress=progress) if wait else job

    def wait_selection(self, job: Job | str, progress: bool = False) -> Selection:
        """Follow a selection job until it ends: its Selection, or SparsefitError if it did not succeed."""
        final = self._finished(job, progress)
        if final.status == "succeeded" and final.selection_id:
            return self.selection(final.selection_id)
        raise _job_problem(final, "a selection")

    def job(self, job_id: str) -> Job:
        return Job.from_json(self._http.json("GET", f"/v1/jobs/{job_id}"))

    def jobs(self, status: str | None = None, limit: int = 50, offset: int = 0) -> list[Job]:
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if status is not None:
            params["status"] = status
        return [Job.from_json(item) for item in self._http.json("GET", "/v1/jobs", params=params)["items"]]

    def cancel(self, job: Job | str) -> Job:
        return Job.from_json(self._http.json("POST", f"/v1/jobs/{_id(job)}/cancel"))

    def delete_job(self, job: Job | str) -> None:
        self._http.request("DELETE", f"/v1/jobs/{_id(job)}")

    # Models

    def model(self, model_id: str) -> Model:
        return Model(self._http, self._http.json("GET", f"/v1/models/{model_id}"))

    def models(self, limit: int = 50, offset: int = 0) -> list[Model]:
        page = self._http.json("GET", "/v1/models", params={"limit": limit, "offset": offset})
        return [Model(self._http, item) for item in page["items"]]

    def delete_model(self, model: Model | str) -> None:
        self._http.request("DELETE", f"/v1/models/{_id(model)}")

    # Selections

    def selection(self, selection_id: str) -> Selection:
        return Selection(self._http, self._http.json("GET", f"/v1/selections/{selection_id}"))

    def selections(self, limit: int = 50, offset: int = 0) -> list[Selection]:
        page = self._http.json("GET", "/v1/selections", params={"limit": limit, "offset": offset})
        return [Selection(self._http, item) for item in page["items"]]

    def delete_selection(self, selection: Selection | str) -> None:
        self._http.request("DELETE", f"/v1/selections/{_id(selection)}")

    # Operations

    def health(self) -> dict[str, Any]:
        document: dict[str, Any] = self._http.json("GET", "/healthz")
        return document

    def version(self) -> dict[str, Any]:
        document: dict[str, Any] = self._http.json("GET", "/version")
        return document

    # Internals

    def _dataset_id(self, dataset: object, columns: Sequence[str] | None = None) -> str:
        if isinstance(dataset, Dataset):
            return dataset.id
        if isinstance(dataset, str) and not is_table_path(dataset):
            return dataset
        return self.upload(dataset, columns=columns).id

    def _finished(self, job: Job | str, progress: bool) -> Job:
        """The job's final state, following its events with a progress bar when ``progress``."""
        job_id = _id(job)
        display = progress_display(progress, f"job {job_id[:8]}")
        try:
            return self._follow(job_id, display)
        finally:
            display.close()

    def _follow(self, job_id: str, display: Progress) -> Job:
        """The job's final state, read from its event stream (reconnecting if the stream breaks)."""
        while True:
            try:
                final = self._read_stream(job_id, display)
            except SparsefitError as error:
                if error.type != TRANSPORT_PROBLEM:
                    raise
                final = None
            if final is not None:
                return final
            # The stream ended early or broke: the job's own record says whether it is over.
            current = self.job(job_id)
            if current.finished:
                return current
            time.sleep(RECONNECT_S)

    def _read_stream(self, job_id: str, display: Progress) -> Job | None:
        with self._http.stream(f"/v1/jobs/{job_id}/events") as response:
            for event in read_events(response.iter_lines()):
                if event.name == "progress":
                    progress = event.json()
                    display.update(progress["fraction"], progress["stage"], progress.get("message"))
                elif event.name == "status":
                    job = Job.from_json(event.json())
                    display.update(job.fraction, job.stage, job.message)
                    if job.finished:
                        return job
        return None

    def _model_of(self, job: Job) -> Model:
        if job.status == "succeeded" and job.model_id:
            return self.model(job.model_id)
        raise _job_problem(job, "a model")


def _job_problem(job: Job, what: str) -> SparsefitError:
    """The error of a job that ended without ``what``: its problem, or one the client writes."""
    # A failed job carries its problem; a canceled one may not.
    problem = (
        dict(job.error)
        if job.error
        else {
            "type": JOB_CANCELED_PROBLEM,
            "title": f"Job {job.status}",
            "detail": f"job {job.id} ended {job.status} without {what}",
        }
    )
    return SparsefitError({**problem, "job_id": job.id})


def job_body(dataset_id: str, target: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """A JobCreate: ``cv=10`` is short for ``cv={"folds": 10}``, ``cv=True`` for the default CV."""
    body: dict[str, Any] = {"dataset_id": dataset_id, "target": target, **options}
    cv = body.get("cv")
    if isinstance(cv, bool):
        if cv:
            body["cv"] = {}
        else:
            body["cv"] = None
    elif isinstance(cv, int):
        body["cv"] = {"folds": cv}
    return body


def _id(resource: Dataset | Job | Model | Selection | str) -> str:
    return resource if isinstance(resource, str) else resource.id
