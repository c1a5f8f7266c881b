"""SLA timers on a real store: business-time due dates, warnings, breaches, pauses, restarts."""

from __future__ import annotations

from datetime import timedelta

import pytest

from inbox.config import load_config
from inbox.model import Flag, Status
from inbox.notify import Notifier
from inbox.sections import Section
from inbox.sla import EscalationSettings, Fired, SlaClock, escalation_settings
from inbox.store import Store
from tests.quality_school import (
    QUALITY_TOML,
    ROUTING_TOML,
    customer_mail,
    file_at,
    quality_school,
    queued,
    utc,
)


@pytest.fixture
def world(school):
    config = quality_school(school)
    store = Store(config.store.path)
    yield school, config, store
    store.close()


def clock_for(store, config, **settings) -> SlaClock:
    return SlaClock(store, config, Notifier(store, config), EscalationSettings(**settings))


def fired_timers(store, thread_id) -> set[tuple[str, str]]:
    return {(row["target"], row["stage"]) for row in store.db.query(
        "SELECT target, stage FROM sla_timers WHERE thread_id = ?", [thread_id])}


def told(store) -> list[tuple[str, str]]:
    """(agent address, first line of the SLA sentence) of every notification queued."""
    found = []
    for entry in queued(store, "notification"):
        line = next(line for line in entry.text.splitlines() if line.startswith("[#"))
        found.append((entry.recipient, line.split("] ", 1)[1]))
    return found


# -- due times in business time ------------------------------------------------------------


def test_due_times_skip_the_weekend_across_the_dst_change(world):
    _, config, store = world
    # Friday 17:00 CET; the clocks go forward on Sunday 29 March.
    item = customer_mail(1, "Где запись урока?", utc("2026-03-27 16:00"))
    thread_id = file_at(store, config, item)
    thread = store.thread(thread_id)
    assert thread.sla_policy == "chat"
    # 1 h on Friday, 1 h on Monday from 09:00 CEST (07:00 UTC).
    assert thread.first_response_due == utc("2026-03-30 08:00")
    assert thread.resolution_due == utc("2026-03-30 14:00")


def test_due_times_skip_a_holiday(world):
    _, config, store = world
    # Thursday 2 April 17:00 CEST; Friday 3 April is Good Friday.
    thread_id = file_at(store, config, customer_mail(1, "Справка нужна", utc("2026-04-02 15:00")))
    assert store.thread(thread_id).first_response_due == utc("2026-04-06 08:00")


def test_a_wall_clock_policy_counts_nights_and_weekends(world):
    _, config, store = world
    item = customer_mail(1, "Срочно", utc("2026-03-27 16:00"), subject="wall: урок сорван")
    thread = store.thread(file_at(store, config, item))
    assert thread.sla_policy == "wall"
    assert thread.first_response_due == utc("2026-03-27 17:00")
    assert thread.resolution_due == utc("2026-03-28 16:00")


# -- warnings, breaches, escalation --------------------------------------------------------


def test_warning_goes_to_the_agent_then_the_breach_to_agent_and_lead(world):
    _, config, store = world
    # Monday 09:00 CEST: first response due 11:00 CEST, warned at 75 % (10:30).
    thread_id = file_at(store, config, customer_mail(1, "Не открывается урок",
                                                     utc("2026-03-30 07:00")))
    agent = store.thread(thread_id).agent
    clock = clock_for(store, config)
    assert clock.check(utc("2026-03-30 08:29")) == []
    assert clock.check(utc("2026-03-30 08:30")) == [
        Fired(thread_id, "first_response", "warning", utc("2026-03-30 09:00"), (agent,))]
    assert clock.check(utc("2026-03-30 08:45")) == []
    assert clock.check(utc("2026-03-30 09:00")) == [
        Fired(thread_id, "first_response", "breach", utc("2026-03-30 09:00"), (agent, "lena"))]
    assert told(store) == [
        (f"{agent}@school.example", "SLA warning: first response is due Mon 30 Mar 11:00"
                                    " (policy chat)"),
        (f"{agent}@school.example", "SLA breached: first response was due Mon 30 Mar 11:00"
                                    " (policy chat)"),
        ("lena@school.example", "SLA breached: first response was due Mon 30 Mar 11:00"
                                " (policy chat)"),
    ]
    assert [e.action for e in store.events(thread_id)][-2:] == ["sla-warning", "sla-breach"]


def test_a_manual_team_without_a_lead_hears_of_its_unassigned_threads_breach(world):
    school, _, _ = world
    school.write(QUALITY_TOML.replace('strategy = "round_robin"\nlead = "lena"',
                                      'strategy = "manual"'), ROUTING_TOML)
    config = load_config(school.config)
    store = Store(config.store.path)
    thread_id = file_at(store, config, customer_mail(1, "Не открывается урок",
                                                     utc("2026-03-30 07:00")))
    assert store.thread(thread_id).agent == ""
    assert clock_for(store, config).check(utc("2026-03-30 09:00"))[-1].told == (
        "aigerim", "boris")  # not nobody: the members, as for the thread's other news
    store.close()


def test_an_answered_thread_runs_only_its_resolution_clock(world):
    _, config, store = world
    thread_id = file_at(store, config, customer_mail(1, "Вопрос", utc("2026-03-30 07:00")))
    store.update_thread(thread_id, first_response_at=utc("2026-03-30 07:10"))
    clock = clock_for(store, config)
    assert clock.check(utc("2026-03-30 09:30")) == []
    # 8 h from 09:00 CEST is 17:00 CEST; the warning comes with 2 h left.
    (fired,) = clock.check(utc("2026-03-30 13:00"))
    assert (fired.target, fired.stage) == ("resolution", "warning")


def test_a_breach_can_reassign_to_the_next_available_member(world):
    _, config, store = world
    thread_id = file_at(store, config, customer_mail(1, "Вопрос", utc("2026-03-30 07:00")))
    first = store.thread(thread_id).agent
    other = {"aigerim": "boris", "boris": "aigerim"}[first]
    clock = clock_for(store, config, reassign_on_breach=True)
    (fired,) = clock.check(utc("2026-03-30 09:00"))
    assert (fired.stage, fired.told, fired.reassigned_to) == ("breach", (first, "lena"), other)
    assert store.thread(thread_id).agent == other
    assert (f"{other}@school.example", "An SLA breach assigned this thread to you") in told(store)


def test_a_thread_that_an_out_of_office_reply_started_runs_no_clock(world):
    _, config, store = world
    item = customer_mail(1, "Я в отпуске до 1 декабря.", utc("2026-03-30 07:00"),
                         subject="Автоответ: Вопрос", flags={Flag.AUTOMATIC})
    thread = store.thread(file_at(store, config, item))
    assert (thread.sla_policy, thread.first_response_due, thread.resolution_due) == (
        "", None, None)
    assert clock_for(store, config).check(utc("2026-03-31 12:00")) == []


def test_breach_mail_is_marked_urgent_for_mail_clients(world):
    _, config, store = world
    thread_id = file_at(store, config, customer_mail(1, "Вопрос", utc("2026-03-30 07:00")))
    clock = clock_for(store, config)
    clock.check(utc("2026-03-30 08:40"))  # the warning: not urgent
    clock.check(utc("2026-03-30 09:10"))  # the breach
    mails = [e for e in queued(store, "notification")
             if e.channel == "email" and e.thread_id == thread_id]
    assert [(e.headers.get("Importance"), e.headers.get("X-Priority")) for e in mails
            if "SLA" in e.text] == [(None, None), ("high", "1"), ("high", "1")]


def test_a_closed_thread_fires_nothing(world):
    _, config, store = world
    thread_id = file_at(store, config, customer_mail(1, "Вопрос", utc("2026-03-30 07:00")))
    store.update_thread(thread_id, status=Status.CLOSED, closed_at=utc("2026-03-30 07:30"))
    assert clock_for(store, config).check(utc("2026-03-31 12:00")) == []


# -- once, across restarts -----------------------------------------------------------------


def test_timers_fire_once_across_a_restart_on_the_same_store_file(world):
    _, config, store = world
    thread_id = file_at(store, config, customer_mail(1, "Вопрос", utc("2026-03-30 07:00")))
    assert len(clock_for(store, config).check(utc("2026-03-30 08:30"))) == 1
    store.close()
    reopened = Store(config.store.path)
    try:
        again = clock_for(reopened, config)
        assert again.check(utc("2026-03-30 08:31")) == []
        assert [f.stage for f in again.check(utc("2026-03-30 09:01"))] == ["breach"]
        reopened.close()
        reopened = Store(config.store.path)
        assert clock_for(reopened, config).check(utc("2026-03-30 09:02")) == []
        assert len(told(reopened)) == 3  # warning to the agent, breach to agent and lead
        assert fired_timers(reopened, thread_id) == {("first_response", "warning"),
                                                     ("first_response", "breach")}
    finally:
        reopened.close()


def test_timers_that_fell_due_while_down_fire_once_and_skip_the_stale_warning(world):
    _, config, store = world
    thread_id = file_at(store, config, customer_mail(1, "Вопрос", utc("2026-03-30 07:00")))
    # The daemon was down from before the warning until after both breaches.
    fired = clock_for(store, config).check(utc("2026-03-31 08:00"))
    assert sorted((f.target, f.stage) for f in fired) == [("first_response", "breach"),
                                                          ("resolution", "breach")]
    assert not any("warning" in sentence for _, sentence in told(store))
    assert clock_for(store, config).check(utc("2026-03-31 08:05")) == []
    assert len(fired_timers(store, thread_id)) == 4


# -- when a thread is looked at -----------------------------------------------------------


def test_a_check_reads_a_thread_again_only_when_a_timer_can_fire_even_after_a_restart(world):
    _, config, store = world
    # Monday 09:00 CEST: the warning falls due at 10:30 CEST (08:30 UTC).
    thread_id = file_at(store, config, customer_mail(1, "Вопрос", utc("2026-03-30 07:00")))
    assert clock_for(store, config).check(utc("2026-03-30 07:05")) == []
    assert store.sla_threads(utc("2026-03-30 08:29")) == []  # nothing to read until then
    store.close()
    reopened = Store(config.store.path)  # what `inbox run --once` from cron meets
    try:
        clock = clock_for(reopened, config)
        assert clock.check(utc("2026-03-30 08:29")) == []
        assert reopened.sla_threads(utc("2026-03-30 08:29")) == []
        assert [f.stage for f in clock.check(utc("2026-03-30 08:30"))] == ["warning"]
        # After the warning only the breach is left: the thread is next read at 09:00 UTC.
        assert reopened.sla_threads(utc("2026-03-30 08:59")) == []
        assert [t.id for t in reopened.sla_threads(utc("2026-03-30 09:00"))] == [thread_id]
    finally:
        reopened.close()


def test_a_change_to_the_clocks_has_the_thread_read_at_the_next_check(world):
    _, config, store = world
    thread_id = file_at(store, config, customer_mail(1, "Вопрос", utc("2026-03-30 07:00")))
    clock = clock_for(store, config)
    clock.check(utc("2026-03-30 07:05"))
    store.update_thread(thread_id, agent="aigerim", priority="high")  # no clock changes
    assert store.sla_threads(utc("2026-03-30 07:06")) == []
    store.update_thread(thread_id, first_response_at=utc("2026-03-30 07:06"))
    assert [t.id for t in store.sla_threads(utc("2026-03-30 07:06"))] == [thread_id]
    # Answered: only the resolution clock runs, 8 h from 09:00 CEST, warned with 2 h left.
    assert clock.check(utc("2026-03-30 07:06")) == []
    assert store.sla_threads(utc("2026-03-30 12:59")) == []
    assert [f.target for f in clock.check(utc("2026-03-30 13:00"))] == ["resolution"]


def test_a_due_time_moved_by_another_process_during_a_check_is_read_again(world):
    _, config, store = world
    thread_id = file_at(store, config, customer_mail(1, "Вопрос", utc("2026-03-30 07:00")))
    (read,) = store.sla_threads(utc("2026-03-30 07:05"))  # a check has read the thread ...
    other = Store(config.store.path)
    try:  # ... when an agent's command in another process moves its due time
        other.update_thread(thread_id, first_response_due=utc("2026-03-30 07:30"))
    finally:
        other.close()
    store.set_sla_checks([(read, utc("2026-03-30 08:30"))])  # what the check worked out
    assert [t.id for t in store.sla_threads(utc("2026-03-30 07:06"))] == [thread_id]
    assert [f.stage for f in clock_for(store, config).check(utc("2026-03-30 07:30"))] == [
        "breach"]


def test_a_check_with_nothing_due_takes_no_write_lock(world):
    _, config, store = world
    file_at(store, config, customer_mail(1, "Вопрос", utc("2026-03-30 07:00")))
    clock = clock_for(store, config)
    clock.check(utc("2026-03-30 07:05"))
    other = Store(config.store.path)
    try:
        other.conn.execute("BEGIN IMMEDIATE")  # a long purge in another process
        store.conn.execute("PRAGMA busy_timeout = 200")
        assert clock.check(utc("2026-03-30 07:06")) == []  # not "database is locked"
    finally:
        other.close()


def test_a_changed_policy_or_calendar_has_every_thread_read_again(world):
    school, config, store = world
    file_at(store, config, customer_mail(1, "Вопрос", utc("2026-03-30 07:00")))
    closed = file_at(store, config, customer_mail(2, "Спасибо", utc("2026-03-30 07:00")))
    store.update_thread(closed, status=Status.CLOSED)
    mark = store.db.execute("SELECT sla_check_at FROM threads WHERE id = ?", [closed]).fetchone()
    clock_for(store, config).check(utc("2026-03-30 07:05"))  # warning at 75 %: 08:30 UTC
    school.write(QUALITY_TOML.replace("warn_at = 0.75", "warn_at = 0.5"), ROUTING_TOML)
    changed = load_config(school.config)  # a restart or SIGHUP with the new file
    assert [f.stage for f in clock_for(store, changed).check(utc("2026-03-30 08:00"))] == [
        "warning"]
    # Worked out again once; the next clock on the same config reads nothing early.
    clock_for(store, changed).check(utc("2026-03-30 08:01"))
    assert store.sla_threads(utc("2026-03-30 08:59")) == []
    # A closed thread is not rewritten: opening it again gives it a new mark anyway.
    assert store.db.execute("SELECT sla_check_at FROM threads WHERE id = ?",
                            [closed]).fetchone() == mark


# -- pauses --------------------------------------------------------------------------------


def wait_for_customer(store, thread_id, paused, answered):
    """What Actions.set_status(PENDING) and a later customer message leave behind."""
    store.update_thread(thread_id, status=Status.PENDING)
    store.log_event(thread_id, "boris", "pending", {"previous": "open"}, at=paused)
    store.update_thread(thread_id, status=Status.OPEN)
    store.log_event(thread_id, "system", "customer-replied", {}, at=answered)


def test_a_pending_thread_does_not_fire_even_past_its_due_time(world):
    _, config, store = world
    thread_id = file_at(store, config, customer_mail(1, "Вопрос", utc("2026-03-27 14:00")))
    store.update_thread(thread_id, status=Status.PENDING)
    store.log_event(thread_id, "boris", "pending", {}, at=utc("2026-03-27 14:30"))
    assert clock_for(store, config).check(utc("2026-03-27 17:00")) == []


def test_time_spent_pending_moves_the_due_times_in_business_time(world):
    _, config, store = world
    # Friday 15:00 CET: first response due 17:00 CET, resolution Monday 14:00 CEST.
    thread_id = file_at(store, config, customer_mail(1, "Вопрос", utc("2026-03-27 14:00")))
    # Pending at 15:30 CET with 1.5 h (and 7.5 h) left; the customer answers on Saturday.
    wait_for_customer(store, thread_id, utc("2026-03-27 14:30"), utc("2026-03-28 10:00"))
    clock = clock_for(store, config)
    assert clock.check(utc("2026-03-28 10:00")) == []
    thread = store.thread(thread_id)
    assert thread.first_response_due == utc("2026-03-30 08:30")  # Monday 10:30 CEST
    assert thread.resolution_due == utc("2026-03-30 14:30")  # Monday 16:30 CEST
    # Applied once: checking again (or after a restart) shifts nothing further.
    clock_for(store, config).check(utc("2026-03-28 11:00"))
    assert store.thread(thread_id).first_response_due == utc("2026-03-30 08:30")
    assert [f.stage for f in clock.check(utc("2026-03-30 08:30"))] == ["breach"]


def test_resume_shifts_a_wall_clock_policy_by_the_wall_clock_span(world):
    _, config, store = world
    item = customer_mail(1, "Срочно", utc("2026-03-27 16:00"), subject="wall: урок")
    thread = store.thread(file_at(store, config, item))
    clock = clock_for(store, config)
    moved = clock.resume(thread, utc("2026-03-27 16:20"), utc("2026-03-27 19:20"))
    assert moved.first_response_due == utc("2026-03-27 20:00")
    assert clock.resume(moved, utc("2026-03-27 16:20"), utc("2026-03-27 19:20")) == moved


def test_a_thread_closed_in_time_and_reopened_later_goes_on_from_where_it_stopped(world):
    _, config, store = world
    # Monday 09:00 CEST: resolution due 17:00 CEST (15:00 UTC); answered and closed at 10:00.
    thread_id = file_at(store, config, customer_mail(1, "Вопрос", utc("2026-03-30 07:00")))
    store.update_thread(thread_id, first_response_at=utc("2026-03-30 07:30"),
                        status=Status.CLOSED, closed_at=utc("2026-03-30 08:00"))
    store.log_event(thread_id, "boris", "closed", {"previous": "open"}, at=utc("2026-03-30 08:00"))
    # An out-of-office reply to the survey is filed in the closed thread: it stays closed.
    store.log_event(thread_id, "system", "customer-replied", {}, at=utc("2026-03-30 09:00"))
    # The customer writes again on Tuesday 10:00 CEST, long after the first due time.
    store.update_thread(thread_id, status=Status.OPEN, closed_at=None)
    store.log_event(thread_id, "system", "reopened", {}, at=utc("2026-03-31 08:00"))
    clock = clock_for(store, config)
    assert clock.check(utc("2026-03-31 08:01")) == []  # not breached at once
    # 7 business hours were left at closing: due Tuesday 17:00 CEST.
    assert store.thread(thread_id).resolution_due == utc("2026-03-31 15:00")


def test_a_second_pending_inside_a_wait_is_applied_once_and_not_looked_at_again(world):
    _, config, store = world
    thread_id = file_at(store, config, customer_mail(1, "Вопрос", utc("2026-03-27 14:00")))
    store.log_event(thread_id, "boris", "pending", {}, at=utc("2026-03-27 14:30"))
    wait_for_customer(store, thread_id, utc("2026-03-27 14:40"), utc("2026-03-28 10:00"))
    clock_for(store, config).apply_pauses()
    assert store.thread(thread_id).first_response_due == utc("2026-03-30 08:30")  # from 14:30
    assert store.unapplied_pauses() == []


def test_a_target_missed_before_the_pause_stays_missed(world):
    _, config, store = world
    thread_id = file_at(store, config, customer_mail(1, "Вопрос", utc("2026-03-30 07:00")))
    wait_for_customer(store, thread_id, utc("2026-03-30 10:00"), utc("2026-03-30 12:00"))
    clock_for(store, config).apply_pauses()
    assert store.thread(thread_id).first_response_due == utc("2026-03-30 09:00")


# -- settings ------------------------------------------------------------------------------


def test_escalation_settings_have_defaults_and_report_unknown_keys():
    problems: list[str] = []
    assert escalation_settings(Section({}, "inbox.toml: escalation", problems)) == \
        EscalationSettings(interval_seconds=30.0, reassign_on_breach=False)
    escalation_settings(Section({"interval_seconds": 0, "reassign": True},
                                "inbox.toml: escalation", problems))
    assert problems == [
        "inbox.toml: escalation: interval_seconds must be at least 1, not 0",
        "inbox.toml: escalation: unknown key 'reassign' (known keys: interval_seconds,"
        " reassign_on_breach)",
    ]


def test_business_time_is_what_the_warning_counts_not_wall_time(world):
    _, config, store = world
    # Friday 17:00 CET, due Monday 10:00 CEST: at 17:45 only 15 min of 2 h are used.
    file_at(store, config, customer_mail(1, "Вопрос", utc("2026-03-27 16:00")))
    clock = clock_for(store, config)
    assert clock.check(utc("2026-03-28 12:00")) == []  # Saturday: the clock is not running
    assert [f.stage for f in clock.check(utc("2026-03-30 07:00")
                                         + timedelta(minutes=30))] == ["warning"]
