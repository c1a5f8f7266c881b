"""`inbox status`: channel health, lag, outbox and SLA figures, and the exit code a monitoring
check relies on — on a real store written by real runs of the daemon."""

from __future__ import annotations

import json
import shutil
import signal
from datetime import timedelta

from inbox.config import load_config
from inbox.health import Thresholds, check_health
from inbox.store import Store, now_utc
from tests.conftest import MISSING_TOKEN, MISSING_TOKEN_ERROR, mail
from tests.processes import DaemonProcess
from tests.servers import free_port

BROKEN_IMAP = """
[[email]]
name = "office"
address = "office@school.example"
host = "127.0.0.1"
port = {port}
security = "none"
smtp_security = "none"
username = "office"
password_env = "STATUS_TEST_PASSWORD"
"""


def _store(school) -> Store:
    config = load_config(school.config)
    return Store(config.store.path, config.store.attachments)


def test_a_school_whose_daemon_never_ran_is_unhealthy(school):
    result = school.cli("status", ok=False)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"warning: no store at {school.root}/state/inbox.db: ")
    assert not (school.root / "state" / "inbox.db").exists()  # status makes no store
    lines = result.stdout.splitlines()
    assert lines[0] == "school-inbox: UNHEALTHY (1 problem)"
    assert lines[1] == ("  ! maildir 'support' has never been polled (is the daemon running? one"
                        " added or renamed since it started is read after its restart)")


def test_a_daemon_just_started_on_an_empty_mailbox_is_healthy_within_seconds(school):
    daemon = DaemonProcess(school)
    try:
        daemon.wait(lambda: school.cli("status", ok=False).exit_code == 0, 10,
                    "inbox status healthy")
    finally:
        daemon.signal(signal.SIGTERM)
        daemon.finish()


def test_after_a_run_every_channel_is_ok_and_lag_counts_unread_mail(school):
    school.deliver(mail())
    school.cli("run", "--once")
    school.deliver(mail(message_id="later-1@mail.example"))
    school.deliver(mail(message_id="later-2@mail.example"))
    result = school.cli("status", "--json")
    report = json.loads(result.output)
    assert report["healthy"] is True
    assert report["problems"] == []
    (channel,) = report["channels"]
    assert channel["name"] == "support"
    assert channel["kind"] == "maildir"
    assert channel["state"] == "ok"
    assert channel["lag"] == 2
    assert channel["error_since"] is None
    assert report["outbox"] == {"queued": 0, "retrying": 0, "sent": 0, "failed": 0,
                                "oldest_pending": None, "oldest_pending_seconds": None,
                                "failed_last_day": 0}
    assert report["sla"] == {"breaches": 0, "threads": []}


def test_a_channel_failing_briefly_is_shown_but_only_unhealthy_after_the_threshold(
        school, monkeypatch):
    monkeypatch.setenv("STATUS_TEST_PASSWORD", "not-used")
    school.write(school.config.read_text() + BROKEN_IMAP.replace("{port}", str(free_port())))
    school.cli("run", "--once", ok=False)
    report = json.loads(school.cli("status", "--json").output)
    office = next(c for c in report["channels"] if c["name"] == "office")
    assert office["state"] == "failing"
    assert office["last_error"].startswith("ImapUnreachable: ")
    assert report["healthy"] is True  # failing for seconds, not yet 15 minutes

    config, store = load_config(school.config), _store(school)
    later = now_utc() + timedelta(minutes=20)
    health = check_health(config, store, later, Thresholds(stale_after=timedelta(hours=1)))
    assert len(health.problems) == 1
    assert health.problems[0].startswith("email 'office' has been failing for 20 min: "
                                         "ImapUnreachable: ")
    store.close()


def test_a_channel_whose_secret_is_missing_fails_alone_and_the_others_are_read(
        school, monkeypatch):
    monkeypatch.delenv("SCHOOL_BOT_TOKEN", raising=False)
    school.write(school.config.read_text() + MISSING_TOKEN)
    school.deliver(mail())
    result = school.cli("run", "--once", ok=False)
    assert result.exit_code == 1  # a channel failed (docs/cli.md)
    assert f"ERROR inbox.daemon: {MISSING_TOKEN_ERROR} (attempt 1;" in result.output
    assert not any(line.startswith("Error:") for line in result.output.splitlines())
    report = json.loads(school.cli("status", "--json").output)
    assert [(c["name"], c["state"], c["last_error"]) for c in report["channels"]] == [
        ("support", "ok", ""), ("bot", "failing", MISSING_TOKEN_ERROR.removeprefix("bot: "))]
    assert [t["id"] for t in json.loads(school.cli("threads", "--json").output)] == [1]


def test_a_restart_during_an_outage_keeps_the_last_successful_poll(school):
    def support() -> dict:
        return json.loads(school.cli("status", "--json").output)["channels"][0]

    school.cli("run", "--once")
    last_ok = support()["last_ok"]
    shutil.rmtree(school.maildir / "new")
    (school.maildir / "new").write_text("a file where the Maildir's new/ folder should be")
    school.cli("run", "--once", ok=False)  # a new process: nothing polled OK in its lifetime
    assert (support()["state"], support()["last_ok"]) == ("failing", last_ok)


def test_a_daemon_that_stopped_polling_makes_its_channels_stale(school):
    school.cli("run", "--once")
    config, store = load_config(school.config), _store(school)
    health = check_health(config, store, now_utc() + timedelta(minutes=16))
    assert [c.state for c in health.channels] == ["stale"]
    assert health.problems == [
        "maildir 'support': no successful poll for 16 min (is the daemon running?)"]
    store.close()


def test_an_old_undelivered_reply_makes_the_outbox_unhealthy(school):
    school.deliver(mail())
    school.cli("run", "--once")
    school.cli("reply", "1", "--as", "boris", "-m", "Ответ")
    report = json.loads(school.cli("status", "--json").output)
    assert report["outbox"]["queued"] == 1
    assert report["healthy"] is True
    config, store = load_config(school.config), _store(school)
    later = now_utc() + timedelta(hours=2)
    health = check_health(config, store, later, Thresholds(stale_after=timedelta(days=1)))
    assert health.problems == ["outbox: 1 waiting, the oldest for 2 h"]
    store.close()


def test_failed_deliveries_count_only_when_a_limit_is_given(school):
    school.write(school.config.read_text() + "\n[outbox]\nmax_attempts = 1\n")
    school.deliver(mail())
    school.cli("run", "--once")
    school.sent.write_text("a file where the reply Maildir should be")
    school.cli("reply", "1", "--as", "boris", "-m", "Ответ")
    school.cli("run", "--once")
    assert json.loads(school.cli("status", "--json").output)["outbox"]["failed_last_day"] == 1
    result = school.cli("status", "--max-failed", "0", ok=False)
    assert result.exit_code == 1
    assert "  ! outbox: 1 deliveries failed in the last 24 h" in result.output.splitlines()


def test_sla_breaches_list_unanswered_and_unresolved_open_threads(school):
    for n in range(3):
        school.deliver(mail(message_id=f"sla-{n}@mail.example", sender=f"p{n}@mail.example"))
    school.cli("run", "--once")
    store = _store(school)
    past, future = now_utc() - timedelta(hours=1), now_utc() + timedelta(hours=1)
    store.update_thread(1, first_response_due=past, resolution_due=future)
    store.update_thread(2, first_response_due=future, resolution_due=past)
    store.update_thread(3, first_response_due=past, resolution_due=past)
    store.close()
    school.cli("pending", "3")  # waiting for the customer: the clock is paused
    report = json.loads(school.cli("status", "--json").output)
    assert report["sla"]["breaches"] == 2
    assert [(t["id"], t["target"]) for t in report["sla"]["threads"]] == [
        (1, "first_response"), (2, "resolution")]
    school.cli("reply", "1", "--as", "boris", "-m", "Ответ")
    report = json.loads(school.cli("status", "--json").output)
    assert [t["id"] for t in report["sla"]["threads"]] == [2]
    result = school.cli("status", "--max-breaches", "0", ok=False)
    assert "  ! SLA: 1 threads past their deadline" in result.output.splitlines()


def test_too_little_space_on_the_stores_disk_is_unhealthy_at_once(school):
    school.deliver(mail())
    school.cli("run", "--once")
    assert school.cli("status").exit_code == 0
    huge = 2**40  # more megabytes than any disk here has free
    result = school.cli("status", "--json", "--min-free-mb", str(huge), ok=False)
    assert result.exit_code == 1
    shown = json.loads(result.output)
    db = school.root / "state" / "inbox.db"
    assert shown["store"]["path"] == str(db)
    free = shown["store"]["free_bytes"]
    assert free > 0
    assert shown["problems"] == [
        f"store: {free / 2**20:,.0f} MB free on the disk of {db} (less than {huge} MB):"
        " mail stops being filed when it is full"]


def test_status_help_defines_unhealthy(school):
    text = school.cli("status", "--help").output
    for phrase in ("--failing-for", "--stale-after", "--outbox-age", "--max-failed",
                   "--max-breaches", "--min-free-mb", "exit 1 when unhealthy"):
        assert phrase in text
