"""The daemon as a real process: SIGTERM, SIGKILL and SIGHUP on a Maildir under load."""

from __future__ import annotations

import email
import json
import logging
import signal

import pytest

from inbox.actions import Actions
from inbox.config import load_config
from inbox.daemon import Daemon
from tests.conftest import MISSING_TOKEN, MISSING_TOKEN_ERROR, mail
from tests.processes import DaemonProcess, external_ids, stored_count, wait_for

pytestmark = pytest.mark.slow


def fill(school, count: int) -> set[str]:
    ids = set()
    for n in range(count):
        message_id = f"load-{n}@mail.example"
        school.deliver(mail(subject=f"Вопрос {n}", body=f"Сообщение номер {n}",
                            sender=f"parent{n % 40}@mail.example", message_id=message_id))
        ids.add(message_id)
    return ids


def small_batches(school) -> None:
    """Batches of 5 so a signal lands between commits, not after everything is done."""
    school.write(school.config.read_text().replace(
        'from_name = "Test School"', 'from_name = "Test School"\nbatch_size = 5'))


def test_sigterm_mid_run_stops_cleanly_and_loses_nothing(school):
    small_batches(school)
    ids = fill(school, 300)
    db = school.root / "state" / "inbox.db"
    daemon = DaemonProcess(school)
    wait_for(lambda: stored_count(db) >= 20, 30, "the daemon to store its first batches")
    daemon.signal(signal.SIGTERM)
    assert daemon.finish() == 0, daemon.log
    assert "stopped" in daemon.log
    # Whatever was moved to cur/ must be in the store: ack only after commit.
    acked = len(list((school.maildir / "cur").iterdir()))
    assert stored_count(db) >= acked
    school.cli("run", "--once")
    stored = external_ids(db)
    assert sorted(stored) == sorted(ids)


def test_kill_9_at_random_moments_stores_every_message_exactly_once(school):
    small_batches(school)
    ids = fill(school, 400)
    db = school.root / "state" / "inbox.db"
    for kill in range(4):
        daemon = DaemonProcess(school)
        target = 40 + kill * 60
        wait_for(lambda target=target: stored_count(db) >= target, 60,
                 f"{target} messages stored before kill {kill}", interval=0.01)
        daemon.kill()
    school.cli("run", "--once")
    stored = external_ids(db)
    assert len(stored) == len(set(stored)), "a message was stored twice"
    assert set(stored) == ids
    assert list((school.maildir / "new").iterdir()) == []


def test_a_running_daemon_keeps_restore_and_a_second_daemon_off_its_store(school, tmp_path):
    school.deliver(mail())
    school.cli("run", "--once")
    archive = tmp_path / "b.tar.gz"
    school.cli("backup", str(archive))
    daemon = DaemonProcess(school)
    try:
        daemon.wait_log("school-inbox running")
        db = school.root / "state" / "inbox.db"
        restore = school.cli("restore", str(archive), "--force", ok=False)
        assert restore.exit_code == 1
        assert restore.output.strip() == (
            f"Error: {db} is in use by inbox run (pid {daemon.proc.pid}): stop the daemon first"
            " (systemctl stop school-inbox), then restore")
        second = school.cli("run", "--once", ok=False)
        assert second.exit_code == 1
        assert "only one daemon may run on a store" in second.output
        school.deliver(mail(message_id="during@mail.example"))
        wait_for(lambda: stored_count(db) == 2, 30, "the daemon to go on storing")
    finally:
        daemon.signal(signal.SIGTERM)
        assert daemon.finish() == 0, daemon.log
    school.cli("restore", str(archive), "--force")  # stopped: the lock went with it
    assert stored_count(db) == 1


def test_sighup_with_a_broken_config_keeps_running_on_the_old_one(school):
    daemon = DaemonProcess(school)
    db = school.root / "state" / "inbox.db"
    try:
        daemon.wait_log("school-inbox running")
        good = school.config.read_text()
        school.config.write_text(good + "\n[[agents]]\nid = 5\n")
        daemon.signal(signal.SIGHUP)
        daemon.wait_log("reload refused, keeping the running configuration")
        school.deliver(mail(message_id="after-hup@mail.example"))
        wait_for(lambda: stored_count(db) == 1, 30, "mail to be stored after the bad reload")
        assert daemon.proc.poll() is None, "the daemon died on a bad reload"
    finally:
        daemon.signal(signal.SIGTERM)
        daemon.finish()
    assert "agents 3: id must be a string, not an integer" in daemon.log


def test_admins_are_told_when_a_channel_keeps_failing(school):
    secret = school.root / "desk-secret"
    secret.write_text("a-long-random-test-key")
    school.write(school.config.read_text().replace(
        'id = "boris"', 'id = "boris"\nclient = "email"\nemail = "boris@school.example"') + f"""
[[email]]
name = "broken"
address = "office@school.example"
host = "127.0.0.1"
port = 1
security = "none"
username = "office"
password_env = "NO_SUCH_PASSWORD_VARIABLE"
smtp_security = "none"

[desk]
email_channel = "support"
secret_file = "{secret}"
admins = ["boris"]
alert_after = "0m"
""")
    result = school.cli("run", "--once", ok=False)
    assert result.exit_code == 1
    alerts = [email.message_from_bytes(p.read_bytes()) for p in (school.sent / "new").iterdir()]
    assert [a["To"] for a in alerts] == ["boris@school.example"]
    assert alerts[0]["Subject"].startswith("[school-inbox] broken has been failing since")
    since = json.loads(school.cli("status", "--json", ok=False).output)["channels"][1]

    # A restart (a new process) while it still fails: the same outage, told once.
    school.cli("run", "--once", ok=False)
    assert len(list((school.sent / "new").iterdir())) == 1
    again = json.loads(school.cli("status", "--json", ok=False).output)["channels"][1]
    assert (again["name"], again["error_since"]) == ("broken", since["error_since"])


def test_a_bot_without_its_token_fails_alone_while_the_daemon_reads_the_mailbox(
        school, monkeypatch):
    monkeypatch.delenv("SCHOOL_BOT_TOKEN", raising=False)
    school.write(school.config.read_text() + MISSING_TOKEN)
    daemon = DaemonProcess(school)
    try:
        daemon.wait_log(MISSING_TOKEN_ERROR)
        school.deliver(mail())
        daemon.wait(lambda: stored_count(school.root / "state" / "inbox.db") == 1, 30,
                    "the Maildir's message stored")
    finally:
        daemon.signal(signal.SIGTERM)
        assert daemon.finish() == 0, daemon.log


def test_routing_file_changes_are_picked_up_and_a_broken_one_is_refused(school):
    daemon = DaemonProcess(school)
    routing = school.root / "routing.toml"
    try:
        daemon.wait_log("school-inbox running")
        routing.write_text('default_team = "nobody"\n')
        daemon.wait_log("changed but is invalid; keeping the running rules")
        assert 'default_team "nobody" is not a team' in daemon.log
        routing.write_text('default_team = "support"\ndefault_priority = "high"\n')
        daemon.wait_log("routing reloaded from")
        school.deliver(mail(message_id="after-reload@mail.example"))
        db = school.root / "state" / "inbox.db"
        wait_for(lambda: stored_count(db) == 1, 30, "mail stored after the reload")
    finally:
        daemon.signal(signal.SIGTERM)
        daemon.finish()
    assert json.loads(school.cli("threads", "--json").output)[0]["priority"] == "high"


def test_a_reload_that_drops_every_rule_is_applied_with_a_warning(school, caplog):
    school.write(school.config.read_text(),
                 'default_team = "support"\n[[rules]]\nname = "All"\n[rules.then]\n'
                 'team = "support"\n')
    daemon = Daemon(load_config(school.config))
    (school.root / "routing.toml").write_text('default_team = "support"\n')
    with caplog.at_level(logging.WARNING, logger="inbox.daemon"):
        daemon.reload()
    assert daemon.config.routing.rules == ()
    assert f"{school.root / 'routing.toml'} has no rules now (it had 1): every new thread" \
           " goes to the default team 'support'" in caplog.text
    daemon.store.close()


def test_a_reload_names_what_needs_a_restart_and_keeps_the_store_it_has_open(school, caplog):
    school.deliver(mail())
    school.cli("run", "--once")
    logging.getLogger().addHandler(caplog.handler)  # the command set logging up anew
    daemon = Daemon(load_config(school.config))
    school.write(school.config.read_text().replace("/state/inbox.db", "/state2/inbox.db")
                 .replace('name = "support"\npath', 'name = "office"\npath')
                 + "\n[outbox]\ninterval_seconds = 30\n")
    with caplog.at_level(logging.WARNING, logger="inbox.daemon"):
        daemon.reload()
    assert (f"changed in {school.config}: channels, [store], [outbox] interval_seconds; that"
            " takes effect after a restart") in caplog.text
    assert daemon.config.store.path == school.root / "state" / "inbox.db"
    assert [channel.name for channel in daemon.config.channels] == ["support"]
    Actions(daemon.store, daemon.config).reply(1, "boris", "Ответ")  # still answerable
    daemon.store.close()
