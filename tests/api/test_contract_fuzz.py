"""Contract fuzzing: schemathesis sends generated requests to the app in process and checks every answer.

Every operation of the app's own OpenAPI document gets the examples, coverage and fuzzing phases with
a fixed seed, and every built-in check: no 500, every status code and content type documented, every
body and header matching its schema, invalid requests refused, well-formed ones accepted (except
where the rule depends on stored data, see NO_POSITIVE_ACCEPTANCE). A dataset, a finished job and
its model are made first, and a share of the generated requests is pointed at them, so that reads,
predictions, cancels and deletes answer 2xx/409 and those bodies are checked too, not only 404s.

`make fuzz` runs the same test with SPARSEFIT_FUZZ_EXAMPLES raised. The examples run per operation
are printed at the end of the session and written to contract-fuzz-examples.json in pytest's
temporary directory.
"""

from __future__ import annotations

import json
import os
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from schemathesis import Case, CheckContext, HookContext, Response

from service.app import create_app
from service.config import Settings
from tests.conftest import run_job, upload

# Fuzzing-phase examples per operation (the coverage phase adds its own cases); `make fuzz` runs
# ten times as many. A fixed seed makes every run send the same requests.
EXAMPLES = int(os.environ.get("SPARSEFIT_FUZZ_EXAMPLES", "80"))
SEED = int(os.environ.get("SPARSEFIT_FUZZ_SEED", "20240521"))
API_KEY = "fuzz-key-0123456789abcdef"
TARGET = "y"
REPORT_NAME = "contract-fuzz-examples.json"

# `positive_data_acceptance` says a request the schema allows must not be refused (2xx, or 404/409
# for an id that does not exist or a state that forbids it). Where acceptance depends on stored data
# that no schema can describe, a well-formed request is still refused with 422, so the check is off:
NO_POSITIVE_ACCEPTANCE = {
    # A CSV body is a `string`, a Parquet body `binary`: "a header row, then rows of as many cells"
    # is not expressible, so a well-formed body can be an invalid table (422 invalid-dataset).
    "create_dataset": "a valid string or byte body is not necessarily a valid table",
    # `target`, `features`, `weights_column`, `penalty_factors`, `bounds` must name columns of the
    # stored dataset, and its data must suit the family (two classes for binomial, no missing values
    # with missing=error); otherwise 422.
    "create_job": "column names and the data's fitness belong to the stored dataset",
    # The rows must carry the model's feature columns (422 feature-mismatch), cells must parse as the
    # model's column kinds, and `alpha` must lie within the stored path.
    "create_prediction": "feature columns and their kinds belong to the stored model",
    # `?features=` must name the stored model's features (422 naming the first unknown one).
    "get_model_path": "feature names belong to the stored model",
}


@dataclass(frozen=True)
class Seeded:
    """Objects made before fuzzing; the spares exist to be deleted."""

    settings: Settings
    features: tuple[str, ...]
    dataset_id: str
    spare_dataset_id: str
    job_id: str
    spare_job_id: str
    model_id: str
    spare_model_id: str
    selection_id: str
    spare_selection_id: str
    alphas: tuple[float, float]  # the smallest and largest alpha of the model's stored path

    def real_id(self, parameter: str, method: str) -> str | None:
        """The seeded id for a path parameter; DELETE gets the spare, so the others live on."""
        delete = method.upper() == "DELETE"
        ids = {
            "dataset_id": self.spare_dataset_id if delete else self.dataset_id,
            "job_id": self.spare_job_id if delete else self.job_id,
            "model_id": self.spare_model_id if delete else self.model_id,
            "selection_id": self.spare_selection_id if delete else self.selection_id,
        }
        return ids.get(parameter)

    def some_features(self, drawn: object) -> str:
        """Some of the model's features for a drawn ``?features=``, chosen by its content."""
        count = 1 + zlib.crc32(repr(drawn).encode()) % len(self.features)
        return ",".join(self.features[:count])

    def on_path(self, alpha: object) -> object:
        """A drawn alpha moved into the stored path's range, which the schema cannot state."""
        if not isinstance(alpha, int | float) or isinstance(alpha, bool):
            return alpha
        return min(max(alpha, self.alphas[0]), self.alphas[1])


def fuzz_settings(data_dir: Path) -> Settings:
    # A short queue and job timeout: fits the fuzzer manages to start end quickly; `?wait` never holds.
    return Settings(
        data_dir=data_dir,
        workers=1,
        cv_processes=1,
        max_queued_jobs=2,
        job_timeout_s=2.0,
        cancel_grace_s=0.2,
        max_wait_s=0.2,
        max_body_bytes=1_000_000,
        api_keys=f"fuzz:{API_KEY}",
    )


def fuzz_config() -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {"max-examples": EXAMPLES, "deterministic": True, "database": "none"},
            # One operation at a time; links between operations are not declared in the document.
            "phases": {"stateful": {"enabled": False}},
            "auth": {"openapi": {"HTTPBearer": {"bearer": API_KEY}}},
            "request-timeout": 30,
            "operations": [
                {
                    "include-operation-id": sorted(NO_POSITIVE_ACCEPTANCE),
                    "checks": {"positive_data_acceptance": {"enabled": False}},
                },
                {
                    # 503 queue-full (with Retry-After) is the documented back-pressure of a full
                    # queue, which this run's queue of 2 reaches; any other 5xx is still a failure.
                    "include-operation-id": "create_job",
                    "checks": {"not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", "503"]}},
                },
            ],
        }
    )


def _pick(value: object) -> bool:
    """About half of the generated values, chosen by content, so that a replayed case picks the same."""
    return zlib.crc32(repr(value).encode()) % 2 == 0


def _rectangular(columns: list[str], data: list[Any]) -> list[list[Any]]:
    """Rows cut or padded (with missing values) to the columns' width; one row when there were none."""
    width = len(columns)
    rows = [row if isinstance(row, list) else [row] for row in data] or [list(range(width))]
    return [(row + [None] * width)[:width] for row in rows]


def _csv_cell(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _steer_table(body: dict[str, Any], columns: list[Any], data: list[Any]) -> dict[str, Any]:
    """A table to upload: the drawn cells under names the header rule accepts."""
    names = [str(name) for name in columns]
    if len(set(names)) != len(names) or not all(n.strip() and n.isprintable() for n in names):
        names = [f"c{i}" for i in range(len(names))]
    return {**body, "columns": names, "data": _rectangular(names, data)}


def _number(cell: object) -> object:
    return cell if isinstance(cell, int | float) and not isinstance(cell, bool) else len(repr(cell))


def _steer_prediction(seeded: Seeded, body: dict[str, Any]) -> dict[str, Any]:
    """Rows for the seeded model: the seeded dataset, or the drawn cells under the model's features.

    Half of the tables get numbers for cells that are not, so that the model answers 200 too.
    """
    steered = {**body, "alpha": seeded.on_path(body["alpha"])} if "alpha" in body else dict(body)
    if steered.get("dataset_id") is not None:
        return {**steered, "dataset_id": seeded.dataset_id}
    if isinstance(steered.get("data"), list):
        features = list(seeded.features)
        rows = _rectangular(features, steered["data"])
        if _pick(("numbers", rows)):
            rows = [[_number(cell) for cell in row] for row in rows]
        return {**steered, "columns": features, "data": rows}
    return steered


def _steer_csv(seeded: Seeded, case: Case, text: str) -> str:
    """A CSV table around the drawn text: one cell of an upload, or a feature value for the model."""
    if not case.path.endswith("/predictions"):
        return f"text,number\n{_csv_cell(text)},1\n"
    # A number half of the time, so that the seeded model answers 200 and not only 422.
    first = _csv_cell(text) if _pick(text) else str(len(text))
    return ",".join(seeded.features) + "\n" + ",".join([first] + ["1"] * (len(seeded.features) - 1)) + "\n"


def _steer_body(seeded: Seeded, case: Case, body: dict[str, Any]) -> dict[str, Any]:
    """The body pointed at the seeded dataset and model, its table given a usable header."""
    if "target" in body:  # a job: the seeded dataset and its target column
        return {**body, "dataset_id": seeded.dataset_id, "target": TARGET}
    if case.path.endswith("/predictions"):
        return _steer_prediction(seeded, body)
    if isinstance(body.get("columns"), list) and isinstance(body.get("data"), list):
        return _steer_table(body, body["columns"], body["data"])
    return body


def steer(seeded: Seeded, case: Case) -> Case:
    """Point about half of the well-formed cases at seeded objects and well-formed tables.

    Random ids only ever meet 404 and ragged random tables 422; steered requests reach the code
    behind them, and their 2xx/409 answers are checked against the schema as well. Only positive
    cases are steered: what a negative case breaks must stay broken.
    """
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return case
    swapped = {
        name: real
        for name, value in case.path_parameters.items()
        if (real := seeded.real_id(name, case.method)) is not None and _pick(value)
    }
    if swapped:
        case.path_parameters = {**case.path_parameters, **swapped}
        if "alpha" in case.query:
            case.query = {**case.query, "alpha": seeded.on_path(case.query["alpha"])}
        if "features" in case.query:
            case.query = {**case.query, "features": seeded.some_features(case.query["features"])}
    if isinstance(case.body, str) and case.media_type == "text/csv":
        # Every drawn text: alone it is almost never a table, and negative cases still send it raw.
        case.body = _steer_csv(seeded, case, case.body)
    elif isinstance(case.body, dict) and _pick(case.body):
        case.body = _steer_body(seeded, case, case.body)
    return case


class AppSlot:
    """The ASGI app schemathesis calls; it forwards to the app the `fuzz_app` fixture built.

    The schema is loaded when this module is collected, before a data directory exists; the app
    that answers (its lifespan run by schemathesis around each operation's test) comes later.
    """

    def __init__(self) -> None:
        self.app: Any = None
        self.seeded: Seeded | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert self.app is not None, "the fuzz_app fixture installs the app"
        await self.app(scope, receive, send)


# Parquet bodies are bytes (`format: binary`): send them as they are, like application/octet-stream.
schemathesis.serializer.alias("application/vnd.apache.parquet", "application/octet-stream")
SLOT = AppSlot()
# The app's own document: building it needs no data directory and runs no lifespan.
DOCUMENT = create_app(fuzz_settings(Path("unused"))).openapi()
schema = schemathesis.openapi.from_dict(DOCUMENT, config=fuzz_config())
schema.app = SLOT


@schema.hook
def map_case(context: HookContext, case: Case) -> Case:
    return case if SLOT.seeded is None else steer(SLOT.seeded, case)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory, diabetes_csv: bytes) -> Seeded:
    settings = fuzz_settings(tmp_path_factory.mktemp("fuzz") / "data")
    headers = {"Authorization": f"Bearer {API_KEY}"}
    # Seeding waits for its jobs with `?wait`, which the fuzzed app holds for 0.2 s at most, and its
    # fits must not meet the fuzzed app's 2 s job timeout on a busy machine.
    patient = settings.model_copy(update={"max_wait_s": 60.0, "job_timeout_s": 120.0})
    with TestClient(create_app(patient), headers=headers) as client:
        dataset = upload(client, diabetes_csv, "fuzz")
        spare_dataset = upload(client, diabetes_csv, "fuzz-spare")
        fit = {"dataset_id": dataset["id"], "target": TARGET, "path": {"n_alphas": 20}, "cv": {"folds": 3}}
        job = run_job(client, fit)
        spare = run_job(client, {**fit, "alpha": 1.0, "cv": None})
        assert job["status"] == spare["status"] == "succeeded", (job, spare)
        alphas = client.get(f"/v1/models/{job['model_id']}/path").json()["alphas"]
        stability = {"kind": "stability", "stability": {"n_pairs": 2}, "path": {"n_alphas": 10}}
        selections = [
            run_job(client, {"dataset_id": dataset["id"], "target": TARGET, **stability}) for _ in range(2)
        ]
        assert all(s["status"] == "succeeded" for s in selections), selections
    return Seeded(
        settings=settings,
        features=tuple(c["name"] for c in dataset["columns"] if c["name"] != TARGET),
        dataset_id=dataset["id"],
        spare_dataset_id=spare_dataset["id"],
        job_id=job["id"],
        spare_job_id=spare["id"],
        model_id=job["model_id"],
        spare_model_id=spare["model_id"],
        selection_id=selections[0]["selection_id"],
        spare_selection_id=selections[1]["selection_id"],
        alphas=(min(alphas), max(alphas)),
    )


@pytest.fixture(scope="module")
def fuzz_app(seeded: Seeded) -> Iterator[None]:
    SLOT.app, SLOT.seeded = create_app(seeded.settings), seeded
    yield
    SLOT.app, SLOT.seeded = None, None


class TallyReport:
    """Prints the examples run per operation, with their status codes, in pytest's closing summary."""

    def __init__(self, counts: dict[str, Counter[int]], path: Path) -> None:
        self.counts = counts
        self.path = path

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.counts:
            return
        terminalreporter.section(f"contract fuzz: examples per operation (seed {SEED}, {EXAMPLES} fuzzed)")
        for label, statuses in self.counts.items():
            codes = " ".join(f"{code}x{n}" for code, n in sorted(statuses.items()))
            terminalreporter.write_line(f"{statuses.total():6d}  {label}  [{codes}]")
        total = sum(c.total() for c in self.counts.values())
        terminalreporter.write_line(f"{total:6d}  in all; written to {self.path}")


@pytest.fixture(scope="module")
def tally(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Counter[int]]:
    counts: dict[str, Counter[int]] = defaultdict(Counter)
    path = tmp_path_factory.getbasetemp() / REPORT_NAME
    request.config.pluginmanager.register(TallyReport(counts, path), "contract-fuzz-tally")

    def write() -> None:
        report = {
            label: {"examples": c.total(), "statuses": {str(k): v for k, v in sorted(c.items())}}
            for label, c in counts.items()
        }
        path.write_text(json.dumps({"seed": SEED, "fuzzed": EXAMPLES, "operations": report}, indent=2))

    request.addfinalizer(write)
    return counts


def allow_names_the_documented_methods(ctx: CheckContext, response: Response, case: Case) -> None:
    """A 405's Allow lists exactly the path's methods (the built-in check reads only OPTIONS, and
    passes an empty Allow)."""
    if response.status_code != 405:
        return
    allow = ",".join(response.headers.get("allow", []))
    advertised = {method.strip().upper() for method in allow.split(",") if method.strip()}
    documented = {method.upper() for method in DOCUMENT["paths"][case.path]}
    assert advertised == documented, f"Allow: {allow!r}, documented: {sorted(documented)}"


@schema.parametrize()
def test_contract_fuzz_operation_conforms(case: Case, fuzz_app: None, tally: dict[str, Counter[int]]) -> None:
    response = case.call_and_validate(additional_checks=[allow_names_the_documented_methods])
    tally[case.operation.label][response.status_code] += 1


def test_contract_fuzz_reached_every_operation(tally: dict[str, Counter[int]]) -> None:
    """Every operation ran, and some of its requests got past authentication, validation and lookup."""
    labels = [result.ok().label for result in schema.get_all_operations()]
    missing = [label for label in labels if not tally.get(label)]
    assert not missing, f"not fuzzed (run the whole module): {missing}"
    reached = {label for label in labels if any(code < 400 or code == 409 for code in tally[label])}
    assert set(labels) == reached, {label: dict(tally[label]) for label in set(labels) - reached}


# What the fuzzer found, pinned down one request each.


def test_method_not_allowed_lists_every_method_of_the_path(client: TestClient) -> None:
    response = client.put("/v1/datasets")
    assert response.status_code == 405 and response.json()["type"] == "/problems/method-not-allowed"
    assert response.headers["Allow"] == "GET, POST"


@pytest.mark.parametrize(
    "body", [b"\xff{", b'{"a":' * 10_000 + b"1" + b"}" * 10_000], ids=["not utf-8", "nested 10,000 levels"]
)
def test_create_job_body_the_parser_fails_on_is_a_validation_problem(client: TestClient, body: bytes) -> None:
    response = client.post("/v1/jobs", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and response.json()["type"] == "/problems/validation"


def test_list_datasets_offset_past_64_bits_is_a_validation_problem(client: TestClient) -> None:
    response = client.get(f"/v1/datasets?offset={2**63}")
    assert response.status_code == 422 and response.json()["type"] == "/problems/validation"
