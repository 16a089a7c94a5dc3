"""Server settings: where the data lives, which database, the secret that keys API tokens, and
the limits on requests. Values come from arguments and the environment, never from the repo.

The secret is ``OUTAGE_DISPATCH_SECRET``, else the data folder's ``secret.key`` (created, mode
0600, by ``outage-dispatch token create``). Outside development mode the server refuses to start
without one, with the development default, or with one too weak to key tokens (fewer than 16
distinct characters or under about 128 bits).
"""

from __future__ import annotations

import math
import os
import secrets
import string
import tempfile
from dataclasses import dataclass
from pathlib import Path

DEV_SECRET = "development-only-secret-do-not-use"
SECRET_FILE = "secret.key"
DB_FILE = "outage-dispatch.db"


class SettingsError(ValueError):
    """Settings the server cannot start with; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path
    database_url: str
    secret: str
    dev_mode: bool = False
    grid: str = "default"
    grid_scale: float = 1.0
    policy: str = "optimizer"
    # switching of the MV network (dispatch.switchboard.SwitchingMode): off, remote or full
    switching: str = "off"
    max_body_bytes: int = 64 * 1024
    # how far outside the territory a call's coordinates may lie, metres
    territory_margin_m: float = 2_000.0
    tick_s: float = 60.0
    token_cache_s: float = 30.0  # a revoked token is refused (and its open streams end) within this long
    ready_max_lag_s: float = 30.0  # /readyz fails when a logged event has waited longer for the engine
    # serve --demo: the default storm plays live on a clock this many times faster than real time
    demo: bool = False
    demo_speed: float = 60.0
    # customer notices: one per customer, or one per transformer area (group channels)
    notice_channel: str = "customer"
    etr_notice_margin_s: int = 3600  # an ETR change is told when it moves at least this much
    webhook_retry_base_s: float = 1.0  # the first retry's wait; each next one doubles (api/webhooks.py)
    webhook_max_attempts: int = 25
    webhook_allow_private: bool = False  # deliver to loopback and private addresses (a gateway on the host)

    @classmethod
    def from_env(cls, data_dir: Path, *, dev_mode: bool = False, **overrides: object) -> Settings:
        """Settings for ``data_dir`` with ``DATABASE_URL`` and the secret from the environment."""
        data_dir = Path(data_dir)
        url = os.environ.get("DATABASE_URL") or f"sqlite:///{(data_dir / DB_FILE).resolve()}"
        secret = os.environ.get("OUTAGE_DISPATCH_SECRET") or read_secret(data_dir) or ""
        if not secret and dev_mode:
            secret = DEV_SECRET
        return cls(data_dir=data_dir, database_url=url, secret=secret, dev_mode=dev_mode,
                   **overrides)  # type: ignore[arg-type]

    def check(self) -> None:
        """Refuse to serve without a real secret unless in development mode."""
        if self.dev_mode:
            return
        if not self.secret:
            raise SettingsError("no secret: set OUTAGE_DISPATCH_SECRET, or run `outage-dispatch token "
                                f"create --data-dir {self.data_dir}` once to create "
                                f"{self.data_dir / SECRET_FILE}")
        if self.secret == DEV_SECRET:
            raise SettingsError("the secret is the development default; set a real OUTAGE_DISPATCH_SECRET "
                                "(development mode only allows it)")
        check_secret(self.secret)


MIN_SECRET_BITS = 128
MIN_SECRET_DISTINCT = 16


def secret_bits(secret: str) -> float:
    """A secret's strength, estimated as its length times the bits of a character drawn from
    the classes it uses (lower case, upper case, digits, punctuation, anything else)."""
    classes = [string.ascii_lowercase, string.ascii_uppercase, string.digits, string.punctuation]
    alphabet = sum(len(c) for c in classes if any(ch in c for ch in secret))
    if any(not any(ch in c for c in classes) for ch in secret):
        alphabet += 100
    return len(secret) * math.log2(max(alphabet, 2))


def check_secret(secret: str) -> None:
    """Refuse a secret with fewer than 16 distinct characters or under 128 bits estimated."""
    distinct = len(set(secret))
    if distinct < MIN_SECRET_DISTINCT or secret_bits(secret) < MIN_SECRET_BITS:
        raise SettingsError(f"the secret is too weak ({distinct} distinct characters, about "
                            f"{secret_bits(secret):.0f} bits; needs {MIN_SECRET_DISTINCT} and "
                            f"{MIN_SECRET_BITS}): make one with `python3 -c 'import secrets; "
                            f"print(secrets.token_urlsafe(32))'`")


def check_data_dir(data_dir: Path) -> None:
    """One line naming the folder and the cause when the data folder cannot be created or
    written (a read-only file system, no permission, a file in the way)."""
    try:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=data_dir):
            pass
    except OSError as exc:
        raise SettingsError(f"data folder {data_dir} cannot be written: {exc.strerror or exc}") from None
    for name in (DB_FILE, SECRET_FILE):
        if (data_dir / name).exists() and not os.access(data_dir / name, os.R_OK | os.W_OK):
            raise SettingsError(f"{data_dir / name} cannot be written: permission denied")


def read_secret(data_dir: Path) -> str | None:
    path = Path(data_dir) / SECRET_FILE
    return path.read_text(encoding="utf-8").strip() if path.exists() else None


def ensure_secret(data_dir: Path) -> str:
    """The configured secret, or a new random one written to ``secret.key`` (mode 0600)."""
    configured = os.environ.get("OUTAGE_DISPATCH_SECRET") or read_secret(data_dir)
    if configured:
        check_secret(configured)
        return configured
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    path = data_dir / SECRET_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(secret + "\n")
    return secret
