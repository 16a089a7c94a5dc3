"""The change stream: server-sent events, one ``change`` per applied event. A stream ends
within the token cache period once its token is revoked."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from api.deps import Credentials, Live, Run, Who
from api.errors import ERRORS

router = APIRouter(tags=["events"])
KEEP_ALIVE_S = 15.0


@router.get("/v1/events/stream", response_class=StreamingResponse, responses=ERRORS)
async def stream(request: Request, who: Who, creds: Credentials, run: Run, lv: Live) -> StreamingResponse:
    """Server-sent events: one ``change`` per applied event with the decisions it led to."""
    q, unsubscribe = lv.subscribe(asyncio.get_running_loop())
    # the token is checked against the store twice per cache period, so revoking it ends the stream in time
    recheck_s = run.tokens.ttl_s / 2
    token = None if who.anonymous or creds is None else creds.credentials

    async def events() -> AsyncIterator[str]:
        checked = time.monotonic()
        try:
            yield f"event: hello\ndata: {json.dumps({'applied_seq': lv.applied_seq})}\n\n"
            while not await request.is_disconnected():
                if token is not None and time.monotonic() - checked >= recheck_s:
                    if await asyncio.to_thread(run.tokens.principal, token) is None:
                        yield "event: revoked\ndata: {}\n\n"
                        return
                    checked = time.monotonic()
                try:
                    message = await asyncio.wait_for(q.get(), timeout=min(KEEP_ALIVE_S, max(recheck_s, 0.05)))
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                yield f"id: {message['seq']}\nevent: change\ndata: {json.dumps(message, default=str)}\n\n"
        finally:
            unsubscribe()

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
