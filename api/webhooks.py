"""Webhook delivery of the outbox's notices: at least once, signed, retried with backoff, each
subscriber on its own so that a slow or dead one holds up no other.

Each notice goes to each subscriber as one POST of its JSON body, with ``X-Signature:
sha256=<hex>`` (HMAC-SHA256 of the body under the subscriber's secret), ``X-Notice-Id`` (the
body's ``id``: a receiver drops a duplicate, or a replayed delivery, by it) and
``X-Delivery-Attempt``. A 2xx answer delivers it; anything else (another status, a timeout, a
refused connection) is retried after 1, 2, 4, ... seconds, at most ``RETRY_CAP_S`` apart, and
given up (``failed``) after ``MAX_ATTEMPTS``; a dispatcher can put given-up deliveries back in
line. A delivery is marked only after its answer, so a server killed mid-send sends it again
after the restart, with the same id. The last error kept is the status code or the kind of
failure, never the receiver's words (a dispatcher reads it).

A subscriber whose every delivery of a round failed is paused before the next round, for as
long as a delivery's own backoff would wait. Unless the server allows it (``serve
--allow-private-webhooks``, for a gateway on the same host or network), a URL whose host
resolves to a loopback, private, link-local or otherwise special address is refused when
subscribing and not delivered to (checked again before each round: DNS may change).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import httpx2

from api.outbox import DueDelivery, Outbox

log = logging.getLogger(__name__)

RETRY_BASE_S = 1.0
RETRY_CAP_S = 600.0
MAX_ATTEMPTS = 25  # about 2.6 hours of retrying
TIMEOUT_S = 5.0
BATCH = 128  # a subscriber's deliveries taken from the outbox per round
IDLE_WAIT_S = 1.0  # the longest a worker sleeps without being woken
WORKERS_PER_SUBSCRIBER = 8


def sign(secret: str, body: bytes) -> str:
    """The ``X-Signature`` header of a body: ``sha256=`` and the hex HMAC-SHA256 under ``secret``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def retry_delay_s(failures: int, base_s: float = RETRY_BASE_S) -> float:
    """The wait after the ``failures``-th failed attempt in a row."""
    return min(RETRY_CAP_S, base_s * 2.0 ** (failures - 1))


def private_destination(url: str) -> str:
    """Why ``url``'s host may not be delivered to (it resolves to a loopback, private,
    link-local, reserved or multicast address, or not at all); empty when it may."""
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None)
    except (OSError, UnicodeError):
        return f"the host {host!r} does not resolve"
    for info in infos:
        addr = ipaddress.ip_address(info[4][0])
        if addr.is_loopback or addr.is_private or addr.is_link_local or addr.is_reserved \
                or addr.is_multicast or addr.is_unspecified:
            return f"the host {host!r} resolves to {addr}, not a public address"
    return ""


class Deliverer:
    """Runs a delivery worker per active subscription (see the module docstring); ``wake``
    when new deliveries are committed."""

    def __init__(self, outbox: Outbox, *, timeout_s: float = TIMEOUT_S, max_attempts: int = MAX_ATTEMPTS,
                 retry_base_s: float = RETRY_BASE_S, allow_private: bool = False) -> None:
        self.outbox = outbox
        self.max_attempts = max_attempts
        self.retry_base_s = retry_base_s
        self.allow_private = allow_private
        self.timeout_s = timeout_s
        self._workers: dict[str, _Worker] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error = ""  # why the subscriptions cannot be read, until they can

    def start(self) -> None:
        self._thread = threading.Thread(target=self._supervise, daemon=True, name="live-deliver")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.wake()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for worker in list(self._workers.values()):
            worker.stop()

    def wake(self) -> None:
        self._wake.set()
        for worker in list(self._workers.values()):
            worker.wake.set()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _supervise(self) -> None:
        """Keep one worker per active subscription (started on a new one, stopped with its)."""
        while not self._stop.is_set():
            try:
                active = {s.subscription_id for s in self.outbox.subscriptions() if s.active}
                self.error = ""
            except Exception as exc:  # the store is away: say so, and try again
                self.error = f"{type(exc).__name__}: {exc}"
                log.error("webhook subscriptions cannot be read: %s", self.error)
                active = set(self._workers)
            for sub_id in active - set(self._workers):
                self._workers[sub_id] = _Worker(self, sub_id)
            for sub_id in set(self._workers) - active:
                self._workers.pop(sub_id).stop()
            self._wake.wait(IDLE_WAIT_S)
            self._wake.clear()


class _Worker:
    """Delivers one subscription's notices, in rounds (see the module docstring)."""

    def __init__(self, deliverer: Deliverer, subscription_id: str) -> None:
        self.d = deliverer
        self.subscription_id = subscription_id
        self.wake = threading.Event()
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=WORKERS_PER_SUBSCRIBER,
                                        thread_name_prefix=f"webhook-{subscription_id}")
        self._local = threading.local()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"deliver-{subscription_id}")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.wake.set()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        failed_rounds = 0
        while not self._stop.is_set():
            try:
                tried, delivered = self.round()
            except Exception as exc:  # the store is away: try again shortly
                log.error("webhook deliveries of %s: %s: %s", self.subscription_id, type(exc).__name__, exc)
                tried, delivered = 0, 0
                self._stop.wait(IDLE_WAIT_S)
            failed_rounds = failed_rounds + 1 if tried and not delivered else 0
            if failed_rounds:
                self.wake.clear()
                self._stop.wait(retry_delay_s(failed_rounds, self.d.retry_base_s))
            elif not tried:
                self.wake.wait(self._idle_wait())
                self.wake.clear()

    def _idle_wait(self) -> float:
        due = self.d.outbox.next_due_at(self.subscription_id)
        return IDLE_WAIT_S if due is None else min(IDLE_WAIT_S, max(0.05, due - time.time()))

    def round(self) -> tuple[int, int]:
        """Send the deliveries due now (at most ``BATCH``) and record the answers; how many
        were tried and how many delivered."""
        due = self.d.outbox.due(self.subscription_id, time.time(), BATCH)
        if not due:
            return 0, 0
        refused = "" if self.d.allow_private else private_destination(due[0].url)
        errors = [refused] * len(due) if refused else list(self._pool.map(self._send, due))
        done = [x for x, e in zip(due, errors, strict=True) if not e]
        failed = []
        for x, error in zip(due, errors, strict=True):
            if error:
                attempts = x.attempts + 1
                retry_at = None if attempts >= self.d.max_attempts else \
                    time.time() + retry_delay_s(attempts, self.d.retry_base_s)
                failed.append((x, error, retry_at))
        self.d.outbox.record(done, failed)
        return len(due), len(done)

    def _client(self) -> httpx2.Client:
        client = getattr(self._local, "client", None)
        if client is None:
            client = httpx2.Client(timeout=self.d.timeout_s, follow_redirects=False)
            self._local.client = client
        return client

    def _send(self, x: DueDelivery) -> str:
        """POST one delivery; empty when the receiver took it, else the status or the kind of
        failure."""
        body = x.body.encode()
        headers = {"Content-Type": "application/json", "X-Signature": sign(x.secret, body),
                   "X-Notice-Id": x.notice_id, "X-Delivery-Attempt": str(x.attempts + 1),
                   "User-Agent": "outage-dispatch-webhooks/1"}
        try:
            r = self._client().post(x.url, content=body, headers=headers)
        except httpx2.TimeoutException:
            return "no answer in time"
        except httpx2.HTTPError as exc:
            return f"no delivery: {type(exc).__name__}"
        return "" if 200 <= r.status_code < 300 else f"HTTP {r.status_code}"
