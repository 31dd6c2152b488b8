"""Idempotency keys in the catalog: claimed once, answered once, replayed, kept a day, per tenant."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from service.errors import IdempotencyKeyInFlightError, IdempotencyKeyReusedError
from service.store import Catalog
from service.store.idempotency import IN_FLIGHT_TIMEOUT, KEY_TTL, StoredAnswer
from service.store.schema import SCHEMA_VERSION

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
ANSWER = StoredAnswer(201, {"location": "/v1/datasets/abc", "content-type": "application/json"}, b'{"id":1}')


def test_idempotency_first_claim_runs_then_retries_get_the_answer(catalog: Catalog) -> None:
    assert catalog.claim_idempotency_key("acme", "k1", "f1", T0) is None
    catalog.record_idempotent_answer("acme", "k1", ANSWER)
    assert catalog.claim_idempotency_key("acme", "k1", "f1", T0 + timedelta(hours=1)) == ANSWER
    assert catalog.claim_idempotency_key("acme", "k1", "f1", T0 + timedelta(hours=2)) == ANSWER


def test_idempotency_key_with_another_request_is_refused(catalog: Catalog) -> None:
    catalog.claim_idempotency_key("acme", "k1", "f1", T0)
    catalog.record_idempotent_answer("acme", "k1", ANSWER)
    with pytest.raises(IdempotencyKeyReusedError):
        catalog.claim_idempotency_key("acme", "k1", "f2", T0)
    assert catalog.claim_idempotency_key("acme", "k2", "f1", T0) is None
    with pytest.raises(IdempotencyKeyReusedError):  # refused while in flight too
        catalog.claim_idempotency_key("acme", "k2", "f2", T0)


def test_idempotency_key_in_flight_is_409_until_answered_or_released(catalog: Catalog) -> None:
    assert catalog.claim_idempotency_key("acme", "k1", "f1", T0) is None
    with pytest.raises(IdempotencyKeyInFlightError) as in_flight:
        catalog.claim_idempotency_key("acme", "k1", "f1", T0)
    assert in_flight.value.headers == {"Retry-After": "1"}
    catalog.release_idempotency_key("acme", "k1")  # the first request failed: a retry runs again
    assert catalog.claim_idempotency_key("acme", "k1", "f1", T0) is None


def test_idempotency_key_abandoned_in_flight_is_taken_over(catalog: Catalog) -> None:
    assert catalog.claim_idempotency_key("acme", "k1", "f1", T0) is None
    later = T0 + IN_FLIGHT_TIMEOUT + timedelta(seconds=1)
    assert catalog.claim_idempotency_key("acme", "k1", "f1", later) is None
    with pytest.raises(IdempotencyKeyInFlightError):
        catalog.claim_idempotency_key("acme", "k1", "f1", later)


def test_idempotency_keys_are_per_tenant(catalog: Catalog) -> None:
    assert catalog.claim_idempotency_key("acme", "k1", "f1", T0) is None
    catalog.record_idempotent_answer("acme", "k1", ANSWER)
    # The same key of another tenant, with another request: independent, so it runs.
    assert catalog.claim_idempotency_key("globex", "k1", "f2", T0) is None
    assert catalog.claim_idempotency_key("acme", "k1", "f1", T0) == ANSWER


def test_idempotency_key_expires_after_a_day(catalog: Catalog) -> None:
    catalog.claim_idempotency_key("acme", "k1", "f1", T0)
    catalog.record_idempotent_answer("acme", "k1", ANSWER)
    assert catalog.claim_idempotency_key("acme", "k1", "f1", T0 + KEY_TTL - timedelta(seconds=1)) == ANSWER
    # A day on, the key is new: another request may use it, and it runs.
    assert catalog.claim_idempotency_key("acme", "k1", "f2", T0 + KEY_TTL + timedelta(seconds=1)) is None


def test_idempotency_claim_sweeps_expired_keys_of_every_tenant(catalog: Catalog) -> None:
    for tenant in ("acme", "globex"):
        catalog.claim_idempotency_key(tenant, "old", "f", T0)
        catalog.record_idempotent_answer(tenant, "old", ANSWER)
    catalog.claim_idempotency_key("acme", "new", "f", T0 + KEY_TTL + timedelta(minutes=1))
    assert _keys(catalog.path) == [("acme", "new")]


def test_idempotency_start_up_sweep_drops_expired_and_in_flight_keys(catalog: Catalog) -> None:
    catalog.claim_idempotency_key("acme", "answered", "f", T0)
    catalog.record_idempotent_answer("acme", "answered", ANSWER)
    catalog.claim_idempotency_key("acme", "in-flight", "f", T0)
    catalog.claim_idempotency_key("acme", "expired", "f", T0 - KEY_TTL - timedelta(minutes=1))
    catalog.record_idempotent_answer("acme", "expired", ANSWER)
    assert catalog.sweep_idempotency_keys(T0 + timedelta(minutes=1)) == 2
    assert _keys(catalog.path) == [("acme", "answered")]


def test_idempotency_table_is_added_to_a_catalog_of_version_2(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite3"
    with Catalog(path):
        pass
    with sqlite3.connect(path) as conn:  # back to version 2: no idempotency table
        conn.execute("DROP TABLE idempotency_keys")
        conn.execute("PRAGMA user_version = 2")
    with Catalog(path) as catalog:
        assert catalog.claim_idempotency_key("acme", "k1", "f1", T0) is None
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def _keys(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as conn:
        return sorted(conn.execute("SELECT tenant, key FROM idempotency_keys").fetchall())
