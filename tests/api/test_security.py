"""Hardening: security headers on every answer and no caching of the API's; the database and
secret files readable by their owner only; /docs from vendored assets; weak secrets refused;
tokens listed and revoked by id; a revoked token's open stream ends; life-support customers
shown individually to dispatchers only; crew tokens only for crews of the roster; an unwritable
data folder named in one line."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx2
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.cli import main
from api.settings import Settings, SettingsError
from api.store import Store
from grid_model.region import Region
from tests.api.conftest import Api, issue_tokens, make_settings, served


def test_every_answer_carries_the_security_headers(api: Api) -> None:
    for path, headers in (("/v1/work-orders", api.as_("viewer")), ("/", {}), ("/healthz", {}),
                          ("/v1/calls/nope", api.as_("viewer"))):
        r = api.client.get(path, headers=headers)
        assert "script-src 'self'" in r.headers["content-security-policy"], path
        assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"
    assert api.client.get("/v1/work-orders", headers=api.as_("viewer")).headers["cache-control"] == "no-store"


def test_the_database_files_and_the_secret_are_owner_only(tmp_path: Path, region: Region,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OUTAGE_DISPATCH_SECRET", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert main(["token", "create", "--role", "viewer", "--data-dir", str(tmp_path)]) == 0
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'outage-dispatch.db'}")
    with TestClient(create_app(settings, region=region)) as client:
        client.get("/healthz")
        files = [p for p in tmp_path.iterdir() if p.name.startswith(("outage-dispatch.db", "secret.key"))]
        names = {p.name for p in files}
        assert names >= {"outage-dispatch.db", "outage-dispatch.db-wal", "outage-dispatch.db-shm",
                         "secret.key"}
        for p in files:
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, p


def test_the_docs_page_loads_nothing_from_elsewhere(api: Api) -> None:
    page = api.client.get("/docs")
    assert page.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(s.startswith("/static/") for s in sources)
    for s in sources:
        assert api.client.get(s).status_code == 200, s
    assert (Path(__file__).resolve().parents[2] / "api/static/vendor/swagger-ui/LICENSE").exists()


@pytest.mark.parametrize("secret", ["a" * 40, "0123456789abcdef", "abcdefghijklmnopqrst"])
def test_weak_secrets_are_refused(tmp_path: Path, secret: str) -> None:
    with pytest.raises(SettingsError, match="too weak"):
        Settings(tmp_path, f"sqlite:///{tmp_path / 's.db'}", secret).check()


def test_tokens_are_listed_and_revoked_by_id(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OUTAGE_DISPATCH_SECRET", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    for role in ("dispatcher", "viewer"):
        assert main(["token", "create", "--role", role, "--data-dir", str(tmp_path)]) == 0
    tokens = capsys.readouterr().out.split()
    assert main(["token", "list", "--data-dir", str(tmp_path)]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert len(listed) == 2 and not any(t in "\n".join(listed) for t in tokens)
    viewer_id = next(line.split()[0] for line in listed if " viewer " in line)
    assert main(["token", "revoke", "--id", viewer_id, "--data-dir", str(tmp_path)]) == 0
    assert "revoked" in capsys.readouterr().out
    assert main(["token", "list", "--data-dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith(viewer_id) and line.endswith("revoked") for line in lines)
    assert main(["token", "revoke", "--id", viewer_id, "--data-dir", str(tmp_path)]) == 2


def test_a_crew_token_names_a_crew_of_the_roster(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OUTAGE_DISPATCH_SECRET", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    args = ["token", "create", "--role", "crew", "--data-dir", str(tmp_path), "--scale", "0.1"]
    assert main([*args, "--crew", "NOPE"]) == 2
    assert "no crew 'NOPE'" in capsys.readouterr().err
    assert main([*args, "--crew", "D01-C01"]) == 0


def test_an_unwritable_data_folder_is_named_in_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    folder = blocker / "data"  # cannot be created, even by root
    if os.geteuid() != 0:
        folder = tmp_path / "read-only"
        folder.mkdir(mode=0o500)
    env = {**os.environ, "OUTAGE_DISPATCH_SECRET": "unwritable-test-secret-0123456789abcdef"}
    env.pop("DATABASE_URL", None)
    for command in (["serve", "--port", "1"], ["token", "create", "--role", "viewer"]):
        out = subprocess.run([sys.executable, "-m", "api.cli", *command, "--data-dir", str(folder)], env=env,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 2 and "Traceback" not in out.stderr
        assert out.stderr.count("\n") == 1 and str(folder) in out.stderr and "cannot be written" in out.stderr


def test_a_revoked_token_ends_its_open_stream(tmp_path: Path, region: Region) -> None:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'store.db'}", token_cache_s=1.0)
    token = issue_tokens(settings)["viewer"]
    ended = threading.Event()
    with served(create_app(settings, region=region)) as base:
        def read() -> None:
            with httpx2.stream("GET", f"{base}/v1/events/stream", timeout=30,
                               headers={"Authorization": f"Bearer {token}"}) as stream:
                for _ in stream.iter_lines():
                    pass
            ended.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        time.sleep(1.5)
        assert not ended.is_set()
        store = Store(settings.database_url)
        assert store.revoke_key_id(next(k["key_id"] for k in store.list_keys() if k["role"] == "viewer"))
        store.dispose()
        revoked_at = time.monotonic()
        assert ended.wait(timeout=5) and time.monotonic() - revoked_at <= settings.token_cache_s + 0.5


def test_life_support_customers_are_shown_individually_to_dispatchers_only(api: Api) -> None:
    mine = api.client.get("/v1/map/critical", headers=api.as_("dispatcher")).json()
    life = [c for c in mine if c["critical"] == "life_support"]
    assert life and all(c["customer_id"] and c["count"] == 1 for c in life)
    for role in ("viewer", "crew", "call_taker"):
        seen = api.client.get("/v1/map/critical", headers=api.as_(role)).json()
        cells = [c for c in seen if c["critical"] == "life_support"]
        assert cells and all(c["customer_id"] == "" for c in cells)
        assert sum(c["count"] for c in cells) == len(life) and len(cells) < len(life)
        assert {(c["lon"], c["lat"]) for c in cells}.isdisjoint({(c["lon"], c["lat"]) for c in life})
