"""Webhook subscriptions: a gateway (WeChat, SMS, an app) registers where customer notices go;
dispatchers see each delivery's state and put given-up ones back in line."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter

from api.deps import Dispatcher, Limit, Live, Offset, PathId
from api.errors import ERRORS, ApiError
from api.live import LiveDispatch
from api.outbox import Subscription
from api.schemas import DeliveryOut, SubscriptionIn, SubscriptionOut
from api.webhooks import private_destination

router = APIRouter(tags=["notices"])


def _out(lv: LiveDispatch, sub: Subscription) -> SubscriptionOut:
    return SubscriptionOut(subscription_id=sub.subscription_id, url=sub.url, kinds=list(sub.kinds),
                           created_at=sub.created_at, active=sub.active,
                           deliveries=lv.notifier.outbox.counts(sub.subscription_id))


def _find(lv: LiveDispatch, subscription_id: str) -> Subscription:
    for sub in lv.notifier.outbox.subscriptions():
        if sub.subscription_id == subscription_id:
            return sub
    raise ApiError(404, f"no subscription {subscription_id!r}")


@router.post("/v1/subscriptions", status_code=201, response_model=SubscriptionOut, responses=ERRORS)
def subscribe(body: SubscriptionIn, who: Dispatcher, lv: Live) -> SubscriptionOut:
    """Register a receiver: every notice of the kinds asked for, committed from now on, is
    POSTed to ``url``, signed with ``secret`` (never shown again)."""
    refused = "" if lv.settings.webhook_allow_private else private_destination(body.url)
    if refused:
        raise ApiError(422, f"the URL cannot be delivered to: {refused}",
                       [{"field": "url", "reason": refused}])
    sub = lv.notifier.outbox.subscribe(body.url, [k.value for k in body.kinds], body.secret)
    lv.notifier.deliverer.wake()
    return _out(lv, sub)


@router.get("/v1/subscriptions", response_model=list[SubscriptionOut], responses=ERRORS)
def list_subscriptions(who: Dispatcher, lv: Live) -> list[SubscriptionOut]:
    return [_out(lv, s) for s in lv.notifier.outbox.subscriptions()]


@router.delete("/v1/subscriptions/{subscription_id}", response_model=SubscriptionOut, responses=ERRORS)
def unsubscribe(subscription_id: PathId, who: Dispatcher, lv: Live) -> SubscriptionOut:
    """Stop delivering to a subscriber; what it was sent stays on record."""
    _find(lv, subscription_id)
    if not lv.notifier.outbox.unsubscribe(subscription_id):
        raise ApiError(409, f"subscription {subscription_id} is already stopped")
    return _out(lv, _find(lv, subscription_id))


@router.get("/v1/subscriptions/{subscription_id}/deliveries", response_model=list[DeliveryOut],
            responses=ERRORS)
def deliveries(subscription_id: PathId, who: Dispatcher, lv: Live,
               status: Literal["pending", "delivered", "failed", "dropped"] | None = None,
               limit: Limit = 500, offset: Offset = 0) -> list[DeliveryOut]:
    """The subscriber's deliveries, oldest notice first (``status`` to pick one state)."""
    _find(lv, subscription_id)
    rows = lv.notifier.outbox.deliveries_of(subscription_id, status=status, limit=limit, offset=offset)
    return [DeliveryOut(notice_id=r["notice_id"], kind=r["kind"], status=r["status"], attempts=r["attempts"],
                        next_attempt_at=datetime.fromtimestamp(r["next_at"], UTC) if r["status"] == "pending"
                        else None, last_error=r["last_error"], delivered_at=r["delivered_at"]) for r in rows]


@router.post("/v1/subscriptions/{subscription_id}/retry", responses=ERRORS)
def retry(subscription_id: PathId, who: Dispatcher, lv: Live) -> dict[str, Any]:
    """Put the subscriber's given-up deliveries back in line, due now."""
    if not _find(lv, subscription_id).active:
        raise ApiError(409, f"subscription {subscription_id} is stopped: subscribe again")
    n = lv.notifier.outbox.retry_failed(subscription_id)
    lv.notifier.deliverer.wake()
    return {"subscription_id": subscription_id, "requeued": n}
