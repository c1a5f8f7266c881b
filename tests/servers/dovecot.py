"""A private Dovecot IMAP server on 127.0.0.1 for tests.

Everything lives under one temp directory (on tmpfs when there is one: creating
files on these disks is ~50x slower): config, runtime sockets, state, log and the
users' Maildirs. Nothing touches a system Dovecot. Users come from passwd-files,
so adding one needs no restart. The server is stopped by signalling its whole
process group (the master alone would leave clients' imap processes serving), and
an atexit hook stops whatever a crashed test run left behind.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from tests.servers import free_port, self_signed_certificate

INSTALL_HINT = "apt-get install -y dovecot-imapd"
_SBIN = ("/usr/sbin", "/usr/bin", "/sbin")
_instances: set[Dovecot] = set()  # closed at exit if a test run crashed


def _tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path=os.pathsep.join(_SBIN))
    if not path:
        raise RuntimeError(f"{name} not found (looked in PATH and {', '.join(_SBIN)}); "
                           f"install it with: {INSTALL_HINT}")
    return path


def _scratch_dir() -> Path:
    """A fresh directory the unprivileged mail uid can traverse (pytest's tmp_path is 0700)."""
    shm = Path("/dev/shm")
    parent = shm if shm.is_dir() and os.access(shm, os.W_OK) else None
    path = Path(tempfile.mkdtemp(prefix="dovecot-test-", dir=parent))
    path.chmod(0o755)
    return path


@dataclass(frozen=True)
class MailUser:
    name: str
    password: str
    home: Path


class Dovecot:
    """One Dovecot instance; ``start()`` it, ``add_user()``, point a client at ``host:port``.

    With ``tls=True`` a self-signed certificate (``cafile`` to trust it) is made,
    ``port`` offers STARTTLS and ``tls_port`` implicit TLS.
    """

    host = "127.0.0.1"

    def __init__(self, *, tls: bool = False):
        self._dovecot_bin = _tool("dovecot")
        self._doveadm_bin = _tool("doveadm")
        self.root = _scratch_dir()
        self.port = free_port()
        self.tls_port = free_port() if tls else 0
        self.cafile = self_signed_certificate(self.root)[0] if tls else None
        # One passwd-file per user: Dovecot re-reads a known file at most once a second,
        # so a user appended to a shared file could be unknown for up to a second.
        self.users_dir = self.root / "users"
        self.users_dir.mkdir()
        self.log_path = self.root / "dovecot.log"
        if os.geteuid() == 0:
            # Dovecot refuses uid 0 for mail, whatever the config says.
            nobody = pwd.getpwnam("nobody")
            self.mail_uid, self.mail_gid = nobody.pw_uid, nobody.pw_gid
        else:
            self.mail_uid, self.mail_gid = os.getuid(), os.getgid()
        self.config = self.root / "dovecot.conf"
        self.config.write_text(self._config_text(), encoding="utf-8")
        self._process: subprocess.Popen | None = None
        _instances.add(self)

    def _config_text(self) -> str:
        root = self.root
        if self.cafile:
            ssl = f"ssl = yes\nssl_cert = <{root}/cert.pem\nssl_key = <{root}/key.pem"
        else:
            ssl = "ssl = no"
        unprivileged = ""
        if os.geteuid() != 0:
            me = pwd.getpwuid(os.getuid()).pw_name
            unprivileged = (
                f"default_internal_user = {me}\ndefault_internal_group = {me}\n"
                f"default_login_user = {me}\n"
            )
        chroot = "" if os.geteuid() == 0 else "chroot ="
        return f"""\
protocols = imap
listen = {self.host}
base_dir = {root}/run
state_dir = {root}/state
log_path = {self.log_path}
{ssl}
{unprivileged}
disable_plaintext_auth = no
auth_mechanisms = plain login xoauth2
auth_failure_delay = 0
mail_location = maildir:~/Maildir
mail_max_userip_connections = 200
verbose_proctitle = yes
first_valid_uid = {min(self.mail_uid, 500)}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.users_dir}/%u
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {self.users_dir}/%u
}}
service imap-login {{
  {chroot}
  inet_listener imap {{
    address = {self.host}
    port = {self.port}
  }}
  inet_listener imaps {{
    address = {self.host}
    port = {self.tls_port}
  }}
}}
service anvil {{
  {chroot}
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""

    # -- process ---------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        """Start (or restart after ``stop``) on the same port and data; return once it greets."""
        if self._process is not None:
            return
        log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [self._dovecot_bin, "-F", "-c", str(self.config)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while not self._greets():
            if self._process.poll() is not None:
                self._process = None
                raise RuntimeError(f"dovecot exited at start; log:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"dovecot did not greet on port {self.port} within "
                                   f"{timeout} s; log:\n{self.log_tail()}")
            time.sleep(0.01)

    def _greets(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as conn:
                return conn.recv(64).startswith(b"* OK")
        except OSError:
            return False

    def stop(self, grace: float = 5.0) -> None:
        """Stop the master and every child (open client sessions too); data is kept."""
        process, self._process = self._process, None
        if process is None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(grace)
        except subprocess.TimeoutExpired:
            pass
        except ProcessLookupError:
            return
        # Children outlive a master that exited on SIGTERM; take the group down for sure.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(grace)

    def idling(self, user: MailUser) -> bool:
        """Whether a session of ``user`` sits in IDLE now (read from verbose process titles)."""
        if self._process is None:
            return False
        wanted = f"dovecot/imap [{user.name} ".encode()
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                title = Path(f"/proc/{pid}/cmdline").read_bytes()
                if title.startswith(wanted) and b" IDLE]" in title and \
                        os.getpgid(int(pid)) == self._process.pid:
                    return True
            except (OSError, ProcessLookupError):
                continue
        return False

    def wait_until_idle(self, user: MailUser, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.idling(user):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no IMAP session of {user.name} entered IDLE "
                                   f"within {timeout} s")
            time.sleep(0.01)

    def close(self) -> None:
        """Stop and delete every file of this instance."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
        _instances.discard(self)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    # -- users and mail ----------------------------------------------------------

    def add_user(self, name: str = "", password: str = "") -> MailUser:
        """Add a passwd-file user (random name/password unless given); no restart needed."""
        name = name or f"user{secrets.token_hex(4)}"
        password = password or secrets.token_urlsafe(12)
        if ":" in password or "\n" in password:
            raise ValueError("a passwd-file password cannot hold ':' or a newline")
        home = self.root / "home" / name
        (home / "Maildir").mkdir(parents=True)
        for path in (home, home / "Maildir"):
            os.chown(path, self.mail_uid, self.mail_gid)
        line = f"{name}:{{PLAIN}}{password}:{self.mail_uid}:{self.mail_gid}::{home}\n"
        (self.users_dir / name).write_text(line, encoding="utf-8")
        return MailUser(name, password, home)

    def doveadm(self, *args: str, stdin: bytes | None = None) -> str:
        done = subprocess.run(
            [self._doveadm_bin, "-c", str(self.config), *args],
            input=stdin, capture_output=True, timeout=30,
        )
        if done.returncode != 0:
            raise RuntimeError(f"doveadm {' '.join(args)} failed ({done.returncode}): "
                               f"{done.stderr.decode(errors='replace').strip()}")
        return done.stdout.decode("utf-8", errors="replace")

    def append(self, user: MailUser, folder: str, raw: bytes) -> None:
        """Deliver one message the way a local delivery agent would (IDLE clients see it)."""
        self.doveadm("save", "-u", user.name, "-m", folder, stdin=raw)

    def seed(self, user: MailUser, folder: str, messages: Iterable[bytes],
             received: datetime | None = None) -> int:
        """Write messages straight into the Maildir (~50x faster than APPEND one by one).

        ``received`` becomes their IMAP INTERNALDATE (what SEARCH SINCE compares).
        Returns how many were written.
        """
        if folder != "INBOX":
            self.create_folder(user, folder)
        new = self._maildir(user, folder) / "new"
        for sub in (new, new.parent / "cur", new.parent / "tmp"):  # a new user's INBOX has none
            if not sub.is_dir():
                sub.mkdir()
                os.chown(sub, self.mail_uid, self.mail_gid)
        stamp = (received or datetime.now()).timestamp()
        count = 0
        for count, raw in enumerate(messages, start=1):
            path = new / f"{int(stamp)}.seed{count}_{secrets.token_hex(4)}.test"
            path.write_bytes(raw)
            os.chown(path, self.mail_uid, self.mail_gid)
            os.utime(path, (stamp, stamp))
        return count

    def _maildir(self, user: MailUser, folder: str) -> Path:
        base = user.home / "Maildir"
        return base if folder == "INBOX" else base / f".{folder}"

    def create_folder(self, user: MailUser, folder: str) -> None:
        if folder not in self.folders(user):
            self.doveadm("mailbox", "create", "-u", user.name, folder)

    def folders(self, user: MailUser) -> list[str]:
        return self.doveadm("mailbox", "list", "-u", user.name).split()

    def status(self, user: MailUser, folder: str) -> dict[str, int]:
        """``{"messages": n, "uidvalidity": v, "uidnext": u, "unseen": s}`` read from the store."""
        fields = ("messages", "uidvalidity", "uidnext", "unseen")
        out = self.doveadm("-f", "tab", "mailbox", "status", "-u", user.name,
                           " ".join(fields), folder)
        header, values = out.splitlines()[:2]
        row = dict(zip(header.split("\t"), values.split("\t"), strict=True))
        return {key: int(row[key]) for key in fields}

    def uidvalidity(self, user: MailUser, folder: str) -> int:
        return self.status(user, folder)["uidvalidity"]

    def flags(self, user: MailUser, folder: str) -> dict[int, set[str]]:
        """Each message's UID and flags, as the server stores them."""
        out = self.doveadm("-f", "tab", "fetch", "-u", user.name, "uid flags",
                           "mailbox", folder, "all")
        result = {}
        for row in out.splitlines()[1:]:
            uid, _, flags = row.partition("\t")
            result[int(uid)] = set(flags.split())
        return result

    def recreate_folder(self, user: MailUser, folder: str) -> None:
        """Give ``folder`` a new UIDVALIDITY with the same messages (as delete + re-create does)."""
        parking = f"parking{secrets.token_hex(3)}"
        self.doveadm("mailbox", "rename", "-u", user.name, folder, parking)
        self.doveadm("mailbox", "create", "-u", user.name, folder)
        self.doveadm("move", "-u", user.name, folder, "mailbox", parking, "all")
        self.doveadm("mailbox", "delete", "-u", user.name, parking)


@atexit.register
def _close_leftovers() -> None:
    for server in list(_instances):
        server.close()


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """One plain-text Dovecot for the session; give each test its own user (``mail_user``)."""
    server = Dovecot()
    server.start()
    yield server
    server.close()


@pytest.fixture(scope="session")
def dovecot_tls() -> Iterator[Dovecot]:
    """Dovecot with a self-signed certificate: STARTTLS on ``port``, TLS on ``tls_port``."""
    server = Dovecot(tls=True)
    server.start()
    yield server
    server.close()


@pytest.fixture
def private_dovecot() -> Iterator[Dovecot]:
    """A Dovecot of this test's own, free to be stopped and restarted."""
    server = Dovecot()
    server.start()
    yield server
    server.close()


@pytest.fixture
def mail_user(dovecot: Dovecot) -> MailUser:
    """A fresh user with an empty mailbox on the session's Dovecot."""
    return dovecot.add_user()
