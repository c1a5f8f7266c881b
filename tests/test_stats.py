"""``inbox stats`` on a hand-built history whose every number is worked out below."""

from __future__ import annotations

import csv
import io
import json

import pytest

from inbox.model import Identity, Status
from inbox.spans import parse_cutoff
from inbox.stats import Spread, StatsError, build_report
from inbox.store import Store
from tests.quality_school import quality_school, utc

SINCE, UNTIL = utc("2026-03-30 00:00"), utc("2026-04-06 00:00")


def thread(store, contact, channel, created, **fields) -> int:
    contact_id = store.ensure_contact(Identity(channel, contact)).id
    thread_id = store.create_thread(channel=channel, account="support", contact_id=contact_id,
                                    subject="q", created_at=utc(created))
    store.update_thread(thread_id, **{k: utc(v) if k.endswith(("_at", "_due")) and v else v
                                      for k, v in fields.items()})
    return thread_id


@pytest.fixture
def history(school):
    """Five threads in the week of 30 March 2026 (Berlin, CEST) and one older open one.

    T1 A email   Mon 09:00 CEST, answered after 30 min, closed after 120; CSAT 5.
    T2 B telegram Mon 18:00 CEST (closing time), answered Tue 09:30 (30 business min),
       closed Tue 10:00 (60), reopened once; CSAT 2.
    T3 A email   Wed 09:00, answered 12:00 (180, due 11:00: missed), closed 14:00 (300);
       a repeat contact (A wrote on Monday); asked, no answer.
    T4 C telegram Thu 09:00, solved by the FAQ answer at 09:05, never answered by an agent.
    T5 D email   Good Friday, wall-clock policy, still open and past due.
    T6 E email   20 March, pending: only in the backlog.
    """
    config = quality_school(school)
    store = Store(config.store.path)
    chat = {"sla_policy": "chat", "team": "support"}
    t1 = thread(store, "a@x", "email", "2026-03-30 07:00", agent="boris", language="ru",
                segment="parent", first_response_due="2026-03-30 09:00",
                resolution_due="2026-03-30 15:00", first_response_at="2026-03-30 07:30",
                status=Status.CLOSED, closed_at="2026-03-30 09:00", **chat)
    t2 = thread(store, "b", "telegram", "2026-03-30 16:00", agent="aigerim", language="kk",
                segment="student", first_response_due="2026-03-31 09:00",
                resolution_due="2026-03-31 15:00", first_response_at="2026-03-31 07:30",
                status=Status.CLOSED, closed_at="2026-03-31 08:00", **chat)
    store.log_event(t2, "system", "reopened", {}, at=utc("2026-03-31 07:50"))
    t3 = thread(store, "a@x", "email", "2026-04-01 07:00", agent="boris", language="ru",
                segment="parent", first_response_due="2026-04-01 09:00",
                resolution_due="2026-04-01 15:00", first_response_at="2026-04-01 10:00",
                status=Status.CLOSED, closed_at="2026-04-01 12:00", **chat)
    t4 = thread(store, "c", "telegram", "2026-04-02 07:00", language="en",
                first_response_due="2026-04-02 09:00", resolution_due="2026-04-02 15:00",
                status=Status.CLOSED, closed_at="2026-04-02 07:05", **chat)
    store.record_faq_offer(t4, "password-reset", 0.8, utc("2026-04-02 07:00"))
    store.answer_faq_offer(t4, "solved", utc("2026-04-02 07:05"))
    thread(store, "d@x", "email", "2026-04-03 10:00", agent="boris", language="ru",
           sla_policy="wall", team="support", first_response_due="2026-04-03 11:00",
           resolution_due="2026-04-04 10:00")
    thread(store, "e@x", "email", "2026-03-20 10:00", agent="boris", status=Status.PENDING)
    for thread_id, score in ((t1, 5), (t2, 2), (t3, None)):
        store.record_survey(thread_id, utc("2026-04-03 12:00"))
        if score:
            store.answer_survey(thread_id, score, "", utc("2026-04-03 13:00"))
    yield school, config, store
    store.close()


def test_the_totals_are_the_worked_out_numbers(history):
    _, config, store = history
    report = build_report(store, config, SINCE, UNTIL, None, now=UNTIL)
    t = report.total
    assert (t.opened, t.closed) == (5, 4)
    assert t.first_response == Spread(3, 30.0, 180.0)  # 30, 30, 180 business minutes
    assert t.resolution == Spread(4, 90.0, 300.0)  # 5, 60, 120, 300
    assert (t.sla_met, t.sla_decided, t.sla_met_pct) == (3, 5, 60.0)  # T3, T5 missed
    assert (t.reopened, t.closed_ever, t.reopen_rate) == (1, 4, 25.0)
    assert (t.repeat_contacts, t.repeat_rate) == (1, 20.0)
    assert (t.faq_offered, t.faq_deflected, t.faq_deflection_rate) == (1, 1, 20.0)
    assert (t.csat_average, t.csat_response_rate) == (3.5, 66.7)
    assert report.backlog == {"<1h": 0, "1-4h": 0, "4-24h": 0, "1-3d": 1, "3-7d": 0, ">7d": 1}
    assert report.daily == {"2026-03-30": {"email": 1, "telegram": 1},
                            "2026-04-01": {"email": 1}, "2026-04-02": {"telegram": 1},
                            "2026-04-03": {"email": 1}}
    assert report.first_response_histogram == {"<15m": 0, "15-60m": 2, "1-4h": 1, "4-24h": 0,
                                               ">24h": 0}


def test_grouped_by_agent(history):
    _, config, store = history
    report = build_report(store, config, SINCE, UNTIL, "agent", now=UNTIL)
    rows = {m.key: m for m in report.groups}
    assert list(rows) == ["(none)", "aigerim", "boris"]
    boris = rows["boris"]
    assert (boris.opened, boris.closed, boris.repeat_contacts) == (3, 2, 1)
    assert boris.first_response == Spread(2, 105.0, 180.0)
    assert boris.sla_met_pct == 33.3
    assert (rows["aigerim"].csat_average, rows["(none)"].faq_deflection_rate) == (2.0, 100.0)


def test_cli_json_csv_and_table_share_the_numbers(history):
    school, _, _ = history
    data = json.loads(school.cli("stats", "--since", "2026-03-30", "--by", "channel",
                                 "--json").output)
    assert [(g["key"], g["opened"]) for g in data["groups"]] == [("email", 3), ("telegram", 2)]
    assert data["total"]["sla_met_pct"] == 60.0
    assert data["total"]["first_response"] == {"count": 3, "median": 30.0, "p90": 180.0}
    assert data["backlog"][">7d"] == 2  # the real clock: both open threads are old by now
    assert data["since"] == "2026-03-29T22:00:00+00:00"  # the school's midnight (Berlin)
    rows = list(csv.reader(io.StringIO(school.cli("stats", "--since", "2026-03-30", "--by",
                                                  "language", "--csv").output)))
    assert rows[0][:3] == ["key", "opened", "closed"]
    assert [r[:2] for r in rows[1:]] == [["en", "1"], ["kk", "1"], ["ru", "3"], ["total", "5"]]
    table = school.cli("stats", "--since", "2026-03-30").output
    assert table.splitlines()[0].split()[:3] == ["KEY", "OPENED", "CLOSED"]
    assert table.splitlines()[-1] == "backlog: <1h 0, 1-4h 0, 4-24h 0, 1-3d 0, 3-7d 0, >7d 2"


def test_the_html_report_is_one_offline_page_with_charts(history, tmp_path):
    school, _, _ = history
    page = tmp_path / "report.html"
    school.cli("stats", "--since", "2026-03-30", "--by", "team", "--html", str(page))
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert html.count("<svg") == 4  # volume, first response, SLA by team, backlog
    assert "<script" not in html and "http://" not in html and "https://" not in html
    assert "Test School — support report" in html


def test_bad_arguments_are_explained(history):
    school, config, store = history
    result = school.cli("stats", "--since", "last week", ok=False)
    assert result.exit_code == 2
    assert "Invalid value for '--since': 'last week' is not a duration (units: h, d, w), or a" \
        " date like 2024-09-01" in result.output
    with pytest.raises(StatsError, match="--by 'room': group by one of agent, team"):
        build_report(store, config, SINCE, UNTIL, "room", now=UNTIL)
    assert parse_cutoff("2w", UNTIL, "hdw") == utc("2026-03-23 00:00")


@pytest.mark.parametrize(("command", "tail"), [
    (["stats"], ", or a date like 2024-09-01"), (["rules", "test"], "")], ids=["stats", "rules"])
def test_since_in_minutes_is_a_usage_error_offering_only_the_units_accepted(school, command,
                                                                            tail):
    result = school.cli(*command, "--since", "5m", ok=False)
    assert result.exit_code == 2
    assert result.output.splitlines()[-1] == (
        "Error: Invalid value for '--since': '5m' is not a duration (units: h, d, w);"
        ' "m" is ambiguous (minutes or months?): write hours ("12h"), days ("180d") or'
        f' weeks ("8w"){tail}')
