"""Request and response bodies of the API (pydantic); field limits here are the contract the
OpenAPI document publishes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Id = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:@+\-]+$")


class CallIn(BaseModel):
    """A trouble call: its id (the call-taker system's, used to recognise a re-send), when it
    came in, and one way to find the caller: customer number, meter, address or position."""

    model_config = ConfigDict(extra="forbid")
    call_id: str = Id
    time: datetime | None = None
    customer_id: str | None = Field(default=None, min_length=1, max_length=64)
    meter_id: str | None = Field(default=None, min_length=1, max_length=64)
    address: str | None = Field(default=None, min_length=1, max_length=500)
    lon: float | None = Field(default=None, ge=-180, le=180)
    lat: float | None = Field(default=None, ge=-90, le=90)

    @model_validator(mode="after")
    def _one_way_to_locate(self) -> CallIn:
        if (self.lon is None) != (self.lat is None):
            raise ValueError("lon and lat come together")
        if not (self.customer_id or self.meter_id or self.address or self.lon is not None):
            raise ValueError("give customer_id, meter_id, address, or lon and lat")
        if self.time is not None and self.time.tzinfo is None:
            raise ValueError("time needs a UTC offset (ISO 8601, e.g. 2026-08-12T06:00:00+08:00)")
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
    version: str


class StatusChange(BaseModel):
    """A step in an order's life reported by its crew (``on_site``, ``repaired``) or a
    dispatcher (``callback_done``, ``cancelled``)."""

    model_config = ConfigDict(extra="forbid")
    status: Literal["on_site", "repaired", "callback_done", "cancelled"]
    crew_id: str | None = Field(default=None, min_length=1, max_length=64)
    reason: str = Field(default="", max_length=200)


class AssignmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    crew_id: str = Id


class CrewOut(BaseModel):
    crew_id: str
    depot_id: str
    skills: list[str]
    status: str
    order_id: str
    lon: float
    lat: float
    shift_end_s: int
    route: list[str]
    version: str


class CrewUpdate(BaseModel):
    """A crew's GPS fix, and/or going on or off duty."""

    model_config = ConfigDict(extra="forbid")
    lon: float | None = Field(default=None, ge=-180, le=180)
    lat: float | None = Field(default=None, ge=-90, le=90)
    on_duty: bool | None = None

    @model_validator(mode="after")
    def _something(self) -> CrewUpdate:
        if (self.lon is None) != (self.lat is None):
            raise ValueError("lon and lat come together")
        if self.lon is None and self.on_duty is None:
            raise ValueError("give lon and lat, or on_duty")
        return self


class DeviceReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    device_id: str = Field(min_length=1, max_length=64)


class PlannedOutageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outage_id: str = Id
    device_id: str = Field(min_length=1, max_length=64)
    start: datetime
    end: datetime

    @model_validator(mode="after")
    def _window(self) -> PlannedOutageIn:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("start and end need a UTC offset")
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class ErrorBody(BaseModel):
    """Every error body: what went wrong, and for bad fields which and why."""

    error: str
    fields: list[dict[str, str]] = []
