"""The options of one run: plain data, parsed and checked by the command line (the edge)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

DEFAULT_API_URL = "https://api.open.fec.gov/v1"


def current_cycle(today: dt.date | None = None) -> int:
    """The two-year period under way: this year rounded up to an even one."""
    year = (today or dt.date.today()).year
    return year + year % 2


@dataclasses.dataclass
class Options:
    db: str
    api_key: str
    api_url: str
    legislators: str
    reload_legislators: bool  # the legislators' source was named: load it even if some are
    cycles: list[int]
    politicians: list[str] | None
    batch_size: int
    concurrency: int
    full: bool
    refresh_after: float
    overlap_days: int
    max_requests: int | None
    max_wait: float
    rate_limit: int | None
    quiet: bool
    verify: bool = True
    seed_from_dump: str | None = None  # the dump's URL or path

    @classmethod
    def from_params(cls, params: Mapping[str, Any], *, reload_legislators: bool) -> Options:
        """From the command's parameters, named as the fields are (`no_verify` aside)."""
        names = {field.name for field in dataclasses.fields(cls)}
        values = {name: value for name, value in params.items() if name in names}
        values["cycles"] = sorted(set(params["cycles"])) or [current_cycle()]
        values["verify"] = not params["no_verify"]
        return cls(**values, reload_legislators=reload_legislators)

    def public(self) -> dict[str, Any]:
        """The options as recorded in the runs table: everything but the key."""
        data = dataclasses.asdict(self)
        data.pop("api_key")
        return data
