"""schemathesis against the gateway's own /openapi.json: no 5xx, nothing off-schema.

Bounded: a few generated requests per operation, against a running `keyslot serve`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.gateway_support import GatewayProcess, write_config

pytestmark = pytest.mark.slow

EXAMPLES_PER_OPERATION = 6


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    directory = Path(tmp_path_factory.mktemp("schemathesis"))
    process = GatewayProcess(write_config(directory)).start()
    yield process
    assert process.stop() == 0


@pytest.fixture(scope="module")
def auth(gateway: GatewayProcess) -> dict[str, str]:
    return {"Authorization": f"Bearer {gateway.api_key}"}


@pytest.fixture(scope="module")
def api_schema(gateway: GatewayProcess, auth: dict[str, str]) -> Any:
    return schemathesis.openapi.from_url(f"{gateway.url}/openapi.json", headers=auth)


def _operations() -> list[tuple[str, str]]:
    from keyslot.gateway.app import Gateway

    routes = Gateway.route_table()
    return [(m, r.path) for r in routes for m in r.methods]


@pytest.mark.parametrize(("method", "path"), _operations())
def test_api_conforms(
    method: str, path: str, api_schema: Any, gateway: GatewayProcess, auth: dict[str, str]
) -> None:
    operation = api_schema[path][method]

    @given(operation.as_strategy())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def check(case: Any) -> None:
        case.call_and_validate(
            base_url=gateway.url,
            headers=auth,
            checks=[
                not_a_server_error,
                status_code_conformance,
                content_type_conformance,
                response_schema_conformance,
            ],
        )

    check()
