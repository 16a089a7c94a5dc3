"""Property-based requests generated from the OpenAPI document (schemathesis): whatever a
client sends, authenticated or not, the server never answers 5xx and only with the status codes
the document declares."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance

from api.app import create_app
from grid_model.region import Region
from tests.api.conftest import issue_tokens, make_settings

_DOC = create_app(make_settings(Path(tempfile.gettempdir()), "sqlite://")).openapi()
# the change stream never ends by design; it is tested on its own
schema = schemathesis.openapi.from_dict(_DOC).exclude(path="/v1/events/stream")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, region: Region) -> Iterator[tuple[TestClient, str]]:
    folder = tmp_path_factory.mktemp("fuzz")
    config = make_settings(folder, f"sqlite:///{folder / 'store.db'}")
    tokens = issue_tokens(config)
    with TestClient(create_app(config, region=region), raise_server_exceptions=False) as client:
        customers = region.customers["customer_id"]
        for k in range(3):  # something to find: orders, incidents, crews on their way
            client.post("/v1/calls", json={"call_id": f"F{k}", "customer_id": str(customers.iloc[50 * k])},
                        headers={"Authorization": f"Bearer {tokens['dispatcher']}"})
        yield client, tokens["dispatcher"]


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_gets_a_server_error(case: schemathesis.Case, server: tuple[TestClient, str]) -> None:
    client, token = server
    for headers in ({"Authorization": f"Bearer {token}"}, {}):
        kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=headers)
        kwargs.pop("cookies", None)
        if isinstance(kwargs.get("data"), bytes | str):  # raw bodies go as content to httpx2
            kwargs["content"] = kwargs.pop("data")
        try:
            response = client.request(**kwargs)
        except UnicodeEncodeError:  # a header HTTP cannot carry: the client refuses to send it
            continue
        case.validate_response(response, checks=[not_a_server_error, status_code_conformance])
