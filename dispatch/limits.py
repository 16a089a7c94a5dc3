"""Service commitments: arrival limits by area class and repair limits by fault class.

Defaults follow State Grid's commitments (urban 45 min, rural 90 min, remote 120 min to
arrive; LV faults 8 h and 10 kV overhead faults 16 h to repair; cable faults are worked
continuously and carry no limit). Both limits run from the first report.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MINUTE = 60
HOUR = 3600


@dataclass(frozen=True, slots=True)
class ServiceLimits:
    arrival_s: dict[str, int] = field(default_factory=lambda: {
        "urban": 45 * MINUTE, "rural": 90 * MINUTE, "remote": 120 * MINUTE})
    repair_s: dict[str, int | None] = field(default_factory=lambda: {
        "lv": 8 * HOUR, "mv": 16 * HOUR, "cable": None})
    # How long before a limit falls due the dispatcher is alerted that an order may break it.
    alert_before_s: dict[str, int] = field(default_factory=lambda: {
        "arrival": 10 * MINUTE, "repair": HOUR})

    def arrival_limit(self, area: str) -> int:
        return self.arrival_s[area]

    def repair_limit(self, limit_class: str) -> int | None:
        return self.repair_s[limit_class]
