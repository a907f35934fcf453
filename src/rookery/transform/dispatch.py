"""One Withings response body → every ROOK document it yields, by endpoint. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rookery.transform.activity import physical_summaries, physical_summaries_from_intraday
from rookery.transform.context import Produced, UserContext
from rookery.transform.heart import ecg_heart_rate_events
from rookery.transform.measure import body_events, body_summaries, page_zone
from rookery.transform.sleep import sleep_summaries, sleep_summaries_from_segments
from rookery.transform.workouts import activity_events
from rookery.withings.responses import (
    ActivityPage,
    Endpoint,
    EndpointResponse,
    HeartPage,
    IntradayActivity,
    MeasureGroupsPage,
    SleepSeries,
    SleepSummaryPage,
    WorkoutsPage,
    parse_endpoint,
)


def transform_parsed(response: EndpointResponse, ctx: UserContext) -> list[Produced]:
    """The documents one parsed response yields on its own.

    A getmeas response yields its body events followed by the body summaries of their dates;
    every other response yields the structure its module documents.
    """
    if isinstance(response, MeasureGroupsPage):
        events = body_events(response, ctx)
        return [*events, *body_summaries(events, ctx, page_zone(response, ctx))]
    if isinstance(response, ActivityPage):
        return physical_summaries(response, ctx)
    if isinstance(response, WorkoutsPage):
        return activity_events(response, ctx)
    if isinstance(response, SleepSummaryPage):
        return sleep_summaries(response, ctx)
    if isinstance(response, IntradayActivity):
        return physical_summaries_from_intraday(response, ctx)
    if isinstance(response, SleepSeries):
        return sleep_summaries_from_segments(response, ctx)
    if isinstance(response, HeartPage):
        return ecg_heart_rate_events(response, ctx)
    raise TypeError(f"no transform for {type(response).__name__}")


def transform_response(
    endpoint: Endpoint, body: Mapping[str, Any], ctx: UserContext
) -> list[Produced]:
    """The documents the `body` of a successful `endpoint` response yields (see
    `transform_parsed`). Raises `WithingsMalformedResponse` when the body does not have the
    endpoint's shape, and ValueError for a time zone Withings named that does not exist or an
    instant or value no ROOK document can hold (beyond year 9999, an infinite number)."""
    return transform_parsed(parse_endpoint(endpoint, body), ctx)
