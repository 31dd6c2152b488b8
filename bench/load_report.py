"""The load test's record and report: every response with its latency, the tallies, and the goal checks."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

HEALTH_GOAL_MS = 100.0
# Answers that tell a client to come back later: expected under load, never errors.
BACKPRESSURE = {(503, "/problems/queue-full"), (429, "/problems/too-many-jobs")}
MAX_EXAMPLES = 20
# What the server must answer each attack of bench/load_attackers.py: a refusal from the head alone
# (0: the connection closed without an answer, acceptable for a head too large to answer).
ATTACK_ANSWERS = {"declared": {401}, "chunked": {401}, "headers": {431, 0}}


@dataclass(frozen=True)
class Sample:
    """One request as the client saw it; status 0 means no answer (a transport error)."""

    endpoint: str
    status: int
    latency_s: float
    at_s: float
    phase: str
    variant: str = ""
    problem: str | None = None

    @property
    def backpressure(self) -> bool:
        return (self.status, self.problem) in BACKPRESSURE

    @property
    def server_error(self) -> bool:
        return self.status >= 500 and not self.backpressure

    @property
    def unexpected_4xx(self) -> bool:
        return 400 <= self.status < 500 and not self.backpressure

    @property
    def status_label(self) -> str:
        if self.status == 0:
            return f"transport:{self.problem}"
        return f"{self.status} {self.problem}" if self.problem else str(self.status)


def latency_stats(latencies_s: list[float]) -> dict[str, float]:
    if not latencies_s:
        return {"count": 0, "p50_ms": float("nan"), "p99_ms": float("nan"), "max_ms": float("nan")}
    ms = np.asarray(latencies_s) * 1000.0
    return {
        "count": len(latencies_s),
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "max_ms": float(ms.max()),
    }


@dataclass
class JobTally:
    """Jobs the service accepted (202) and how each ended after the drain."""

    accepted: int = 0
    succeeded: int = 0
    failed: int = 0
    canceled: int = 0
    unfinished: int = 0
    failure_types: dict[str, int] = field(default_factory=dict)
    wide_accepted: int = 0  # on wide datasets (bench/load_wide.py)
    wide_succeeded: int = 0


@dataclass
class ObjectTally:
    """Objects the service reported stored, and how many of them read back intact."""

    datasets_stored: int = 0
    datasets_verified: int = 0
    models_stored: int = 0
    models_verified: int = 0
    wide_models_stored: int = 0
    wide_models_verified: int = 0
    lost_examples: list[dict[str, str]] = field(default_factory=list)
    lost: int = 0

    def lose(self, kind: str, object_id: str, reason: str) -> None:
        self.lost += 1
        if len(self.lost_examples) < MAX_EXAMPLES:
            self.lost_examples.append({"kind": kind, "id": object_id, "reason": reason})


@dataclass
class TenancyCheck:
    """With API keys: a request without a key must get 401, another tenant's objects 404."""

    tenants: list[str] = field(default_factory=list)
    keyed: bool = False
    anonymous_status: int | None = None
    cross_checked: int = 0
    leaks: int = 0

    @property
    def enforced(self) -> bool:
        return self.anonymous_status == 401

    @property
    def ok(self) -> bool:
        return not self.keyed or (self.enforced and self.leaks == 0)


@dataclass
class Goal:
    name: str
    value: str
    goal: str
    passed: bool
    timing: bool = False

    def line(self) -> str:
        return f"{self.name}: {self.value} (goal {self.goal}) {'PASS' if self.passed else 'MISSED'}"


@dataclass
class LoadReport:
    """Everything one run measured; `samples` stay out of the JSON (error examples go in)."""

    base_url: str
    clients: int
    duration_s: float
    think_s: float
    started_at: str
    load_wall_s: float = 0.0
    drain_s: float = 0.0
    verify_s: float = 0.0
    samples: list[Sample] = field(default_factory=list)
    health: list[Sample] = field(default_factory=list)
    attacks: list[Sample] = field(default_factory=list)  # bench/load_attackers.py; variant = kind
    loop_lag_s: list[float] = field(default_factory=list)
    # The server's own event-loop lag during the load phase, from its /metrics histogram:
    # {bucket upper bound in seconds: observations}, the difference between two scrapes.
    server_loop_lag: dict[float, float] = field(default_factory=dict)
    jobs: JobTally = field(default_factory=JobTally)
    objects: ObjectTally = field(default_factory=ObjectTally)
    tenancy: TenancyCheck = field(default_factory=TenancyCheck)
    bad_answers: list[str] = field(default_factory=list)
    server_log: list[str] = field(default_factory=list)

    def load_samples(self) -> list[Sample]:
        return [s for s in self.samples if s.phase == "load"]

    def errors(self) -> dict[str, list[Sample]]:
        """Every phase counts: a 500 while verifying is as much a bug as one under load."""
        everything = self.samples + self.health
        return {
            "server_5xx": [s for s in everything + self.attacks if s.server_error],
            "transport": [s for s in everything if s.status == 0],
            # The tenancy checks expect 401 and 404; what else they get is counted as a leak.
            "unexpected_4xx": [s for s in everything if s.unexpected_4xx and s.phase != "tenancy"],
        }

    def health_stats(self, phase: str = "load") -> dict[str, float]:
        return latency_stats([s.latency_s for s in self.health if s.phase == phase and s.status == 200])

    def mix(self) -> dict[str, int]:
        """Successful actions of the load phase: proof that the mix really happened."""
        ok = Counter((s.endpoint, s.status) for s in self.load_samples())
        return {
            "uploads": ok["POST /v1/datasets", 201],
            "jobs": ok["POST /v1/jobs", 202],
            "polls": ok["GET /v1/jobs/{id}", 200],
            "predictions": ok["POST /v1/models/{id}/predictions", 200],
            "lists": sum(ok[f"GET /v1/{r}", 200] for r in ("datasets", "jobs", "models")),
            "healthz": ok["GET /healthz", 200],
            "wide uploads": self._wide_count("POST /v1/datasets", 201),
            "wide jobs": self._wide_count("POST /v1/jobs", 202),
            "wide predictions": self._wide_count("POST /v1/models/{id}/predictions", 200),
        }

    def _wide_count(self, endpoint: str, status: int) -> int:
        return sum(
            s.endpoint == endpoint and s.status == status and s.variant.startswith("wide")
            for s in self.load_samples()
        )

    def attacks_refused(self) -> int:
        return sum(s.status in ATTACK_ANSWERS.get(s.variant, set()) for s in self.attacks)

    def attack_table(self) -> dict[str, dict[str, Any]]:
        """Per kind of attack: the answers it got and how long until it had one."""
        table: dict[str, dict[str, Any]] = {}
        for kind in sorted({s.variant for s in self.attacks}):
            found = [s for s in self.attacks if s.variant == kind]
            table[kind] = {
                "answers": dict(Counter(str(s.status or "closed") for s in found).most_common()),
                **latency_stats([s.latency_s for s in found]),
            }
        return table

    def saturated_seconds(self) -> int:
        """Seconds of the load phase in which at least one backpressure answer came back."""
        return len({int(s.at_s) for s in self.load_samples() if s.backpressure})

    def goals(self) -> list[Goal]:
        errors = self.errors()
        p99 = self.health_stats()["p99_ms"]
        goals = [
            Goal("transport errors", str(len(errors["transport"])), "0", not errors["transport"]),
            Goal("unfinished jobs", str(self.jobs.unfinished), "0", self.jobs.unfinished == 0),
            Goal("failed jobs", str(self.jobs.failed), "0", self.jobs.failed == 0),
            Goal("wrong answers", str(len(self.bad_answers)), "0", not self.bad_answers),
        ]
        if self.tenancy.keyed:
            value = f"{self.tenancy.leaks} leaks, no-key answer {self.tenancy.anonymous_status}"
            goals.append(Goal("tenant isolation", value, "0 leaks, 401", self.tenancy.ok))
        if self.attacks:
            refused, total = self.attacks_refused(), len(self.attacks)
            goal = "all (401; 431 or closed for headers)"
            goals.append(Goal("attacks refused", f"{refused}/{total}", goal, refused == total))
        n_5xx = len(errors["server_5xx"])
        goals += [
            Goal("5xx other than 503", str(n_5xx), "0", n_5xx == 0),
            Goal("lost objects", str(self.objects.lost), "0", self.objects.lost == 0),
            Goal("healthz p99", f"{p99:.1f} ms", f"< {HEALTH_GOAL_MS:.0f} ms", p99 < HEALTH_GOAL_MS, True),
        ]
        return goals

    def passed(self, *, timing: bool) -> bool:
        return all(g.passed for g in self.goals() if timing or not g.timing)

    def to_json(self) -> dict[str, Any]:
        document = asdict(self)
        for key in ("samples", "health", "attacks", "loop_lag_s"):
            del document[key]
        load = self.load_samples()
        document["summary"] = {
            "requests": len(load),
            "requests_per_s": len(load) / self.load_wall_s if self.load_wall_s else 0.0,
            "by_status": dict(Counter(s.status_label for s in load).most_common()),
            "endpoints": endpoint_table(load),
            "variants": dict(Counter(f"{s.endpoint} [{s.variant}]" for s in load if s.variant)),
            "healthz_prober": self.health_stats(),
            "healthz_prober_drain": self.health_stats("drain"),
            "client_loop_lag": latency_stats(self.loop_lag_s),
            "mix": self.mix(),
            "saturated_seconds": self.saturated_seconds(),
            "attacks": self.attack_table(),
            "goals": [asdict(g) for g in self.goals()],
        }
        document["error_examples"] = {
            kind: [asdict(s) for s in found[:MAX_EXAMPLES]] for kind, found in self.errors().items()
        }
        document["error_counts"] = {kind: len(found) for kind, found in self.errors().items()}
        return document


def endpoint_table(samples: list[Sample]) -> dict[str, dict[str, float]]:
    """Latency per endpoint over answered requests (transport errors have no meaningful latency)."""
    by_endpoint: dict[str, list[float]] = {}
    for sample in samples:
        if sample.status:
            by_endpoint.setdefault(sample.endpoint, []).append(sample.latency_s)
    return {name: latency_stats(values) for name, values in sorted(by_endpoint.items())}


def _format_table(table: dict[str, dict[str, float]]) -> list[str]:
    lines = [f"  {'endpoint':<36} {'count':>7} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9}"]
    for name, row in table.items():
        numbers = f"{row['p50_ms']:>9.1f} {row['p99_ms']:>9.1f} {row['max_ms']:>9.1f}"
        lines.append(f"  {name:<36} {row['count']:>7.0f} {numbers}")
    return lines


def _format_errors(report: LoadReport) -> list[str]:
    errors = report.errors()
    lines = [
        "errors: "
        + ", ".join(f"{kind} {len(found)}" for kind, found in errors.items())
        + f", wrong answers {len(report.bad_answers)}"
    ]
    for kind, found in errors.items():
        for label, count in Counter(f"{s.endpoint} -> {s.status_label}" for s in found).most_common(8):
            lines.append(f"  {kind}: {label} x{count}")
    lines += [f"  wrong answer: {text}" for text in report.bad_answers[:5]]
    return lines


def _format_outcomes(report: LoadReport) -> list[str]:
    jobs, objects = report.jobs, report.objects
    health, drain = report.health_stats(), report.health_stats("drain")
    lag = latency_stats(report.loop_lag_s)
    lines = [
        f"healthz prober (every 50 ms, load phase): n={health['count']:.0f} p50 {health['p50_ms']:.1f} ms"
        f"  p99 {health['p99_ms']:.1f} ms  max {health['max_ms']:.1f} ms",
        f"healthz prober (drain phase: jobs still running, no client load): n={drain['count']:.0f} "
        f"p50 {drain['p50_ms']:.1f} ms  p99 {drain['p99_ms']:.1f} ms",
        f"load generator loop lag: p50 {lag['p50_ms']:.1f} ms  p99 {lag['p99_ms']:.1f} ms",
        f"server event-loop lag (its /metrics, load phase): {_bucket_quantiles(report.server_loop_lag)}",
        f"jobs: accepted {jobs.accepted} ({jobs.wide_accepted} wide), succeeded {jobs.succeeded} "
        f"({jobs.wide_succeeded} wide), failed {jobs.failed}, canceled {jobs.canceled}, "
        f"unfinished {jobs.unfinished} (drain {report.drain_s:.1f} s)",
        f"objects: datasets {objects.datasets_verified}/{objects.datasets_stored} verified, models "
        f"{objects.models_verified}/{objects.models_stored} verified ({objects.wide_models_verified}/"
        f"{objects.wide_models_stored} wide), lost {objects.lost} (verify {report.verify_s:.1f} s)",
    ]
    lines += [f"  failed job: {kind} x{count}" for kind, count in jobs.failure_types.items()]
    lines += [f"  lost {e['kind']} {e['id']}: {e['reason']}" for e in objects.lost_examples[:5]]
    tenancy = report.tenancy
    if tenancy.keyed:
        lines.append(
            f"tenants: {', '.join(tenancy.tenants)}; no-key request answered {tenancy.anonymous_status}; "
            f"{tenancy.cross_checked} cross-tenant reads, {tenancy.leaks} leaked"
        )
        if not tenancy.enforced:
            lines.append("  the server accepted a request without an API key: are API keys implemented yet?")
    return lines


def format_report(report: LoadReport) -> str:
    load = report.load_samples()
    rate = len(load) / report.load_wall_s if report.load_wall_s else 0.0
    statuses = Counter(s.status_label for s in load).most_common()
    mix = ", ".join(f"{name} {count}" for name, count in report.mix().items())
    lines = [
        f"load test: {report.clients} clients for {report.duration_s:g} s against {report.base_url}"
        f" (think time 0-{2 * report.think_s:g} s)",
        f"requests: {len(load)} in {report.load_wall_s:.1f} s ({rate:.1f}/s)",
        "responses by status: " + ", ".join(f"{label} x{count}" for label, count in statuses),
        f"successful mix: {mix}",
        f"backpressure in {report.saturated_seconds()} of {report.load_wall_s:.0f} s",
        *_format_errors(report),
        "latency per endpoint (load phase):",
        *_format_table(endpoint_table(load)),
        *_format_outcomes(report),
        *_format_attacks(report),
    ]
    goals = report.goals()
    lines += ["checks: " + "; ".join(g.line() for g in goals[:-3])]
    lines += ["goals: " + "; ".join(g.line() for g in goals[-3:])]
    return "\n".join(lines)


def _format_attacks(report: LoadReport) -> list[str]:
    if not report.attacks:
        return []
    parts = []
    for kind, row in report.attack_table().items():
        answers = ", ".join(f"{status} x{count}" for status, count in row["answers"].items())
        parts.append(f"{kind}: {answers}, answered in p50 {row['p50_ms']:.0f} ms, max {row['max_ms']:.0f} ms")
    return ["attackers (no key: 247 MB declared / chunked bodies; 60 MB header): " + "; ".join(parts)]


def _bucket_quantiles(buckets: dict[float, float]) -> str:
    """p50 and p99 of a histogram as the bucket bounds they fall under (what a histogram can say)."""
    total = sum(buckets.values())
    if not total:
        return "not measured"
    parts = []
    for q in (0.5, 0.99):
        seen = 0.0
        for bound, count in sorted(buckets.items()):
            seen += count
            if seen >= q * total:
                parts.append(f"p{round(q * 100)} <= {bound * 1000:g} ms")
                break
    return f"{'  '.join(parts)} (n={total:.0f})"
