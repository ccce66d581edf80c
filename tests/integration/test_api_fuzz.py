"""Schema-driven fuzzing: schemathesis generates requests from the app's own OpenAPI document
and checks that no answer is a 5xx or breaks that document. (Not checked: that every
schema-valid request is accepted: the API also refuses, with a 422, URLs pods must not fetch,
earlier jobs that are not the project's, and input that does not fit the chosen type.) The app
talks to the real local control plane, in a namespace without the job pods' ServiceAccount (so
fuzzed jobs never run and take no GPU)."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from kubernetes import client
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api.rest.main import create_app
from api.rest.settings import Settings
from api.rest.store import JobStore

pytestmark = pytest.mark.cluster
TOKEN = "fuzz-service-token-0123456789abcdef"
EXAMPLES = 25  # per operation


@pytest.fixture
def fuzz_app(k8s: client.ApiClient, namespace: str, crd: dict[str, object]) -> Any:
    return create_app(Settings(service_tokens=[TOKEN]), JobStore(k8s, namespace))


def test_no_server_errors_and_responses_match_the_schema(fuzz_app: Any) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12
    calls = 0

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            nonlocal calls
            calls += 1
            if case.path.endswith(("/events", "/stream")):  # streams end after `timeout`
                case.query = {**(case.query or {}), "timeout": 1}
            case.call_and_validate(
                headers={"Authorization": f"Bearer {TOKEN}"},
                excluded_checks=[positive_data_acceptance],
            )

        check()
    assert calls >= 10 * len(operations)  # the fuzzing really ran
