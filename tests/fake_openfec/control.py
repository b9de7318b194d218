"""/_control/* endpoints, so a fake running in another process can be driven and inspected.

    POST /_control/late_filings?n=5[&now=ISO]   new rows, old receipt dates -> {"sub_ids": [...]}
    POST /_control/corrections?n=5[&now=ISO]    amounts/employers changed -> {"sub_ids": [...]}
    POST /_control/amend_away?n=5               rows deleted upstream -> {"sub_ids": [...]}
    POST /_control/fail_next?n=1&mode=reset[&kind=schedule_a][&status=502]
    POST /_control/reject_next?n=1&status=422[&kind=schedule_a][&message=...]
    POST /_control/hold?after=3[&kind=schedule_a|lookup|any]   let 3 more through, hold the rest
    POST /_control/release                      answer the held requests (and all later ones)
    GET  /_control/gate?held=1[&arrived=N][&timeout=30]
                                                wait for the gate -> {"reached": bool, ...}
    POST /_control/reset_log
    GET  /_control/stats                        request counts by kind and status
    GET  /_control/expected?cycles=2024,2026    the expected rows, a JSON list
    GET  /_control/units?cycles=2026            [[committee_id, cycle], ...]

None of these need an API key and none are logged as API requests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .gateway import FAULT_MODES

if TYPE_CHECKING:
    from .server import FakeOpenFec

_POST = {"late_filings", "corrections", "amend_away", "fail_next", "reset_log", "reject_next",
         "hold", "release"}
_GET = {"stats", "expected", "units", "gate"}


def _one(params: dict[str, list[str]], name: str, default: str | None = None) -> str | None:
    values = params.get(name)
    return values[0] if values else default


def _cycles(params: dict[str, list[str]]) -> list[int] | None:
    raw = _one(params, "cycles") or _one(params, "cycle")
    return [int(c) for c in raw.split(",") if c.strip()] if raw else None


def _error(status: int, message: str) -> tuple[int, dict[str, Any]]:
    return status, {"message": message, "status": status}


def control(fake: FakeOpenFec, method: str, path: str,
            params: dict[str, list[str]]) -> tuple[int, Any]:
    name = path[len("/_control/"):].strip("/")
    if name not in _POST | _GET:
        return _error(404, f"no control endpoint {name!r}")
    if (method == "POST") != (name in _POST):
        return _error(405, f"use {'POST' if name in _POST else 'GET'} for /_control/{name}")
    try:
        return 200, _run(fake, name, params)
    except ValueError as exc:
        return _error(400, str(exc))


def _run(fake: FakeOpenFec, name: str, params: dict[str, list[str]]) -> Any:
    world = fake.world
    n = int(_one(params, "n", "5") or 5)
    now = _one(params, "now")
    if name == "late_filings":
        return {"sub_ids": world.add_late_filings(n, now)}
    if name == "corrections":
        return {"sub_ids": world.correct_rows(n, now)}
    if name == "amend_away":
        return {"sub_ids": world.amend_away(n)}
    if name == "fail_next":
        mode = _one(params, "mode", "5xx") or "5xx"
        if mode not in FAULT_MODES:
            raise ValueError(f"mode must be one of {', '.join(FAULT_MODES)}")
        status = _one(params, "status")
        fake.fail_next(n, _one(params, "kind"), mode, int(status) if status else None)  # type: ignore[arg-type]
        return {"queued": n, "mode": mode}
    if name in ("reject_next", "hold", "release", "gate"):
        return _timing(fake, name, params)
    if name == "reset_log":
        fake.reset_log()
        return {"ok": True}
    if name == "stats":
        return {**fake.stats(), "rows": world.row_count}
    if name == "expected":
        return list(world.expected_rows(cycles=_cycles(params)).values())
    return sorted([cid, cycle] for cid, cycle in world.campaign_units(_cycles(params)))


def _timing(fake: FakeOpenFec, name: str, params: dict[str, list[str]]) -> Any:
    if name == "reject_next":
        fake.reject_next(int(_one(params, "n", "1") or 1), _one(params, "kind"),
                         int(_one(params, "status", "422") or 422),
                         _one(params, "message", "Invalid request") or "Invalid request")
        return {"ok": True}
    if name == "hold":
        kind = _one(params, "kind", "schedule_a")
        fresh = fake.hold(int(_one(params, "after", "0") or 0), None if kind == "any" else kind)
        return fresh.state()
    gate = fake.gate
    if gate is None:
        raise ValueError("no gate is set: POST /_control/hold first")
    if name == "release":
        gate.release()
        return gate.state()
    timeout = float(_one(params, "timeout", "30") or 30)
    held, arrived = _one(params, "held"), _one(params, "arrived")
    reached = True
    if held is not None:
        reached = gate.wait_held(int(held), timeout)
    if reached and arrived is not None:
        reached = gate.wait_arrived(int(arrived), timeout)
    return {**gate.state(), "reached": reached}
