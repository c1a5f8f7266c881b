"""The real-server fixtures do what the other tests rely on."""

import smtplib
import ssl

import pytest
from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from tests.servers.dovecot import Dovecot, MailUser
from tests.servers.smtp import SmtpServer

MESSAGE = b"From: a@example.org\r\nSubject: hello\r\nMessage-ID: <1@example.org>\r\n\r\nbody\r\n"


def test_dovecot_serves_appended_and_seeded_mail(dovecot: Dovecot, mail_user: MailUser):
    dovecot.append(mail_user, "INBOX", MESSAGE)
    assert dovecot.seed(mail_user, "Support", [MESSAGE] * 3) == 3
    with IMAPClient(dovecot.host, dovecot.port, ssl=False) as client:
        client.login(mail_user.name, mail_user.password)
        assert client.folder_status("INBOX", [b"MESSAGES"])[b"MESSAGES"] == 1
        client.select_folder("Support")
        assert client.search() == [1, 2, 3]
    assert dovecot.status(mail_user, "Support")["messages"] == 3


def test_failed_login_does_not_slow_the_next_one(dovecot: Dovecot, mail_user: MailUser):
    """The auth penalty is off: a wrong password would otherwise delay every later login 2-15 s."""
    with IMAPClient(dovecot.host, dovecot.port, ssl=False, timeout=2) as client, \
            pytest.raises(LoginError):
        client.login(mail_user.name, "wrong")
    with IMAPClient(dovecot.host, dovecot.port, ssl=False, timeout=2) as client:
        client.login(mail_user.name, mail_user.password)


def test_recreate_folder_changes_uidvalidity_and_keeps_messages(dovecot: Dovecot,
                                                               mail_user: MailUser):
    dovecot.seed(mail_user, "Support", [MESSAGE] * 2)
    before = dovecot.status(mail_user, "Support")
    dovecot.recreate_folder(mail_user, "Support")
    after = dovecot.status(mail_user, "Support")
    assert after["uidvalidity"] != before["uidvalidity"]
    assert after["messages"] == 2


def test_restart_keeps_mail_and_port(private_dovecot: Dovecot):
    user = private_dovecot.add_user()
    private_dovecot.append(user, "INBOX", MESSAGE)
    validity = private_dovecot.uidvalidity(user, "INBOX")
    private_dovecot.stop()
    with pytest.raises(ConnectionRefusedError):
        IMAPClient(private_dovecot.host, private_dovecot.port, ssl=False, timeout=2)
    private_dovecot.start()
    assert private_dovecot.status(user, "INBOX")["messages"] == 1
    assert private_dovecot.uidvalidity(user, "INBOX") == validity


def test_stop_ends_open_client_sessions(private_dovecot: Dovecot):
    user = private_dovecot.add_user()
    client = IMAPClient(private_dovecot.host, private_dovecot.port, ssl=False, timeout=5)
    client.login(user.name, user.password)
    client.select_folder("INBOX")
    client.idle()
    private_dovecot.wait_until_idle(user)
    private_dovecot.stop()
    assert not private_dovecot.idling(user)
    with pytest.raises((OSError, IMAPClient.AbortError)):
        client.idle_done()


def test_dovecot_tls_offers_implicit_tls_and_starttls(dovecot_tls: Dovecot):
    user = dovecot_tls.add_user()
    context = ssl.create_default_context(cafile=str(dovecot_tls.cafile))
    with IMAPClient(dovecot_tls.host, dovecot_tls.tls_port, ssl=True, ssl_context=context) as c:
        c.login(user.name, user.password)
    with IMAPClient(dovecot_tls.host, dovecot_tls.port, ssl=False) as client:
        client.starttls(context)
        client.login(user.name, user.password)


def test_smtp_server_records_and_refuses_on_script(smtp_server: SmtpServer):
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5) as client:
        client.sendmail("a@example.org", ["b@example.org"], MESSAGE)
        smtp_server.fail_next("451 4.3.0 Try again later")
        with pytest.raises(smtplib.SMTPDataError) as refused:
            client.sendmail("a@example.org", ["b@example.org"], MESSAGE)
    assert refused.value.smtp_code == 451
    [received] = smtp_server.wait_for(1)
    assert (received.mail_from, received.rcpt_tos, received.data) == (
        "a@example.org", ("b@example.org",), MESSAGE)


def test_smtp_server_with_starttls_requires_login(smtp_server_tls: SmtpServer):
    context = ssl.create_default_context(cafile=str(smtp_server_tls.cafile))
    with smtplib.SMTP(smtp_server_tls.host, smtp_server_tls.port, timeout=5) as client:
        client.starttls(context=context)
        with pytest.raises(smtplib.SMTPSenderRefused):
            client.sendmail("a@example.org", ["b@example.org"], MESSAGE)
