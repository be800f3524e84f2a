"""The JSON API under /api/: the dashboard's data for other tools, documented on /docs. Lists
are pages (`limit` at most 500, `offset`), chart series are bounded; `run` scopes a request to
one run (default: the newest)."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from autotrader.config import split_symbol
from autotrader.research import arm_view, queries
from autotrader.web.api_models import (
    ArmOut,
    CycleOut,
    MarketOut,
    OverviewOut,
    PageOut,
    PerformanceOut,
    ResearchOut,
    RoundTripOut,
    RunOut,
    SeriesOut,
    SpanOut,
    StatusOut,
    TraceOut,
    TradeOut,
)
from autotrader.web.data import (
    Dashboard,
    dashboard,
    display,
    market_json,
    performance_of,
    posterior_json,
    run_out,
    series_json,
    status,
)

router = APIRouter(prefix="/api", tags=["api"])


def json_text(text: str) -> Response:
    """A response of JSON text already built (and memoised) for the charts."""
    return Response(text, media_type="application/json")


Site = Annotated[Dashboard, Depends(dashboard)]
RunId = Annotated[str | None, Query(description="a run id (default: the newest run)")]
Limit = Annotated[int, Query(ge=1, le=queries.MAX_LIMIT)]
Offset = Annotated[int, Query(ge=0)]


@router.get("/runs")
def list_runs(site: Site, limit: Limit = 50, offset: Offset = 0) -> PageOut[RunOut]:
    """Every run, newest first."""
    everything = queries.runs(site.db)
    items = [run_out(o) for o in everything[offset : offset + limit]]
    return PageOut(items=items, total=len(everything), limit=limit, offset=offset)


@router.get("/status")
def run_status(site: Site, run: RunId = None) -> StatusOut:
    """The run's state and last cycle: poll it (the pages do, every 3 s) to see new cycles."""
    return status(site.db, run)


@router.get("/overview")
def overview(site: Site, run: RunId = None) -> OverviewOut:
    """The run, its performance against buy & hold, and the same figures as display text."""
    found = queries.run_overview(site.db, run)
    perf = performance_of(site, found)
    base = split_symbol(found.run.symbol)[0]
    return OverviewOut(
        run=run_out(found),
        performance=PerformanceOut.model_validate(perf),
        display=display(found, perf, base),
    )


# The chart data are built to their documented shape and sent as they are: validating 20,000
# pairs again against the model would cost more than reading them.
@router.get("/series", response_model=SeriesOut)
def series(site: Site, run: RunId = None) -> Response:
    """Equity, buy & hold, exposure-matched buy & hold, drawdown, exposure and position."""
    found = queries.run_overview(site.db, run)
    return json_text(series_json(site, found))


@router.get("/market", response_model=MarketOut)
def market(site: Site, run: RunId = None) -> Response:
    """Candles over the run with every fill on the bar it filled in, and the position."""
    return json_text(market_json(site, queries.run_overview(site.db, run)))


@router.get("/cycles")
def cycles(
    request: Request,
    site: Site,
    run: RunId = None,
    limit: Limit = queries.DEFAULT_LIMIT,
    offset: Offset = 0,
    action: str | None = None,
    verdict: str | None = None,
    mode: str | None = None,
    status: str | None = None,
    arm: str | None = None,
    executed: str | None = None,
    fallback: str | None = None,
    explore: str | None = None,
    guardrail: str | None = None,
) -> PageOut[CycleOut]:
    """The run's cycles, newest first, with Plan, Proposal, Verdict, fills and experiment.
    Filters: action, verdict, mode, status, arm (one of their values); executed, fallback,
    explore, guardrail (yes or no)."""
    where = queries.CycleFilter.from_query(request.query_params)
    found = queries.run_overview(site.db, run)
    page = queries.cycles_page(site.db, found.run.run_id, where, limit, offset)
    return PageOut(
        items=[CycleOut.of(d) for d in page.items],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/traces/{trace_id}")
def trace(site: Site, trace_id: str) -> TraceOut:
    """One cycle's spans as a tree (depth-first, `depth` 0 at the top) with timings."""
    view = queries.trace_view(site.db, queries.resolve_trace(site.db, trace_id))
    return TraceOut(
        trace_id=view.trace.trace_id,
        workflow_name=view.trace.workflow_name,
        group_id=view.trace.group_id,
        metadata=json.loads(view.trace.metadata_json),
        duration_ms=view.duration_ms,
        spans=[
            SpanOut(
                span_id=n.span.span_id,
                parent_id=n.span.parent_id,
                depth=n.depth,
                kind=n.span.kind,
                name=n.span.name,
                offset_ms=n.offset_ms,
                duration_ms=n.duration_ms,
                data=n.data,
                error=n.span.error_json,
            )
            for n in view.nodes
        ],
    )


@router.get("/trades")
def trades(
    site: Site, run: RunId = None, limit: Limit = 50, offset: Offset = 0
) -> PageOut[TradeOut]:
    """The run's fills, newest first."""
    found = queries.run_overview(site.db, run)
    page = queries.trades_page(site.db, found.run.run_id, limit, offset)
    return PageOut(
        items=[TradeOut.of(t) for t in page.items],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/round-trips")
def round_trips(
    site: Site, run: RunId = None, limit: Limit = 50, offset: Offset = 0
) -> PageOut[RoundTripOut]:
    """The run's round trips (flat to flat), newest first, with PnL after fees."""
    found = queries.run_overview(site.db, run)
    every = queries.trips(queries.trades(site.db, found.run.run_id))[::-1]
    items = [RoundTripOut.model_validate(t) for t in every[offset : offset + limit]]
    return PageOut(items=items, total=len(every), limit=limit, offset=offset)


@router.get("/research")
def research(site: Site, run: RunId = None) -> ResearchOut:
    """Per arm: experiments, mean outcome, posterior mean and 95% interval; the weekly
    evaluations; each arm's posterior over time (at most 1,000 points per arm)."""
    found = queries.run_overview(site.db, run)
    scope, half_life = found.run.scope, site.settings.half_life_secs
    end = found.last.ts if found.last else found.run.started_at
    return ResearchOut(
        arms=[
            ArmOut.model_validate(row) for row in arm_view.arm_rows(site.db, scope, end, half_life)
        ],
        weekly_evaluations=arm_view.weekly_evaluations(site.db, scope),
        posterior_paths=json.loads(posterior_json(site, found)),
    )
