"""Property-based run over the API's own OpenAPI document (SPEC §11).

Schemathesis reads ``/api/v1/openapi.json`` from a real service (pointed at the fake Trakt, so
calls that go upstream get answers) and, for every operation, sends a bounded number of
generated requests, valid and invalid, with the bearer token:

- no answer is a 5xx, and none carries a traceback;
- every 4xx is JSON ``{"error": "..."}`` (a 422 also names the ``field``).

Path parameters are drawn at random and, half of the time, pinned to objects that exist (a
connected user, a sync run, a scrobble row, a watchlist item), so generated bodies and queries
reach the code behind the 404. Failures are collected instead of raised, so every operation runs
and one report lists them all; nothing is shrunk, which keeps the run's length bounded.

The examples are derandomised (the same requests on every run) so that the suite's verdict does
not depend on luck; ``TRAKT_PLUGIN_LONG_TESTS=1`` runs many more examples with fresh randomness.

A second test sends each operation once without the token: every one answers 401.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.schemas import APIOperation

from tests.conftest import API_TOKEN, FakeTraktServer, Service
from tests.webhooks.harness import FAST_ENV, Rig
from tests.webhooks.payloads import Media, revenge

LONG = bool(os.environ.get("TRAKT_PLUGIN_LONG_TESTS"))
EXAMPLES = 200 if LONG else 25
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
TIMEOUT = 15  # seconds per request: a hang fails the request, never the whole run
TRACEBACK_MARKERS = ("Traceback (most recent call last)", 'File "/')
# No example database, no deadline, no shrinking (failures are collected, not raised), no
# health check (a slow or filtered strategy is not the service's fault).
QUIET: dict[str, Any] = {
    "database": None,
    "deadline": None,
    "phases": [Phase.explicit, Phase.generate],
    "suppress_health_check": list(HealthCheck),
}


@dataclass
class Target:
    service: Service
    base_url: str
    known: dict[str, str]  # path parameter name -> the id of an object that exists
    failures: dict[tuple[str, str], str] = field(default_factory=dict)
    requests: int = 0


def load_operations(base_url: str) -> list[APIOperation]:
    schema = schemathesis.openapi.from_url(
        f"{base_url}/openapi.json", headers=AUTH, timeout=TIMEOUT
    )
    operations = []
    for result in schema.get_all_operations():
        operations.append(result.ok())  # an operation the loader cannot read fails here
    assert len(operations) >= 25, [op.label for op in operations]
    return operations


def path_names(operation: APIOperation) -> list[str]:
    return [param.name for param in operation.path_parameters]


def problems(response: Any, case: Case) -> str | None:
    """What is wrong with one answer, or None."""
    status, text = response.status_code, response.text
    sent = f"{case.path_parameters} {case.query} {case.body}"  # an answer may echo these
    if status >= 500:
        return f"answered {status}"
    if any(marker in text and marker not in sent for marker in TRACEBACK_MARKERS):
        return "answer carries a traceback"
    if 400 <= status < 500:
        try:
            body = response.json()
        except ValueError:
            return f"{status} answer is not JSON"
        if not isinstance(body, dict) or not isinstance(body.get("error"), str):
            return f'{status} answer is not {{"error": ...}}'
        if status == 422 and not body.get("field"):
            return "422 answer names no field"
    return None


def case_strategy(operation: APIOperation, known: dict[str, str]) -> st.SearchStrategy[Case]:
    modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    strategies = [operation.as_strategy(generation_mode=mode) for mode in modes]
    pinned = {name: known[name] for name in path_names(operation) if name in known}
    if pinned:
        strategies += [
            operation.as_strategy(generation_mode=mode, path_parameters=pinned) for mode in modes
        ]
    return st.one_of(strategies)


def fuzz(target: Target, operation: APIOperation) -> None:
    @settings(**QUIET, max_examples=EXAMPLES, derandomize=not LONG)
    @given(case=case_strategy(operation, target.known))
    def run(case: Case) -> None:
        target.requests += 1
        response = case.call(base_url=target.base_url, headers=AUTH, timeout=TIMEOUT)
        problem = problems(response, case)
        if problem and (operation.label, problem) not in target.failures:
            target.failures[operation.label, problem] = (
                f"{response.text[:300]!r}\n    {case.as_curl_command(headers=AUTH)}"
            )

    run()


@pytest.fixture
def target(service_factory: Callable[..., Service], fake_trakt: FakeTraktServer) -> Target:
    """A service on the fake Trakt with one object of each kind the paths name."""
    service = service_factory(fake_trakt.service_env(**FAST_ENV))
    rig = Rig(service, fake_trakt)
    user_id = rig.user("Fuzz", {"revenge": "fuzz"}, trakt_username="fuzzer")
    movie = Media(kind="movie", title="The Matrix", year=1999, imdb="tt0133093")
    rig.deliver("revenge", revenge("start", "fuzz", movie, 5.0))
    scrobble_id = str(rig.rows(user_id)[0]["id"])
    with service.api() as api:
        item = api.post(
            f"/api/v1/users/{user_id}/watchlist",
            json={"type": "movie", "movie": {"title": "M", "year": 1999, "ids": {"imdb": "tt1"}}},
        )
        assert item.status_code == 201, item.text
        run = api.post(
            f"/api/v1/users/{user_id}/sync",
            json={"kind": "watchlist", "direction": "import", "dry_run": True},
        )
        assert run.status_code == 202, run.text
    known = {
        "user_id": user_id,
        "run_id": str(run.json()["run_id"]),
        "scrobble_id": scrobble_id,
        "item_id": str(item.json()["id"]),
    }
    return Target(service, f"{service.url}/api/v1", known)


def test_generated_requests_answer_no_5xx_and_json_errors(target: Target) -> None:
    operations = load_operations(target.base_url)
    # Deleting comes last (the user itself at the very end), so pinned ids keep existing.
    operations.sort(key=lambda op: (op.method.lower() == "delete", -len(op.path)))
    started = time.monotonic()
    for operation in operations:
        fuzz(target, operation)
    elapsed = time.monotonic() - started
    report = "\n".join(
        f"{label}: {problem}\n    {detail}" for (label, problem), detail in target.failures.items()
    )
    assert not target.failures, f"{len(target.failures)} problem(s):\n{report}"
    assert target.requests >= len(operations), target.requests
    assert target.service.process.poll() is None, target.service.log()[-3000:]
    print(f"{target.requests} requests over {len(operations)} operations in {elapsed:.1f}s")


def sample(operation: APIOperation) -> Case:
    """One valid request for ``operation``, its path parameters set to "1"."""
    found: list[Case] = []
    path_parameters = dict.fromkeys(path_names(operation), "1")

    @settings(**QUIET, max_examples=1, derandomize=True)
    @given(case=operation.as_strategy(path_parameters=path_parameters))
    def pick(case: Case) -> None:
        found.append(case)

    pick()
    return found[0]


def test_every_operation_needs_the_token(service: Service) -> None:
    base_url = f"{service.url}/api/v1"
    wrong = {"Authorization": "Bearer not-the-token-0123456789abcdef"}
    failures = []
    for operation in load_operations(base_url):
        case = sample(operation)
        for headers in ({}, wrong):
            response = case.call(base_url=base_url, headers=headers, timeout=TIMEOUT)
            if response.status_code != 401 or problems(response, case):
                failures.append(
                    f"{operation.label} ({'wrong' if headers else 'no'} token): "
                    f"{response.status_code} {response.text[:200]!r}"
                )
    assert not failures, "\n".join(failures)
