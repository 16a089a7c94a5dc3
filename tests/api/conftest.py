"""API test fixtures: the routing kernels compiled first, a small region, a store on SQLite or on
a real PostgreSQL server started for the session, tokens for every role, and a client on the app."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import create_token
from api.pg_local import PostgresUnavailableError, local_postgres
from api.server_process import free_port
from api.settings import Settings
from api.store import Store
from grid_model.generate import RegionParams
from grid_model.region import Region, load_region
from routing.warm import warm_up

SECRET = "test-secret-0123456789abcdef"


@pytest.fixture(scope="session")
def region() -> Region:
    return load_region(RegionParams(scale=0.1))


@pytest.fixture(scope="session", autouse=True)
def routing_kernels() -> None:
    """The routing kernels compiled into numba's disk cache before any API test: a server started
    in a subprocess on a fresh install would otherwise compile them itself, past its start-up
    timeout (minutes on two busy cores)."""
    warm_up()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """One PostgreSQL server for the session; in CI its absence is a failure, elsewhere a skip."""
    try:
        with local_postgres() as url:
            yield url
    except PostgresUnavailableError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL cannot be started here: {exc}")


def _fresh_database(server_url: str) -> str:
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return server_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return _fresh_database(request.getfixturevalue("postgres_server"))


@dataclass
class Api:
    client: TestClient
    tokens: dict[str, str]
    region: Region
    settings: Settings

    def as_(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


def make_settings(tmp_path: Path, database_url: str, **kw: object) -> Settings:
    """Test settings: the small region, an hourly tick, webhooks to the tests' loopback receivers."""
    kw.setdefault("webhook_allow_private", True)
    return Settings(data_dir=tmp_path, database_url=database_url, secret=SECRET, grid_scale=0.1,
                    tick_s=3600.0, **kw)  # type: ignore[arg-type]


def issue_tokens(settings: Settings) -> dict[str, str]:
    store = Store(settings.database_url)
    store.migrate()
    tokens = {role: create_token(store, settings.secret, role)
              for role in ("call_taker", "dispatcher", "viewer")}
    tokens["crew"] = create_token(store, settings.secret, "crew", "D01-C01")
    tokens["other_crew"] = create_token(store, settings.secret, "crew", "D01-C02")
    store.dispose()
    return tokens


@contextmanager
def served(app: FastAPI) -> Iterator[str]:
    """``app`` served by uvicorn on loopback in a thread of this process; its base URL.
    ``RuntimeError`` when the app does not start (uvicorn logs why and ends its thread)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the app did not start: its start-up failed (see the log)")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def http_server(tmp_path: Path, region: Region) -> Iterator[tuple[str, dict[str, str]]]:
    """The app served by uvicorn on loopback in this process (SQLite store); its base URL and a
    token per role."""
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'store.db'}")
    tokens = issue_tokens(settings)
    with served(create_app(settings, region=region)) as base:
        yield base, tokens


@pytest.fixture
def api(tmp_path: Path, database_url: str, region: Region) -> Iterator[Api]:
    settings = make_settings(tmp_path, database_url)
    tokens = issue_tokens(settings)
    with TestClient(create_app(settings, region=region)) as client:
        yield Api(client, tokens, region, settings)
