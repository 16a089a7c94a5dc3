"""Request and response bodies of the API (pydantic); field limits here are the contract the
OpenAPI document publishes. Types are strict where JSON could blur them: a time is an ISO 8601
string with a UTC offset (not a number) between 2000 and a year from now, a flag is true or false
(not "yes"); text holds no control characters (NUL and the like)."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    model_validator,
)

from dispatch.notices import NoticeKind

Id = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:@+\-]+$")
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_AHEAD = timedelta(days=365)


def _printable(text: str) -> str:
    """Refuse control characters (NUL, escapes, ...) and lone surrogates, which no store takes."""
    bad = next((ch for ch in text if unicodedata.category(ch) in ("Cc", "Cs")), None)
    if bad is not None:
        raise ValueError(f"control character U+{ord(bad):04X} is not allowed")
    return text


def _iso_text(value: Any) -> Any:
    """A time must come as text: a number would be read as seconds since 1970."""
    if not isinstance(value, str):
        raise ValueError("a time is an ISO 8601 string with a UTC offset, e.g. 2026-08-12T06:00:00+08:00")
    return value


def _sane_time(value: datetime) -> datetime:
    """A time with a UTC offset, from 2000 to a year from now."""
    if value.tzinfo is None:
        raise ValueError("a time needs a UTC offset (ISO 8601, e.g. 2026-08-12T06:00:00+08:00)")
    # compared, not converted: a time near year 1 or 9999 cannot always move to UTC
    if not EARLIEST <= value <= datetime.now(UTC) + LATEST_AHEAD:
        raise ValueError("a time must lie between 2000-01-01 and a year from now")
    return value


Text = Annotated[str, AfterValidator(_printable)]
Time = Annotated[datetime, BeforeValidator(_iso_text), AfterValidator(_sane_time)]
ElementId = Annotated[Text, Field(min_length=1, max_length=64)]  # a grid element: switch, device, section


class CallIn(BaseModel):
    """A trouble call: its id (the call-taker system's, used to recognise a re-send), when it
    came in, and one way to find the caller: customer number, meter, address or position."""

    model_config = ConfigDict(extra="forbid")
    call_id: str = Id
    time: Time | None = None
    customer_id: Text | None = Field(default=None, min_length=1, max_length=64)
    meter_id: Text | None = Field(default=None, min_length=1, max_length=64)
    address: Text | None = Field(default=None, min_length=1, max_length=500)
    lon: float | None = Field(default=None, ge=-180, le=180, strict=True)
    lat: float | None = Field(default=None, ge=-90, le=90, strict=True)
    # what the call-taker's questions settled: the customer reset a tripped breaker of their
    # own and the supply is back (a customer-side fault, no work order)
    triage: Literal["", "customer_reset"] = ""

    @model_validator(mode="after")
    def _one_way_to_locate(self) -> CallIn:
        if (self.lon is None) != (self.lat is None):
            raise ValueError("lon and lat come together")
        if not (self.customer_id or self.meter_id or self.address or self.lon is not None):
            raise ValueError("give customer_id, meter_id, address, or lon and lat")
        return self


class CallOut(BaseModel):
    call_id: str
    time: str | None
    received_at: str
    t_s: int
    customer_id: str
    meter_id: str
    address: str
    lon: float | None
    lat: float | None
    status: Literal["located", "unlocated"]
    reason: str = ""
    node_id: str = ""


class JobOut(BaseModel):
    """A crew task of an order: a first response, a repair, or a manual switching step
    (``step_id``: the step it carries out)."""

    job_id: str
    kind: Literal["first_response", "repair", "switching"]
    status: str
    element_id: str
    skill: str
    service_s: int
    crew_id: str
    helpers: list[str]
    step_id: int | None = None


class StepOut(BaseModel):
    """A step of a work order's switching plans: ``action`` (open or close) on a switch,
    device or tie, remote (by SCADA) or manual (a crew's switching job ``job_id``), in a phase
    (isolate, restore, or back to normal after the repair), after the steps ``after``;
    ``restores`` the customers it brings back; ``held`` by a dispatcher (``hold_reason``)."""

    step_id: int
    order_id: str
    plan: int
    phase: Literal["isolate", "restore", "normal"]
    action: Literal["open", "close"]
    element_id: str
    remote: bool
    status: Literal["waiting", "due", "done", "dropped"]
    held: bool
    hold_reason: str
    after: list[int]
    restores: int
    job_id: str
    crew_id: str
    lon: float
    lat: float
    version: str


class WorkOrderOut(BaseModel):
    order_id: str
    incident_id: str
    status: str
    element_id: str
    lon: float
    lat: float
    area: str
    skill: str
    customers: int
    critical: int
    first_report_s: int
    deadline_s: int
    crew_id: str
    assists: list[str]
    merged_into: str
    arrived_s: int | None
    repaired_s: int | None
    etr_s: int | None
    confidence: float = Field(description="how sure the prediction is that element_id is the cause "
                                          "(0-1; 1 once a device report, a crew's finding or the "
                                          "repair placed it)")
    origin: str
    customer_side: bool
    jobs: list[JobOut]
    switching: list[StepOut]
    version: str


class StatusChange(BaseModel):
    """A step in an order's life reported by its crew (``on_site`` at its job, ``repaired``
    for a repair job, ``switched`` for a switching job: the switch is operated) or a
    dispatcher (``callback_done``, ``cancelled``)."""

    model_config = ConfigDict(extra="forbid")
    status: Literal["on_site", "repaired", "switched", "callback_done", "cancelled"]
    crew_id: Text | None = Field(default=None, min_length=1, max_length=64)
    reason: Text = Field(default="", max_length=200)


class FindingIn(BaseModel):
    """What a first responder found open: an element (device, node or customer id), the
    skill its repair needs and the minutes it takes; ``fixed`` on the spot, or the customer's
    own installation (``customer_side``: advised, no utility repair, no skill)."""

    model_config = ConfigDict(extra="forbid")
    element_id: str = Id
    skill: Literal["lv", "mv", "cable", ""] = ""
    repair_min: float = Field(default=0.0, ge=0, le=7 * 24 * 60, strict=True)
    fixed: StrictBool = False
    customer_side: StrictBool = False

    @model_validator(mode="after")
    def _skill_for_repairs(self) -> FindingIn:
        if not self.skill and not self.customer_side:
            raise ValueError("a utility finding needs its skill: lv, mv or cable")
        return self


class FirstResponseIn(BaseModel):
    """A first responder's report: everything found open at and around the site (none: the
    supply is back)."""

    model_config = ConfigDict(extra="forbid")
    crew_id: Text | None = Field(default=None, min_length=1, max_length=64)
    findings: list[FindingIn] = Field(default_factory=list, max_length=200)


class AssignmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    crew_id: str = Id
    job_id: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:@+\-]+$")


class CallbackOut(BaseModel):
    """A callback owed to a customer who called: due once their supply is back."""

    callback_id: str
    order_id: str
    customer_id: str
    called_s: int
    due_s: int | None
    attempts: int
    outcome: str | None


class CallbackOutcomeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: Literal["restored", "still_dark", "no_answer"]


class CrewOut(BaseModel):
    crew_id: str
    depot_id: str
    skills: list[str]
    status: str
    role: str
    order_id: str
    job_id: str
    lon: float
    lat: float
    shift_end_s: int
    route: list[str]
    switching: list[StepOut]
    version: str


class CrewUpdate(BaseModel):
    """A crew's GPS fix, and/or going on or off duty."""

    model_config = ConfigDict(extra="forbid")
    lon: float | None = Field(default=None, ge=-180, le=180, strict=True)
    lat: float | None = Field(default=None, ge=-90, le=90, strict=True)
    on_duty: StrictBool | None = None

    @model_validator(mode="after")
    def _something(self) -> CrewUpdate:
        if (self.lon is None) != (self.lat is None):
            raise ValueError("lon and lat come together")
        if self.lon is None and self.on_duty is None:
            raise ValueError("give lon and lat, or on_duty")
        return self


class DeviceReportIn(BaseModel):
    """A protective device reported open; with SCADA, the remote switches below it whose fault
    passage indicators saw the fault current (``indicators``)."""

    model_config = ConfigDict(extra="forbid")
    device_id: Text = Field(min_length=1, max_length=64)
    indicators: list[ElementId] = Field(default=[], max_length=64)


class FaultsFoundIn(BaseModel):
    """A crew on the repair of an operated MV device has patrolled the line: where the faults
    are (element ids below the device)."""

    model_config = ConfigDict(extra="forbid")
    crew_id: Text | None = Field(default=None, min_length=1, max_length=64)
    element_ids: list[ElementId] = Field(min_length=1, max_length=64)


class StepHoldIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Text = Field(default="", max_length=500)


class StepMoveIn(BaseModel):
    """Carry the step out before step ``before`` of the same work order."""

    model_config = ConfigDict(extra="forbid")
    before: int = Field(ge=0, strict=True)


class StepRefusedIn(BaseModel):
    """A step carried out did not hold (the device tripped, or the field refused it)."""

    model_config = ConfigDict(extra="forbid")
    reason: Text = Field(min_length=1, max_length=500)


class PlannedOutageIn(BaseModel):
    """A planned outage: its id (unique among planned outages), the device opened, and its
    window, which must not start in the past. Customers are owed 7 days' notice: a shorter one
    must be ``urgent``, with the ``reason``."""

    model_config = ConfigDict(extra="forbid")
    outage_id: str = Id
    device_id: Text = Field(min_length=1, max_length=64)
    start: Time
    end: Time
    urgent: StrictBool = False
    reason: Text = Field("", max_length=500)

    @model_validator(mode="after")
    def _window(self) -> PlannedOutageIn:
        _check_window(self.start, self.end, self.urgent, self.reason)
        return self


class PlannedOutageChangeIn(BaseModel):
    """A planned outage's new window (one under way keeps its start); a start brought earlier
    needs 7 days' notice unless ``urgent`` with the ``reason``."""

    model_config = ConfigDict(extra="forbid")
    start: Time
    end: Time
    urgent: StrictBool = False
    reason: Text = Field("", max_length=500)

    @model_validator(mode="after")
    def _window(self) -> PlannedOutageChangeIn:
        _check_window(self.start, self.end, self.urgent, self.reason)
        return self


def _check_window(start: datetime, end: datetime, urgent: bool, reason: str) -> None:
    if end <= start:
        raise ValueError("end must be after start")
    if end <= datetime.now(UTC):
        raise ValueError("the outage is over: end lies in the past")
    if urgent and not reason.strip():
        raise ValueError("an urgent planned outage needs a reason")


class PlannedOutageCancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Text = Field("", max_length=500)


class PlannedOutageOut(BaseModel):
    """A planned outage as dispatchers see it: its window, how long ahead it was announced,
    whether it came at short notice (urgent, with the reason), and the customers below it."""

    outage_id: str
    device_id: str
    start: datetime
    end: datetime
    announced: datetime
    notice_days: float
    urgent: bool
    reason: str
    status: Literal["announced", "under_way", "over", "cancelled"]
    changes: int
    customers: int


def _webhook_url(url: str) -> str:
    """An absolute http(s) URL with a host and no credentials in it."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"the URL must be http or https, not {parts.scheme or 'without a scheme'!r}")
    if not parts.hostname:
        raise ValueError("the URL has no host")
    if parts.username or parts.password:
        raise ValueError("the URL must not carry credentials: deliveries are signed with the secret")
    return url


class SubscriptionIn(BaseModel):
    """A webhook subscriber (a WeChat, SMS or app gateway): where to POST, which notice kinds,
    and the secret the deliveries are signed with (HMAC-SHA256, ``X-Signature``)."""

    model_config = ConfigDict(extra="forbid")
    url: Annotated[Text, AfterValidator(_webhook_url)] = Field(max_length=2000)
    kinds: list[NoticeKind] = Field(min_length=1, max_length=len(NoticeKind))
    secret: Text = Field(min_length=16, max_length=200)

    @model_validator(mode="after")
    def _distinct(self) -> SubscriptionIn:
        if len(set(self.kinds)) != len(self.kinds):
            raise ValueError("kinds must not repeat")
        return self


class SubscriptionOut(BaseModel):
    """A subscriber (never its secret) and its deliveries by status."""

    subscription_id: str
    url: str
    kinds: list[str]
    created_at: str
    active: bool
    deliveries: dict[str, int]


class DeliveryOut(BaseModel):
    """One notice's delivery to a subscriber: pending (not yet taken, or retrying), delivered,
    failed (given up; a retry puts it back in line) or dropped (the subscriber stopped), with
    the last error (a status code or the kind of failure)."""

    notice_id: str
    kind: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str
    delivered_at: str | None


class ErrorBody(BaseModel):
    """Every error body: what went wrong, and for bad fields which and why."""

    error: str
    fields: list[dict[str, str]] = []
