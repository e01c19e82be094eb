"""DORA's four keys from a scripted history, with exact expected numbers (issue 14 item 1).

The history (UTC; the window is the 30 days ending Tuesday 2026-03-31 12:00):

shop
  D0 v0.9.0 healthy 2026-02-20 (before the window: never counted)
  D1 v1.0.0 healthy 03-02 10:00 — commits at 03-01 22:00 (12 h) and 03-02 08:00 (2 h)
  D2 v1.1.0 healthy 03-05 10:00 — commit at 03-04 10:00 (24 h); rollback requested 03-05
     16:00 (6 h later: a failed change), back healthy on v1.0.0 at 16:30 (30 min)
  D3 v1.2.0 failed  03-10 09:00 — production_failed 09:00, automatic rollback 09:01,
     healthy again 09:05 (5 min)
  D4 v1.3.0 healthy 03-20 10:00 — commits 7 days, 1 day and 1 hour before
api (only failures)
  A1 v2.0.0 failed  03-15 12:00 — automatic rollback failed 12:10 (never restored)
  A2 v2.0.1 failed  03-16 12:00 — joins the failure still lasting
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from relman.domain.dora import (
    DAY,
    HOUR,
    WEEK,
    Band,
    CommitRecord,
    DeployRecord,
    Outage,
    Records,
    ReleaseRecord,
    change_failure_band,
    check_window_days,
    frequency_band,
    lead_time_band,
    median,
    percentile,
    recovery_band,
    report,
)
from relman.domain.errors import InvalidInput
from relman.domain.status import ReleaseStatus as S

NOW = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)


def at(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def deploy(
    id: int, service: str, release: int, status: str, finished: datetime, kind: str = "deploy"
) -> DeployRecord:
    return DeployRecord(
        id=id,
        service=service,
        kind=kind,
        status=status,
        started_at=finished - timedelta(minutes=2),
        finished_at=finished,
        release_id=release,
    )


HISTORY = Records(
    deploys=[
        deploy(100, "shop", 9, "succeeded", at(2, 20, 10)),
        deploy(1, "shop", 1, "succeeded", at(3, 2, 10)),
        deploy(2, "shop", 2, "succeeded", at(3, 5, 10)),
        deploy(3, "shop", 2, "succeeded", at(3, 5, 16, 30), kind="rollback"),
        deploy(4, "shop", 3, "failed", at(3, 10, 9)),
        deploy(5, "shop", 3, "succeeded", at(3, 10, 9, 5), kind="rollback"),
        deploy(6, "shop", 4, "succeeded", at(3, 20, 10)),
        deploy(11, "api", 10, "failed", at(3, 15, 12)),
        deploy(12, "api", 10, "failed", at(3, 15, 12, 10), kind="rollback"),
        deploy(13, "api", 11, "failed", at(3, 16, 12)),
        # still running: its outcome is unknown, it is not counted anywhere
        DeployRecord(14, "api", "deploy", "running", at(3, 31, 11), None, release_id=12),
    ],
    releases=[
        ReleaseRecord(9, "shop", ((S.DEPLOYED, at(2, 20, 10)),)),
        ReleaseRecord(1, "shop", ((S.DEPLOYING, at(3, 2, 9, 58)), (S.DEPLOYED, at(3, 2, 10)))),
        ReleaseRecord(
            2,
            "shop",
            (
                (S.DEPLOYED, at(3, 5, 10)),
                (S.ROLLBACK, at(3, 5, 16)),
                (S.ROLLBACK_DONE, at(3, 5, 16, 30)),
            ),
        ),
        ReleaseRecord(
            3,
            "shop",
            (
                (S.PRODUCTION_FAILED, at(3, 10, 9)),
                (S.ROLLBACK, at(3, 10, 9, 1)),
                (S.ROLLBACK_DONE, at(3, 10, 9, 5)),
            ),
        ),
        ReleaseRecord(4, "shop", ((S.DEPLOYED, at(3, 20, 10)),)),
        ReleaseRecord(
            10,
            "api",
            (
                (S.PRODUCTION_FAILED, at(3, 15, 12)),
                (S.ROLLBACK, at(3, 15, 12, 1)),
                (S.ROLLBACK_FAILED, at(3, 15, 12, 10)),
            ),
        ),
        ReleaseRecord(11, "api", ((S.PRODUCTION_FAILED, at(3, 16, 12)),)),
    ],
    commits=[
        CommitRecord(100, "c0", at(2, 19)),
        CommitRecord(1, "c1", at(3, 1, 22)),
        CommitRecord(1, "c2", at(3, 2, 8)),
        CommitRecord(2, "c3", at(3, 4, 10)),
        CommitRecord(6, "c4", at(3, 13, 10)),
        CommitRecord(6, "c5", at(3, 19, 10)),
        CommitRecord(6, "c6", at(3, 20, 9)),
    ],
)


def test_the_whole_window_for_all_services() -> None:
    r = report(HISTORY, now=NOW, days=30)
    assert (r.days, r.since, r.until) == (30, at(3, 1, 12), NOW)
    k = r.all.keys
    assert k.days == 30.0
    # deployment frequency: D1, D2, D4 healthy of 6 finished deploys (D0 is older)
    assert (k.deploys, k.healthy_deploys) == (6, 3)
    assert k.deploys_per_day == 0.1
    assert k.deploys_per_week == pytest.approx(0.7)
    assert k.frequency_band is Band.MEDIUM
    # lead time of the 6 commits: 1 h, 2 h, 12 h, 24 h, 24 h, 7 d
    assert k.changes == 6
    assert k.lead_time_median == 64800.0  # (12 h + 24 h) / 2 = 18 h
    assert k.lead_time_p90 == 604800.0  # the 6th of 6 (⌈5.4⌉): 7 days
    assert k.lead_time_band is Band.ELITE
    # change failure: D2 (rolled back 6 h later), D3, A1, A2 of 6
    assert k.failed_deploys == 4
    assert k.change_failure_rate == 4 / 6
    assert k.change_failure_band is Band.LOW
    # recovery: shop 30 min and 5 min; api's one failure never restored
    assert (k.failures, k.restored, k.unrestored) == (3, 2, 1)
    assert k.recovery_median == 1050.0  # (1800 + 300) / 2 s = 17.5 min
    assert k.recovery_band is Band.ELITE
    assert [s.service for s in r.services] == ["api", "shop"]


def test_a_service_with_only_failures() -> None:
    r = report(HISTORY, now=NOW, days=30)
    api = next(s for s in r.services if s.service == "api")
    k = api.keys
    assert (k.deploys, k.healthy_deploys) == (2, 0)
    assert (k.deploys_per_day, k.deploys_per_week) == (0.0, 0.0)
    assert k.frequency_band is Band.LOW
    assert (k.changes, k.lead_time_median, k.lead_time_p90, k.lead_time_band) == (
        0,
        None,
        None,
        None,
    )
    assert (k.failed_deploys, k.change_failure_rate) == (2, 1.0)
    assert k.change_failure_band is Band.LOW
    # A2's failure joins A1's, which was never restored
    assert (k.failures, k.restored, k.unrestored) == (1, 0, 1)
    assert (k.recovery_median, k.recovery_band) == (None, None)


def test_one_service_over_the_window_and_by_iso_week() -> None:
    r = report(HISTORY, now=NOW, days=30, service="shop")
    assert [s.service for s in r.services] == ["shop"]
    assert r.all.service is None and r.all.keys == r.services[0].keys
    k = r.all.keys
    assert (k.deploys, k.healthy_deploys, k.failed_deploys) == (4, 3, 2)
    assert k.change_failure_rate == 0.5
    assert (k.lead_time_median, k.lead_time_p90) == (64800.0, 604800.0)
    assert (k.failures, k.restored, k.recovery_median) == (2, 2, 1050.0)
    weeks = r.all.weeks
    assert [(w.week, w.start) for w in weeks] == [
        ("2026-W09", date(2026, 2, 23)),
        ("2026-W10", date(2026, 3, 2)),
        ("2026-W11", date(2026, 3, 9)),
        ("2026-W12", date(2026, 3, 16)),
        ("2026-W13", date(2026, 3, 23)),
        ("2026-W14", date(2026, 3, 30)),
    ]
    # the first and last weeks are clipped to the window: Sunday 12:00 → Monday 00:00 and
    # Monday 00:00 → Tuesday 12:00
    assert [w.keys.days for w in weeks] == [0.5, 7.0, 7.0, 7.0, 7.0, 1.5]
    assert [w.keys.healthy_deploys for w in weeks] == [0, 2, 0, 1, 0, 0]
    assert [w.keys.deploys for w in weeks] == [0, 2, 1, 1, 0, 0]
    w10, w11, w12 = weeks[1].keys, weeks[2].keys, weeks[3].keys
    assert w10.deploys_per_day == 2 / 7 and w10.deploys_per_week == 2.0
    assert w10.frequency_band is Band.HIGH
    assert (w10.lead_time_median, w10.lead_time_p90) == (43200.0, 86400.0)
    assert (w10.change_failure_rate, w10.recovery_median) == (0.5, 1800.0)
    assert (w11.change_failure_rate, w11.recovery_median) == (1.0, 300.0)
    assert (w12.lead_time_median, w12.lead_time_p90) == (86400.0, 604800.0)
    assert w12.lead_time_band is Band.HIGH  # exactly one day: high, not elite
    assert w12.change_failure_rate == 0.0 and w12.change_failure_band is Band.ELITE


def test_the_rollback_window_is_configurable() -> None:
    # D2 was rolled back 6 h after it went out: with a 4 h window it is not a failed change
    r = report(HISTORY, now=NOW, days=30, service="shop", rollback_window=timedelta(hours=4))
    assert (r.all.keys.failed_deploys, r.all.keys.change_failure_rate) == (1, 0.25)
    assert r.all.keys.change_failure_band is Band.LOW


def test_incidents_are_the_failures_when_given() -> None:
    records = Records(
        deploys=HISTORY.deploys,
        releases=HISTORY.releases,
        commits=HISTORY.commits,
        outages=[
            Outage("shop", at(3, 5, 16), at(3, 5, 18)),  # 2 h
            Outage("shop", at(3, 10, 9), at(3, 10, 13)),  # 4 h
            Outage("shop", at(3, 12), at(3, 12, 1)),  # 1 min
            Outage("shop", at(2, 1), at(2, 2)),  # before the window
            Outage("api", at(3, 15, 12), None),
        ],
    )
    r = report(records, now=NOW, days=30)
    assert (r.all.keys.failures, r.all.keys.restored, r.all.keys.unrestored) == (4, 3, 1)
    assert r.all.keys.recovery_median == 7200.0
    assert r.all.keys.recovery_band is Band.HIGH
    shop = next(s for s in r.services if s.service == "shop")
    assert shop.keys.recovery_median == 7200.0 and shop.keys.failures == 3


def test_an_empty_window() -> None:
    r = report(Records(), now=NOW, days=7)
    k = r.all.keys
    assert r.services == ()
    assert (k.days, k.deploys, k.healthy_deploys, k.deploys_per_day) == (7.0, 0, 0, 0.0)
    assert k.frequency_band is Band.LOW
    assert (k.changes, k.lead_time_median, k.lead_time_p90, k.lead_time_band) == (
        0,
        None,
        None,
        None,
    )
    assert (k.failed_deploys, k.change_failure_rate, k.change_failure_band) == (0, None, None)
    assert (k.failures, k.restored, k.unrestored, k.recovery_median) == (0, 0, 0, None)
    assert k.recovery_band is None
    # 2026-03-24 12:00 (Tuesday) → 03-31 12:00: two ISO weeks, both empty
    assert [(w.week, w.keys.days, w.keys.deploys) for w in r.all.weeks] == [
        ("2026-W13", 5.5, 0),
        ("2026-W14", 1.5, 0),
    ]
    # the history, but a window that ends before any of it
    early = report(HISTORY, now=at(1, 31), days=10)
    assert early.all.keys.deploys == 0 and early.all.keys.failures == 0
    assert [s.service for s in early.services] == ["api", "shop"]


def test_configured_services_without_records_are_listed() -> None:
    r = report(Records(), now=NOW, days=30, services=["quiet"])
    assert [(s.service, s.keys.deploys, s.keys.frequency_band) for s in r.services] == [
        ("quiet", 0, Band.LOW)
    ]


def test_emergency_deploys_are_counted_apart() -> None:
    releases = [
        r if r.id != 4 else ReleaseRecord(4, "shop", r.transitions, emergency=True)
        for r in HISTORY.releases
    ]
    records = Records(deploys=HISTORY.deploys, releases=releases, commits=HISTORY.commits)
    r = report(records, now=NOW, days=30)
    assert r.all.keys.emergency_deploys == 1
    assert r.all.keys.healthy_deploys == 3  # still a deploy of a change
    assert report(HISTORY, now=NOW).all.keys.emergency_deploys == 0


@pytest.mark.parametrize("days", [0, -1, 3651, 10**9])
def test_a_window_out_of_range_names_the_field(days: int) -> None:
    with pytest.raises(InvalidInput) as caught:
        report(Records(), now=NOW, days=days)
    assert caught.value.field == "days"
    assert "between 1 and 3650" in str(caught.value)
    assert check_window_days(1) == 1 and check_window_days(3650) == 3650


def test_band_boundaries_belong_to_the_better_band() -> None:
    assert [frequency_band(x) for x in (2, 1, 1 / 7, 1 / 30, 0.03, 0)] == [
        Band.ELITE,
        Band.ELITE,
        Band.HIGH,
        Band.MEDIUM,
        Band.LOW,
        Band.LOW,
    ]
    assert [lead_time_band(x) for x in (HOUR, DAY - 1, DAY, WEEK, WEEK + 1, 30 * DAY + 1)] == [
        Band.ELITE,
        Band.ELITE,
        Band.HIGH,
        Band.HIGH,
        Band.MEDIUM,
        Band.LOW,
    ]
    assert [change_failure_band(x) for x in (0, 0.05, 0.06, 0.10, 0.15, 0.16)] == [
        Band.ELITE,
        Band.ELITE,
        Band.HIGH,
        Band.HIGH,
        Band.MEDIUM,
        Band.LOW,
    ]
    assert [recovery_band(x) for x in (HOUR - 1, HOUR, DAY - 1, DAY, WEEK, WEEK + 1)] == [
        Band.ELITE,
        Band.HIGH,
        Band.HIGH,
        Band.MEDIUM,
        Band.MEDIUM,
        Band.LOW,
    ]


def test_median_and_nearest_rank_percentile() -> None:
    assert median([]) is None and percentile([], 90) is None
    assert median([5.0]) == 5.0 and median([1.0, 3.0]) == 2.0 and median([3.0, 1.0, 2.0]) == 2.0
    values = [float(v) for v in range(1, 11)]  # 1..10
    assert percentile(values, 90) == 9.0 and percentile(values, 100) == 10.0
    assert percentile([7.0], 90) == 7.0
