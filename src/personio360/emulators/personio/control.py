"""The Personio emulator's control surface under ``/_emulator/``: no auth, no limits, no faults.

Tests, the demo and benchmarks change the company through it while a sync runs against the
API (hire, change, terminate, remove employees), read the call counters and set faults.
"""

from __future__ import annotations

__all__ = ["control_routes", "delivery_routes", "plain"]

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from personio360.emulators.deliveries import DeliveryEngine
from personio360.emulators.faults import Fault, FaultPlan
from personio360.emulators.personio.state import PersonioState, UnknownEmployeeError
from personio360.emulators.stats import CallStats


def plain(record: dict[str, Any]) -> dict[str, Any]:
    """An employee's simple values as JSON-ready data (dates as ISO strings)."""
    return {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in record.items()}


def _bad(message: str, status: int = 400) -> Response:
    return JSONResponse({"error": message}, status)


async def _json_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    data = await request.json()
    if not isinstance(data, dict):
        raise ValueError("the body must be a JSON object")
    return data


def delivery_routes(engine: DeliveryEngine) -> list[Route]:
    """``/_emulator/deliveries``: look at, wait for, pause and resume outgoing webhooks."""

    async def show(request: Request) -> Response:
        return JSONResponse(engine.snapshot())

    async def wait(request: Request) -> Response:
        try:
            timeout = float(request.query_params.get("timeout", "10"))
        except ValueError:
            return _bad("timeout must be a number of seconds")
        idle = await asyncio.to_thread(engine.wait_idle, timeout)
        return JSONResponse({"idle": idle, **engine.snapshot()})

    async def pause(request: Request) -> Response:
        engine.pause()
        return JSONResponse(engine.snapshot())

    async def resume(request: Request) -> Response:
        engine.resume()
        return JSONResponse(engine.snapshot())

    return [Route("/_emulator/deliveries", show, methods=["GET"]),
            Route("/_emulator/deliveries/wait", wait, methods=["POST"]),
            Route("/_emulator/deliveries/pause", pause, methods=["POST"]),
            Route("/_emulator/deliveries/resume", resume, methods=["POST"])]


def control_routes(state: PersonioState, plan: FaultPlan, stats: CallStats,
                   expire_tokens: Callable[[], None], engine: DeliveryEngine) -> list[Route]:
    """The ``/_emulator/...`` routes bound to one emulator's state, fault plan, counters and
    webhook deliveries."""

    async def get_stats(request: Request) -> Response:
        return JSONResponse(stats.snapshot())

    async def reset_stats(request: Request) -> Response:
        stats.reset()
        return JSONResponse(stats.snapshot())

    async def get_faults(request: Request) -> Response:
        return JSONResponse({"seed": plan.seed, "faults": [f.to_dict() for f in plan.faults],
                             "injected": dict(plan.injected)})

    async def put_faults(request: Request) -> Response:
        try:
            body = await _json_object(request)
            faults = [Fault.from_dict(f) for f in body.get("faults", [])]
        except (ValueError, TypeError) as exc:
            return _bad(str(exc))
        plan.replace(faults, seed=body.get("seed"))
        return await get_faults(request)

    async def expire(request: Request) -> Response:
        expire_tokens()
        return JSONResponse({"expired": True})

    async def list_employees(request: Request) -> Response:
        return JSONResponse([plain(e) for e in state.employees()])

    async def hire(request: Request) -> Response:
        try:
            employee_id = state.hire(**await _json_object(request))
        except (ValueError, TypeError) as exc:
            return _bad(str(exc))
        return JSONResponse({"id": employee_id}, 201)

    async def one(request: Request) -> Response:
        return await _on_employee(request, lambda i, body: None)

    async def change(request: Request) -> Response:
        return await _on_employee(request, lambda i, body: state.update(i, **body))

    async def terminate(request: Request) -> Response:
        def act(employee_id: int, body: dict[str, Any]) -> None:
            on = body.get("on")
            state.terminate(employee_id, dt.date.fromisoformat(on) if on else None)
        return await _on_employee(request, act)

    async def remove(request: Request) -> Response:
        try:
            state.remove(int(request.path_params["employee_id"]))
        except (UnknownEmployeeError, ValueError):
            return _bad("no such employee", 404)
        return Response(status_code=204)

    async def define_attribute(request: Request) -> Response:
        try:
            body = await _json_object(request)
            attr = state.define_attribute(
                body["key"], body.get("label", body["key"]), body.get("type", "standard"),
                bool(body.get("whitelisted", True)), universal_id=body.get("universal_id"),
                options=body.get("options", ()))
        except (ValueError, TypeError, KeyError) as exc:
            return _bad(f"invalid attribute: {exc}")
        return JSONResponse({"key": attr.key, "label": attr.label, "type": attr.type,
                             "whitelisted": attr.whitelisted}, 201)

    async def _on_employee(request: Request,
                           act: Callable[[int, dict[str, Any]], None]) -> Response:
        try:
            employee_id = int(request.path_params["employee_id"])
            act(employee_id, await _json_object(request))
            return JSONResponse(plain(state.employee(employee_id)))
        except UnknownEmployeeError:
            return _bad("no such employee", 404)
        except (ValueError, TypeError) as exc:
            return _bad(str(exc))

    employee = "/_emulator/employees/{employee_id}"
    return [*delivery_routes(engine),
        Route("/_emulator/stats", get_stats, methods=["GET"]),
        Route("/_emulator/stats/reset", reset_stats, methods=["POST"]),
        Route("/_emulator/faults", get_faults, methods=["GET"]),
        Route("/_emulator/faults", put_faults, methods=["PUT"]),
        Route("/_emulator/tokens/expire", expire, methods=["POST"]),
        Route("/_emulator/attributes", define_attribute, methods=["POST"]),
        Route("/_emulator/employees", list_employees, methods=["GET"]),
        Route("/_emulator/employees", hire, methods=["POST"]),
        Route(employee, one, methods=["GET"]),
        Route(employee, change, methods=["PATCH"]),
        Route(employee, remove, methods=["DELETE"]),
        Route(employee + "/terminate", terminate, methods=["POST"]),
    ]
