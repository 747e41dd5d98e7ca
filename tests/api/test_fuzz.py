"""Schemathesis against /openapi.json, in-process: no 5xx, every response as documented.

The app runs inside Starlette's TestClient (its own event loop thread, its own lifespan:
DB engine and Temporal client); schemathesis generates the requests and checks responses.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hsettings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.testclient import TestClient

from api.main import create_app
from settings import Settings
from tests.api.conftest import auth

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
BASE = "http://testserver"

schema = schemathesis.openapi.from_dict(create_app(Settings()).openapi())


@pytest.fixture(scope="module")
def fuzz_client(settings: Settings, worker: object) -> Iterator[TestClient]:
    with TestClient(create_app(settings), base_url=BASE, raise_server_exceptions=False) as c:
        yield c


def _request(client: TestClient, kwargs: dict[str, Any]) -> Any:
    data = kwargs.pop("data", None)
    if isinstance(data, (bytes, str)):
        kwargs["content"] = data
    elif data is not None:
        kwargs["data"] = data
    kwargs.pop("verify", None)
    kwargs.pop("timeout", None)
    return client.request(**kwargs)


@schema.parametrize()
@hsettings(
    max_examples=12,
    deadline=None,
    database=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_openapi_contract(case: Any, fuzz_client: TestClient) -> None:
    kwargs = case.as_transport_kwargs(base_url=BASE, headers=auth("admin"))
    response = _request(fuzz_client, kwargs)
    case.validate_response(response, checks=CHECKS)
