"""A wide dataset's columns: documents and list items show the first ones, a paged route has them all."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from service.app import create_app
from service.config import Settings
from tests.conftest import upload

N_WIDE = 5000
SHOWN, LISTED = 50, 5
ACME, GLOBEX = "acme-key-0123456789", "globex-key-9876543210"
# What a DatasetRead had before columns were paged: a narrow table's documents keep exactly these.
DOCUMENT_KEYS = [
    "id", "name", "n_rows", "n_columns", "columns", "storage", "density", "size_bytes", "sha256", "created_at"
]  # fmt: skip


def wide_csv() -> bytes:
    """5,000 columns by 3 rows; column c1 is categorical (levels a and b), the rest numeric."""
    rows = [[str(i + j) for j in range(N_WIDE)] for i in range(3)]
    for row, level in zip(rows, "aab", strict=True):
        row[1] = level
    header = ",".join(f"c{j}" for j in range(N_WIDE))
    return "\n".join([header, *(",".join(row) for row in rows), ""]).encode()


@pytest.fixture
def small_caps(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        workers=1,
        max_body_bytes=4_000_000,
        dataset_document_columns=SHOWN,
        dataset_list_columns=LISTED,
        api_keys=SecretStr(f"acme:{ACME},globex:{GLOBEX}"),
    )


@pytest.fixture
def client(small_caps: Settings) -> Iterator[TestClient]:
    with TestClient(
        create_app(small_caps), raise_server_exceptions=False, headers={"Authorization": f"Bearer {ACME}"}
    ) as test_client:
        yield test_client


@pytest.fixture
def wide(client: TestClient) -> dict[str, Any]:
    return upload(client, wide_csv(), "wide")


def all_columns(client: TestClient, dataset_id: str, limit: int) -> list[dict[str, Any]]:
    columns: list[dict[str, Any]] = []
    while True:
        page = client.get(
            f"/v1/datasets/{dataset_id}/columns", params={"offset": len(columns), "limit": limit}
        )
        assert page.status_code == 200, page.text
        assert page.json()["total"] == N_WIDE
        if not page.json()["items"]:
            return columns
        columns += page.json()["items"]


def test_a_wide_datasets_document_shows_its_first_columns_and_links_the_rest(
    client: TestClient, wide: dict[str, Any]
) -> None:
    assert wide["n_columns"] == N_WIDE and len(wide["columns"]) == SHOWN
    assert [c["name"] for c in wide["columns"]] == [f"c{j}" for j in range(SHOWN)]
    assert wide["columns_truncated"] is True
    assert wide["columns_url"] == f"/v1/datasets/{wide['id']}/columns?offset={SHOWN}"
    assert client.get(f"/v1/datasets/{wide['id']}").json() == wide
    rest = client.get(wide["columns_url"]).json()
    assert rest["items"][0]["name"] == f"c{SHOWN}" and rest["total"] == N_WIDE


def test_list_items_show_fewer_columns_still(client: TestClient, wide: dict[str, Any]) -> None:
    narrow = upload(client, b"a,b\n1,2\n", "narrow")
    items = {item["id"]: item for item in client.get("/v1/datasets").json()["items"]}
    listed = items[wide["id"]]
    assert len(listed["columns"]) == LISTED and listed["columns"] == wide["columns"][:LISTED]
    assert listed["columns_truncated"] is True
    assert listed["columns_url"] == f"/v1/datasets/{wide['id']}/columns?offset={LISTED}"
    assert items[narrow["id"]] == narrow


def test_a_narrow_datasets_documents_are_as_they_were(client: TestClient) -> None:
    names = [f"x{j}" for j in range(SHOWN)]  # exactly as many as a document shows
    created = upload(client, (",".join(names) + "\n" + ",".join("1" * SHOWN) + "\n").encode(), "narrow")
    assert list(created) == DOCUMENT_KEYS and len(created["columns"]) == SHOWN
    assert client.get(f"/v1/datasets/{created['id']}").json() == created
    assert client.get(f"/v1/datasets/{created['id']}/columns").json() == {
        "items": created["columns"],
        "total": SHOWN,
    }


@pytest.mark.parametrize("limit", [1000, 4999, 10_000])
def test_pages_hold_every_column_once_in_table_order(
    client: TestClient, wide: dict[str, Any], limit: int
) -> None:
    columns = all_columns(client, wide["id"], limit)
    assert [c["name"] for c in columns] == [f"c{j}" for j in range(N_WIDE)]
    assert columns[:SHOWN] == wide["columns"]
    assert columns[1] == {"name": "c1", "kind": "categorical", "n_missing": 0, "levels": ["a", "b"]}
    assert columns[2] == {"name": "c2", "kind": "numeric", "n_missing": 0, "levels": None}


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({}, [f"c{j}" for j in range(1000)]),  # the default page: the first 1,000
        ({"offset": 4998, "limit": 10}, ["c4998", "c4999"]),
        ({"offset": N_WIDE}, []),
        ({"offset": 2**63 - 1, "limit": 10_000}, []),
    ],
)
def test_page_bounds(
    client: TestClient, wide: dict[str, Any], params: dict[str, int], names: list[str]
) -> None:
    page = client.get(f"/v1/datasets/{wide['id']}/columns", params=params)
    assert page.status_code == 200, page.text
    assert [c["name"] for c in page.json()["items"]] == names and page.json()["total"] == N_WIDE


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 10_001}, {"offset": -1}, {"offset": 2**63}])
def test_page_parameters_out_of_bounds_are_422(
    client: TestClient, wide: dict[str, Any], params: dict[str, int]
) -> None:
    page = client.get(f"/v1/datasets/{wide['id']}/columns", params=params)
    assert page.status_code == 422 and page.json()["type"] == "/problems/validation"


def test_columns_of_an_unknown_or_another_tenants_dataset_are_404(
    client: TestClient, wide: dict[str, Any]
) -> None:
    unknown = client.get(f"/v1/datasets/{'0' * 32}/columns")
    assert unknown.status_code == 404 and unknown.json()["type"] == "/problems/not-found"
    other = client.get(f"/v1/datasets/{wide['id']}/columns", headers={"Authorization": f"Bearer {GLOBEX}"})
    assert other.status_code == 404 and other.json()["type"] == "/problems/not-found"
    anonymous = client.get(f"/v1/datasets/{wide['id']}/columns", headers={"Authorization": ""})
    assert anonymous.status_code == 401
