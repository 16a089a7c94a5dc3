"""Callbacks: every customer who called is called back once their supply is back (or after
customer-side advice). Call-takers list the callbacks due and record each outcome; a customer
still dark reopens work."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Limit, Live, Offset, PathId, Who, allow
from api.errors import ERRORS, ApiError
from api.live import LiveDispatch
from api.schemas import CallbackOut, CallbackOutcomeIn
from api.views import apply
from dispatch.callbacks import Callback

router = APIRouter(tags=["callbacks"])


def _out(cb: Callback) -> CallbackOut:
    return CallbackOut(callback_id=cb.callback_id, order_id=cb.order_id, customer_id=cb.customer_id,
                       called_s=cb.called_s, due_s=cb.due_s, attempts=cb.attempts,
                       outcome=cb.outcome.value if cb.outcome else None)


def _find(lv: LiveDispatch, callback_id: str) -> Callback:
    cb = lv.engine.callbacks.callbacks.get(callback_id)
    if cb is None:
        raise ApiError(404, f"no callback {callback_id!r}")
    return cb


@router.get("/v1/callbacks", response_model=list[CallbackOut], responses=ERRORS)
def list_callbacks(who: Who, lv: Live, due: bool = True, limit: Limit = 500,
                   offset: Offset = 0) -> list[CallbackOut]:
    """Callbacks due and not yet done (``due=false``: every callback owed, done or not)."""
    with lv.lock:
        owed = lv.engine.callbacks.callbacks.values()
        rows = [cb for cb in owed if not due or (cb.due_s is not None and cb.outcome is None)]
        return [_out(cb) for cb in rows[offset:offset + limit]]


@router.post("/v1/callbacks/{callback_id}/outcome", response_model=CallbackOut, responses=ERRORS)
def record_outcome(callback_id: PathId, body: CallbackOutcomeIn, who: Who, lv: Live) -> CallbackOut:
    """The call-taker's outcome: ``restored``, ``still_dark`` (work reopens) or ``no_answer``
    (the callback stays due). A callback not due, or done already, is refused (409)."""
    allow(who, "call_taker", "dispatcher")
    with lv.lock:
        _find(lv, callback_id)
    apply(lv, "callback", {"callback_id": callback_id, "outcome": body.outcome})
    with lv.lock:
        return _out(_find(lv, callback_id))
