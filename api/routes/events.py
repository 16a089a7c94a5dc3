"""The change stream: server-sent events, one ``change`` per applied event."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from api.deps import Live, Who
from api.errors import ERRORS

router = APIRouter(tags=["events"])


@router.get("/v1/events/stream", response_class=StreamingResponse, responses=ERRORS)
async def stream(request: Request, who: Who, lv: Live) -> StreamingResponse:
    """Server-sent events: one ``change`` per applied event with the decisions it led to."""
    q, unsubscribe = lv.subscribe(asyncio.get_running_loop())

    async def events() -> AsyncIterator[str]:
        try:
            yield f"event: hello\ndata: {json.dumps({'applied_seq': lv.applied_seq})}\n\n"
            while not await request.is_disconnected():
                try:
                    message = await asyncio.wait_for(q.get(), timeout=15)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                yield f"id: {message['seq']}\nevent: change\ndata: {json.dumps(message, default=str)}\n\n"
        finally:
            unsubscribe()

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
