"""SparsefitError: the one exception the client raises for what the service (or the network) refused."""

from __future__ import annotations

from typing import Any

# Problems the client writes itself (no HTTP answer, or a job that ended without a model) get `type`s
# of their own, outside the service's `/problems/...` namespace, so that code can still tell them apart.
TRANSPORT_PROBLEM = "urn:sparsefit:client:transport"
JOB_CANCELED_PROBLEM = "urn:sparsefit:client:job-canceled"
NOT_A_PROBLEM = "about:blank"


class SparsefitError(Exception):
    """An RFC 9457 problem document from the service, or one written by the client for a transport error.

    ``problem`` is the whole document (extension members such as ``errors``, ``expected`` or
    ``job_id`` included); ``status`` is the HTTP status, or None when no answer came back.
    """

    def __init__(self, problem: dict[str, Any], status: int | None = None) -> None:
        self.problem: dict[str, Any] = dict(problem)
        raw_status = problem.get("status", status)
        self.status: int | None = status if status is not None else _as_int(raw_status)
        self.type: str = str(problem.get("type") or NOT_A_PROBLEM)
        self.title: str = str(problem.get("title") or "Error")
        self.detail: str = str(problem.get("detail") or "")
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """One line for people: status, title and detail."""
        head = f"{self.status} {self.title}" if self.status is not None else self.title
        return f"{head}: {self.detail}" if self.detail else head

    @classmethod
    def transport(cls, error: Exception, url: str) -> SparsefitError:
        """No HTTP answer: the connection failed, timed out or broke off."""
        detail = f"{type(error).__name__} talking to {url}: {error}"
        return cls({"type": TRANSPORT_PROBLEM, "title": "Service unreachable", "detail": detail})


def _as_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
