"""Webhook delivery of the outbox's notices: at least once, signed, retried with backoff.

Each notice goes to each subscriber as one POST of its JSON body, with ``X-Signature:
sha256=<hex>`` (HMAC-SHA256 of the body under the subscriber's secret), ``X-Notice-Id`` (the
body's ``id``: a receiver drops a duplicate by it) and ``X-Delivery-Attempt``. A 2xx answer
delivers it; anything else (another status, a timeout, a refused connection) is retried after
1, 2, 4, ... seconds, at most ``RETRY_CAP_S`` apart, and given up (``failed``, with the last
error) after ``MAX_ATTEMPTS``; a dispatcher can put given-up deliveries back in line. A delivery
is marked only after its answer, so a server killed mid-send sends it again after the restart,
with the same id.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from api.outbox import DueDelivery, Outbox

log = logging.getLogger(__name__)

RETRY_BASE_S = 1.0
RETRY_CAP_S = 600.0
MAX_ATTEMPTS = 25  # about 2.8 hours of retrying
TIMEOUT_S = 5.0
BATCH = 256  # deliveries taken from the outbox per round
IDLE_WAIT_S = 1.0  # the longest the deliverer sleeps without being woken


def sign(secret: str, body: bytes) -> str:
    """The ``X-Signature`` header of a body: ``sha256=`` and the hex HMAC-SHA256 under ``secret``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def retry_delay_s(failures: int, base_s: float = RETRY_BASE_S) -> float:
    """The wait after the ``failures``-th failed attempt in a row."""
    return min(RETRY_CAP_S, base_s * 2.0 ** (failures - 1))


class Deliverer:
    """Sends the outbox's due deliveries from a pool of ``workers`` threads (see the module
    docstring); ``wake`` when new deliveries are committed."""

    def __init__(self, outbox: Outbox, *, workers: int = 8, timeout_s: float = TIMEOUT_S,
                 max_attempts: int = MAX_ATTEMPTS, retry_base_s: float = RETRY_BASE_S) -> None:
        self.outbox = outbox
        self.max_attempts = max_attempts
        self.retry_base_s = retry_base_s
        self._timeout_s = timeout_s
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="webhook")
        self._local = threading.local()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.sent = 0
        self.failures = 0
        self.error = ""  # why the last round could not read or write the outbox, until one can

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True, name="live-deliver")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=TIMEOUT_S + 5)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def wake(self) -> None:
        self._wake.set()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                sent = self.deliver_due()
                self.error = ""
            except Exception as exc:  # the store is away: say so, and try again
                self.error = f"{type(exc).__name__}: {exc}"
                log.error("webhook delivery round failed: %s", self.error)
                sent = 0
            if sent:
                continue
            self._wake.wait(self._idle_wait())
            self._wake.clear()

    def _idle_wait(self) -> float:
        try:
            due = self.outbox.next_due_at()
        except Exception:
            return IDLE_WAIT_S
        return IDLE_WAIT_S if due is None else min(IDLE_WAIT_S, max(0.0, due - time.time()))

    def deliver_due(self) -> int:
        """Send every delivery due now (one round of at most ``BATCH``) and record the answers;
        how many were attempted."""
        due = self.outbox.due(time.time(), BATCH)
        if not due:
            return 0
        errors = list(self._pool.map(self._send, due))
        done = [d for d, e in zip(due, errors, strict=True) if e is None]
        failed = []
        for d, error in zip(due, errors, strict=True):
            if error is None:
                continue
            attempts = d.attempts + 1
            retry_at = None if attempts >= self.max_attempts else \
                time.time() + retry_delay_s(attempts, self.retry_base_s)
            failed.append((d, error, retry_at))
        self.outbox.record(done, failed)
        self.sent += len(done)
        self.failures += len(failed)
        return len(due)

    def _client(self) -> httpx.Client:
        client = getattr(self._local, "client", None)
        if client is None:
            client = httpx.Client(timeout=self._timeout_s, follow_redirects=False)
            self._local.client = client
        return client

    def _send(self, d: DueDelivery) -> str | None:
        """POST one delivery; None when the receiver took it, else why not."""
        body = d.body.encode()
        headers = {"Content-Type": "application/json", "X-Signature": sign(d.secret, body),
                   "X-Notice-Id": d.notice_id, "X-Delivery-Attempt": str(d.attempts + 1),
                   "User-Agent": "outage-dispatch-webhooks/1"}
        try:
            r = self._client().post(d.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"[:500]
        if 200 <= r.status_code < 300:
            return None
        return f"HTTP {r.status_code}: {r.text[:200]}"
