"""The service's only exception hierarchy: every domain error maps to one RFC 9457 problem type."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, ClassVar


class ServiceError(Exception):
    """Base of every error the service raises on purpose.

    ``type``, ``title`` and ``status`` are class attributes so that a subclass *is* a problem type;
    ``detail`` is the human sentence (it names the row, column or field at fault) and
    ``extensions`` are extra problem members such as ``expected`` / ``got`` / ``errors``.
    """

    type: ClassVar[str] = "/problems/internal"
    title: ClassVar[str] = "Internal error"
    status: ClassVar[HTTPStatus] = HTTPStatus.INTERNAL_SERVER_ERROR

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None, **extensions: Any):
        super().__init__(detail)
        self.detail = detail
        self.headers: dict[str, str] = dict(headers or {})
        self.extensions: dict[str, Any] = extensions

    def to_problem(self) -> dict[str, Any]:
        """The problem object as stored on a failed job and sent on the wire."""
        problem: dict[str, Any] = {
            "type": self.type,
            "title": self.title,
            "status": int(self.status),
            "detail": self.detail,
        }
        problem.update(self.extensions)
        return problem


class UnauthorizedError(ServiceError):
    """No API key, or one that matches no tenant; answered with a `WWW-Authenticate` header."""

    type = "/problems/unauthorized"
    title = "Authentication required"
    status = HTTPStatus.UNAUTHORIZED


class NotFoundError(ServiceError):
    type = "/problems/not-found"
    title = "Not found"
    status = HTTPStatus.NOT_FOUND


class ValidationError(ServiceError):
    """A request that is well-formed JSON but asks for something impossible (bad config)."""

    type = "/problems/validation"
    title = "Invalid request"
    status = HTTPStatus.UNPROCESSABLE_ENTITY


class InvalidDatasetError(ServiceError):
    type = "/problems/invalid-dataset"
    title = "Invalid dataset"
    status = HTTPStatus.UNPROCESSABLE_ENTITY


class SourceNotAllowedError(ServiceError):
    """A dataset source URL outside every prefix of SPARSEFIT_DATASET_SOURCES (none, by default)."""

    type = "/problems/source-not-allowed"
    title = "Dataset source not allowed"
    status = HTTPStatus.FORBIDDEN


class InvalidDataError(ServiceError):
    """The stored data cannot serve this fit: missing values, non-finite values, a bad target."""

    type = "/problems/invalid-data"
    title = "Data not usable for this fit"
    status = HTTPStatus.UNPROCESSABLE_ENTITY


class FeatureMismatchError(ServiceError):
    type = "/problems/feature-mismatch"
    title = "Feature mismatch"
    status = HTTPStatus.UNPROCESSABLE_ENTITY


class PayloadTooLargeError(ServiceError):
    type = "/problems/payload-too-large"
    title = "Payload too large"
    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE


class UrlTooLongError(ServiceError):
    """A request target (path and query string) over the limit; refused before the app sees it."""

    type = "/problems/url-too-long"
    title = "URL too long"
    status = HTTPStatus.REQUEST_URI_TOO_LONG


class HeadersTooLargeError(ServiceError):
    """Request header fields over the limit; refused before they are parsed whole."""

    type = "/problems/headers-too-large"
    title = "Request header fields too large"
    status = HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE


class MalformedRequestError(ServiceError):
    """Bytes the HTTP parser cannot read as a request; the connection is closed after the answer."""

    type = "/problems/malformed-request"
    title = "Malformed HTTP request"
    status = HTTPStatus.BAD_REQUEST


class TableTooLargeError(ServiceError):
    """A table with more rows, columns or cells than the service's limits allow."""

    type = "/problems/table-too-large"
    title = "Table too large"
    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE


class TooManyLevelsError(ServiceError):
    """A categorical column with more distinct levels than the limit allows."""

    type = "/problems/too-many-levels"
    title = "Too many categorical levels"
    status = HTTPStatus.UNPROCESSABLE_ENTITY


class UnsupportedMediaTypeError(ServiceError):
    type = "/problems/unsupported-media-type"
    title = "Unsupported media type"
    status = HTTPStatus.UNSUPPORTED_MEDIA_TYPE


class JobFinishedError(ServiceError):
    type = "/problems/job-finished"
    title = "Job already finished"
    status = HTTPStatus.CONFLICT


class JobNotFinishedError(ServiceError):
    type = "/problems/job-not-finished"
    title = "Job still queued or running"
    status = HTTPStatus.CONFLICT


class DatasetInUseError(ServiceError):
    """A dataset that a queued or running job will read: deleting it would fail that job later."""

    type = "/problems/dataset-in-use"
    title = "Dataset in use by unfinished jobs"
    status = HTTPStatus.CONFLICT


class IdempotencyKeyReusedError(ServiceError):
    """An Idempotency-Key sent again with another request than the one it was first sent with."""

    type = "/problems/idempotency-key-reused"
    title = "Idempotency key reused for another request"
    status = HTTPStatus.UNPROCESSABLE_ENTITY


class IdempotencyKeyInFlightError(ServiceError):
    """The first request with this Idempotency-Key has not answered yet; retry after it has."""

    type = "/problems/idempotency-key-in-flight"
    title = "Request with this idempotency key still in progress"
    status = HTTPStatus.CONFLICT


class QueueFullError(ServiceError):
    type = "/problems/queue-full"
    title = "Job queue full"
    status = HTTPStatus.SERVICE_UNAVAILABLE


class TooManyJobsError(ServiceError):
    """One tenant has as many queued jobs as it may; others are not held up by it."""

    type = "/problems/too-many-jobs"
    title = "Too many queued jobs for this tenant"
    status = HTTPStatus.TOO_MANY_REQUESTS


class InsufficientStorageError(ServiceError):
    """The disk is full (or below the configured free-space reserve); nothing was stored."""

    type = "/problems/insufficient-storage"
    title = "Insufficient storage"
    status = HTTPStatus.INSUFFICIENT_STORAGE


class StoreUnavailableError(ServiceError):
    """The data directory cannot be written (read-only, permissions); nothing was stored."""

    type = "/problems/store-unavailable"
    title = "Store unavailable"
    status = HTTPStatus.SERVICE_UNAVAILABLE


class ExportUnsupportedError(ServiceError):
    """A model that cannot be written in the asked export format (too wide for one input per column)."""

    type = "/problems/export-unsupported"
    title = "Export format not possible for this model"
    status = HTTPStatus.UNPROCESSABLE_ENTITY


class NotReadyError(ServiceError):
    type = "/problems/not-ready"
    title = "Service not ready"
    status = HTTPStatus.SERVICE_UNAVAILABLE


class FitFailedError(ServiceError):
    """The numerics could not produce a model (e.g. every alpha diverged)."""

    type = "/problems/fit-failed"
    title = "Fit failed"
    status = HTTPStatus.UNPROCESSABLE_ENTITY


class NotConvergingError(ServiceError):
    """A solver stopped making progress on non-finite values (overflow): a job problem, raised
    within seconds instead of iterating to the job timeout."""

    type = "/problems/not-converging"
    title = "Solver not converging"
    status = HTTPStatus.UNPROCESSABLE_ENTITY


class JobCanceledError(ServiceError):
    """Raised inside a worker at a checkpoint after the job was asked to stop."""

    type = "/problems/canceled"
    title = "Job canceled"
    status = HTTPStatus.CONFLICT


class JobTimeoutError(ServiceError):
    type = "/problems/job-timeout"
    title = "Job exceeded its time limit"
    status = HTTPStatus.GATEWAY_TIMEOUT


class InterruptedJobError(ServiceError):
    """The service stopped (crash, restart, shutdown) while the job was queued or running."""

    type = "/problems/interrupted"
    title = "Job interrupted"
    status = HTTPStatus.SERVICE_UNAVAILABLE


class WorkerCrashedError(ServiceError):
    type = "/problems/worker-crashed"
    title = "Worker process died"
    status = HTTPStatus.INTERNAL_SERVER_ERROR


class IntegrityError(ServiceError):
    """A stored file no longer matches the checksum recorded when it was written."""

    type = "/problems/integrity"
    title = "Stored object failed its integrity check"
    status = HTTPStatus.INTERNAL_SERVER_ERROR


class ArtifactRejectedError(IntegrityError):
    """A model file whose HMAC does not verify: tampered with, or not written by this service."""

    type = "/problems/artifact-rejected"
    title = "Model artifact rejected"
