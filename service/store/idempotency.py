"""Idempotency keys in the catalog: claim one for a request, keep its answer, replay that to a retry."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson

from service.errors import IdempotencyKeyInFlightError, IdempotencyKeyReusedError
from service.store.records import utc_text

# How long an answer is kept for retries, counted from the first request: a day, as Stripe keeps its
# keys. A retry after that runs as a new request.
KEY_TTL = timedelta(hours=24)
# A key in flight for longer than this belongs to a request that will never answer (its answer could
# not be recorded, or its process died): a retry takes it over. No create request runs this long.
IN_FLIGHT_TIMEOUT = timedelta(minutes=10)


@dataclass(frozen=True)
class StoredAnswer:
    """What the first request with a key was answered: replayed byte for byte to its retries."""

    status: int
    headers: dict[str, str]
    body: bytes


def claim(
    conn: sqlite3.Connection, tenant: str, key: str, fingerprint: str, now: datetime
) -> StoredAnswer | None:
    """In a write transaction: None when the request may run (``key`` is now in flight for it), or
    the answer it already got. IdempotencyKeyReusedError when ``key`` came with another request,
    IdempotencyKeyInFlightError while the first request with it has not answered yet.

    Expired keys are swept here, on the way in: the table never holds more than a day of keys.
    """
    conn.execute("DELETE FROM idempotency_keys WHERE created_at < ?", (utc_text(now - KEY_TTL),))
    row = conn.execute(
        "SELECT fingerprint, status, headers, body, created_at FROM idempotency_keys "
        "WHERE tenant = ? AND key = ?",
        (tenant, key),
    ).fetchone()
    if row is not None and row["status"] is None and row["created_at"] < utc_text(now - IN_FLIGHT_TIMEOUT):
        conn.execute("DELETE FROM idempotency_keys WHERE tenant = ? AND key = ?", (tenant, key))
        row = None
    if row is None:
        conn.execute(
            "INSERT INTO idempotency_keys (tenant, key, fingerprint, created_at) VALUES (?, ?, ?, ?)",
            (tenant, key, fingerprint, utc_text(now)),
        )
        return None
    if row["fingerprint"] != fingerprint:
        raise IdempotencyKeyReusedError(
            "This Idempotency-Key was sent with another request (method, path, query or body); "
            "use a new key for a new request."
        )
    if row["status"] is None:
        raise IdempotencyKeyInFlightError(
            "The first request with this Idempotency-Key is still running; retry when it has answered.",
            headers={"Retry-After": "1"},
        )
    return StoredAnswer(int(row["status"]), orjson.loads(row["headers"]), bytes(row["body"]))


def record(conn: sqlite3.Connection, tenant: str, key: str, answer: StoredAnswer) -> None:
    """Keep the answer of the request that holds ``key`` in flight."""
    conn.execute(
        "UPDATE idempotency_keys SET status = ?, headers = ?, body = ? "
        "WHERE tenant = ? AND key = ? AND status IS NULL",
        (answer.status, orjson.dumps(answer.headers).decode(), answer.body, tenant, key),
    )


def release(conn: sqlite3.Connection, tenant: str, key: str) -> None:
    """Forget an in-flight ``key`` whose request failed, so that a retry runs it again."""
    conn.execute(
        "DELETE FROM idempotency_keys WHERE tenant = ? AND key = ? AND status IS NULL", (tenant, key)
    )


def sweep(conn: sqlite3.Connection, now: datetime) -> int:
    """At start-up: remove expired keys and keys still in flight (no request outlives its process,
    so those requests died with the previous one); returns how many were removed."""
    removed = conn.execute(
        "DELETE FROM idempotency_keys WHERE created_at < ? OR status IS NULL", (utc_text(now - KEY_TTL),)
    )
    return removed.rowcount
