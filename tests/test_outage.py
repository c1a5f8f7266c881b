"""A mail server that goes away for 30 seconds mid-IDLE: the daemon rides it out and catches up."""

from __future__ import annotations

import signal
import time

import pytest

from tests.conftest import mail
from tests.processes import DaemonProcess, stored_count, wait_for

pytestmark = pytest.mark.slow

OUTAGE_SECONDS = 30


def test_imap_server_down_for_30_seconds_mid_idle_loses_nothing(school, private_dovecot):
    user = private_dovecot.add_user()
    secret = school.root / "imap-password"
    secret.write_text(user.password)
    school.write(school.config.read_text() + f"""
[[email]]
name = "office"
address = "office@school.example"
host = "127.0.0.1"
port = {private_dovecot.port}
security = "none"
username = "{user.name}"
password_file = "{secret}"
smtp_security = "none"
""")
    db = school.root / "state" / "inbox.db"
    private_dovecot.append(user, "INBOX", mail(message_id="before@mail.example"))
    daemon = DaemonProcess(school)
    try:
        wait_for(lambda: stored_count(db) == 1, 30, "the first mail stored over IMAP")
        wait_for(lambda: private_dovecot.idling(user), 10, "the daemon to enter IDLE")
        private_dovecot.stop()
        # The outage itself is the scenario: nothing to wait for but the clock.
        time.sleep(OUTAGE_SECONDS)
        assert daemon.proc.poll() is None, "the daemon died while the server was down"
        private_dovecot.start()
        private_dovecot.append(user, "INBOX", mail(message_id="after@mail.example"))
        wait_for(lambda: stored_count(db) == 2, 120, "the mail sent after the restart")
        daemon.wait_log("office: working again", 30)
    finally:
        daemon.signal(signal.SIGTERM)
        daemon.finish()
    assert "office: " in daemon.log and "attempt 1; other channels carry on" in daemon.log
    assert daemon.log.count("stored") >= 2
