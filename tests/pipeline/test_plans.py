"""The fetch plans: which calls each notification category makes, and no more."""

from __future__ import annotations

import pytest

from rookery.pipeline.plans import (
    APPLI_DOMAINS,
    DAY_END_ACTIVITY,
    PLANS,
    Domain,
    WindowKind,
    domains_for,
    plan_for,
)
from rookery.withings.codes import APPLIS, SUBSCRIBED_APPLIS, Appli, Scope
from rookery.withings.responses import Endpoint

# Every notification category, with the calls one fetch of it makes (ranged, then per record)
# and the fewest calls a fetch of one new record costs.
EXPECTED: dict[Appli, tuple[tuple[Endpoint, ...], Endpoint | None, int] | None] = {
    Appli.WEIGHT: ((Endpoint.GETMEAS,), None, 1),
    Appli.TEMPERATURE: ((Endpoint.GETMEAS,), None, 1),
    Appli.PRESSURE_HEART_SPO2: ((Endpoint.GETMEAS,), None, 1),
    Appli.GLUCOSE: ((Endpoint.GETMEAS,), None, 1),
    Appli.ACTIVITY: (
        (Endpoint.GETACTIVITY, Endpoint.GETWORKOUTS),
        Endpoint.GETINTRADAYACTIVITY,
        3,
    ),
    Appli.SLEEP: ((Endpoint.SLEEP_GETSUMMARY,), Endpoint.SLEEP_GET, 2),
    Appli.ECG: ((Endpoint.HEART_LIST,), None, 1),
    Appli.USER: None,
    Appli.BED_IN: None,
    Appli.BED_OUT: None,
    Appli.INFLATE_DONE: None,
    Appli.NO_ACCOUNT_DEVICE: None,
    Appli.ECG_FAILED: None,
    Appli.UNKNOWN: None,
}


def test_the_table_names_every_category() -> None:
    assert set(EXPECTED) == set(Appli)


@pytest.mark.parametrize("appli", list(Appli), ids=lambda appli: appli.name.lower())
def test_each_category_makes_its_calls(appli: Appli) -> None:
    plan = plan_for(appli)
    expected = EXPECTED[appli]
    if expected is None:
        assert plan is None
        return
    assert plan is not None
    ranged, per_record, fewest = expected
    assert (plan.ranged, plan.per_record, plan.fewest_calls) == (ranged, per_record, fewest)
    # No endpoint twice: a fetch never pays for the same answer twice.
    assert len(set(plan.ranged)) == len(plan.ranged)


def test_every_subscribed_category_of_data_fetches_it() -> None:
    # Appli 46 carries user events (unlinks), never data.
    data = {appli for appli in SUBSCRIBED_APPLIS if appli is not Appli.USER}
    assert {appli for appli in data if plan_for(appli) is not None} == data


def test_measures_share_one_unfiltered_getmeas() -> None:
    measures = {appli for appli, domain in APPLI_DOMAINS.items() if domain is Domain.MEASURES}
    assert measures == {Appli.WEIGHT, Appli.TEMPERATURE, Appli.PRESSURE_HEART_SPO2, Appli.GLUCOSE}
    assert {plan_for(appli) for appli in measures} == {PLANS[Domain.MEASURES]}


def test_windows_are_written_as_the_notifications_carry_them() -> None:
    assert PLANS[Domain.ACTIVITY].window is WindowKind.DATE
    for domain in (Domain.MEASURES, Domain.SLEEP, Domain.HEART):
        assert PLANS[domain].window is WindowKind.EPOCH
    assert all(plan.domain is domain for domain, plan in PLANS.items())


def test_the_day_end_update_asks_only_the_row_and_its_samples() -> None:
    assert DAY_END_ACTIVITY.domain is Domain.ACTIVITY
    assert DAY_END_ACTIVITY.ranged == (Endpoint.GETACTIVITY,)
    assert DAY_END_ACTIVITY.per_record is Endpoint.GETINTRADAYACTIVITY
    assert DAY_END_ACTIVITY.fewest_calls == 2


@pytest.mark.parametrize(
    ("scopes", "domains"),
    [
        ([], ()),
        ([Scope.INFO], ()),
        ([Scope.METRICS], (Domain.MEASURES, Domain.HEART)),
        ([Scope.ACTIVITY], (Domain.ACTIVITY, Domain.SLEEP)),
        (
            [Scope.SLEEP_EVENTS, Scope.ACTIVITY, Scope.METRICS, Scope.INFO],
            (Domain.MEASURES, Domain.ACTIVITY, Domain.SLEEP, Domain.HEART),
        ),
        (["not.a.scope"], ()),
    ],
)
def test_scopes_decide_the_domains(scopes: list[str], domains: tuple[Domain, ...]) -> None:
    assert domains_for(scopes) == domains


def test_domains_follow_the_scope_of_their_categories() -> None:
    for appli, domain in APPLI_DOMAINS.items():
        scope = APPLIS[appli].scope
        assert scope is not None
        assert domain in domains_for([scope])
