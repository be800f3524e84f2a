"""The dashboard's pages, rendered on the server (Jinja2) from the query layer: Overview, Market,
Cycles, Trace, Research, Trades, Runs, and the trades as CSV. Every page takes `?run=`. Charts
draw in the browser with the vendored chart library, from data embedded in the page (the JSON
API's shapes, so nothing waits for a second request), refreshed from the API while the agent
runs."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from autotrader.config import split_symbol
from autotrader.research import arm_view, queries, views
from autotrader.research.arms import ARM_PRESETS
from autotrader.research.queries import RunOverview
from autotrader.web.data import (
    Dashboard,
    dashboard,
    display,
    market_json,
    now,
    performance_of,
    posterior_json,
    series_json,
)

TEMPLATES = Path(__file__).parent / "templates"
router = APIRouter(include_in_schema=False)
Site = Annotated[Dashboard, Depends(dashboard)]
RunId = Annotated[str | None, Query()]
PAGE_SIZE = 50


def templates() -> Jinja2Templates:
    """The page templates with the people-formatting filters."""
    found = Jinja2Templates(directory=str(TEMPLATES))
    found.env.filters.update(views.template_filters())
    return found


def _render(
    request: Request,
    site: Dashboard,
    name: str,
    active: str,
    run: RunOverview | None,
    **context: Any,
) -> HTMLResponse:
    everything = queries.runs(site.db)
    run_id = None if run is None else run.run.run_id
    page: HTMLResponse = request.app.state.templates.TemplateResponse(
        request,
        name,
        {
            "active": active,
            "pinned": "run" in request.query_params or name == "trace.html",
            "runs": everything,
            "current": run,
            "run_id": run_id,
            "scope": "" if run_id is None else "?" + urlencode({"run": run_id}),
            "db_path": str(site.db.path),
            "settings": site.settings,
            **context,
        },
    )
    return page


def _run_or_none(site: Dashboard, run: str | None) -> RunOverview | None:
    """The run asked for (NotFound when it is not there), or the newest, or None before any."""
    try:
        return queries.run_overview(site.db, run)
    except queries.NotFound:
        if run is not None:
            raise
        return None


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, site: Site, run: RunId = None) -> HTMLResponse:
    found = _run_or_none(site, run)
    if found is None:
        return _render(request, site, "empty.html", "overview", None)
    perf = performance_of(site, found)
    latest = queries.cycles_page(site.db, found.run.run_id, None, 8, 0).items
    return _render(
        request,
        site,
        "overview.html",
        "overview",
        found,
        shown=display(found, perf, split_symbol(found.run.symbol)[0]),
        models=json.loads(found.run.models_json),
        latest=latest,
        series_json=series_json(site, found),  # drawn at once, without a second request
    )


@router.get("/market", response_class=HTMLResponse)
def market(request: Request, site: Site, run: RunId = None) -> HTMLResponse:
    found = _run_or_none(site, run)
    if found is None:
        return _render(request, site, "empty.html", "market", None)
    recent = queries.trades_page(site.db, found.run.run_id, 20, 0)
    chart = market_json(site, found)
    return _render(request, site, "market.html", "market", found, recent=recent, chart_json=chart)


@router.get("/cycles", response_class=HTMLResponse)
def cycles(
    request: Request, site: Site, run: RunId = None, page: Annotated[int, Query(ge=1)] = 1
) -> HTMLResponse:
    found = _run_or_none(site, run)
    if found is None:
        return _render(request, site, "empty.html", "cycles", None)
    where = queries.CycleFilter.from_query(request.query_params)
    rows = queries.cycles_page(site.db, found.run.run_id, where, PAGE_SIZE, (page - 1) * PAGE_SIZE)
    params = {"run": found.run.run_id, **where.as_params()}
    return _render(
        request,
        site,
        "cycles.html",
        "cycles",
        found,
        rows=rows,
        page=page,
        pages=max(1, -(-rows.total // PAGE_SIZE)),
        where=where.as_params(),
        choices=queries.CHOICES,
        flags=queries.FLAGS,
        arms=list(ARM_PRESETS),
        link=lambda number: "/cycles?" + urlencode({**params, "page": number}),
    )


@router.get("/trace/{trace_id}", response_class=HTMLResponse)
def trace(request: Request, site: Site, trace_id: str) -> HTMLResponse:
    full = queries.resolve_trace(site.db, trace_id)
    view = queries.trace_view(site.db, full)
    detail = queries.cycle_of(site.db, full)
    run = queries.run_overview(site.db, detail.cycle.run_id) if detail else None
    return _render(
        request,
        site,
        "trace.html",
        "cycles",
        run,
        view=view,
        detail=detail,
        metadata=json.loads(view.trace.metadata_json),
    )


@router.get("/research", response_class=HTMLResponse)
def research(request: Request, site: Site, run: RunId = None) -> HTMLResponse:
    found = _run_or_none(site, run)
    if found is None:
        return _render(request, site, "empty.html", "research", None)
    scope, half_life = found.run.scope, site.settings.half_life_secs
    end = found.last.ts if found.last else found.run.started_at
    return _render(
        request,
        site,
        "research.html",
        "research",
        found,
        arms=arm_view.arm_rows(site.db, scope, end, half_life),
        weekly=arm_view.weekly_evaluations(site.db, scope),
        half_life_hours=site.settings.posterior_half_life_hours,
        paths_json=posterior_json(site, found),
    )


@router.get("/trades", response_class=HTMLResponse)
def trades(
    request: Request,
    site: Site,
    run: RunId = None,
    page: Annotated[int, Query(ge=1)] = 1,
    trips_page: Annotated[int, Query(ge=1)] = 1,
) -> HTMLResponse:
    found = _run_or_none(site, run)
    if found is None:
        return _render(request, site, "empty.html", "trades", None)
    run_id = found.run.run_id
    fills = queries.trades_page(site.db, run_id, PAGE_SIZE, (page - 1) * PAGE_SIZE)
    every = queries.trips(queries.trades(site.db, run_id))[::-1]
    start = (trips_page - 1) * PAGE_SIZE
    return _render(
        request,
        site,
        "trades.html",
        "trades",
        found,
        fills=fills,
        page=page,
        pages=max(1, -(-fills.total // PAGE_SIZE)),
        trips=every[start : start + PAGE_SIZE],
        trips_total=len(every),
        trips_page=trips_page,
        trips_pages=max(1, -(-len(every) // PAGE_SIZE)),
        base=split_symbol(found.run.symbol)[0],
    )


@router.get("/trades.csv")
def trades_csv(site: Site, run: RunId = None) -> Response:
    """Every fill of the run, oldest first, with each closing sell's round-trip PnL."""
    found = queries.run_overview(site.db, run)
    fills = queries.trades(site.db, found.run.run_id)
    closing = {trip.closed: trip for trip in queries.trips(fills) if trip.closed is not None}
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["ts_utc", "side", "qty", "price", "fee", "fee_asset", "round_trip_pnl", "trace_id"]
    )
    for t in fills:
        trip = closing.get(t.ts_utc) if t.side == "SELL" else None
        writer.writerow(
            [
                t.ts_utc.isoformat(),
                t.side,
                format(t.qty, "f"),
                format(t.price, "f"),
                format(t.fee, "f"),
                t.fee_asset,
                "" if trip is None else format(trip.pnl, "f"),
                t.trace_id or "",
            ]
        )
    name = f"{found.run.run_id}_trades.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/runs", response_class=HTMLResponse)
def runs(request: Request, site: Site, run: RunId = None) -> HTMLResponse:
    found = _run_or_none(site, run)
    moment = now()
    states = {o.run.run_id: queries.run_state(o, moment) for o in queries.runs(site.db)}
    return _render(request, site, "runs.html", "runs", found, states=states)
