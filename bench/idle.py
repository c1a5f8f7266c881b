"""Benchmark: what an idle daemon costs — 3 IMAP mailboxes in IDLE and 2 bots long-polling.

    .venv/bin/python bench/idle.py [--minutes 10] [--interval 10]

Starts a private Dovecot with three users (``tests.servers.dovecot.Dovecot``) and two Bot
API test servers (``tests.botapi.BotApiServer``, in this process), writes an inbox.toml
with three ``[[email]]`` accounts (``idle = true``) and two ``[[telegram]]`` bots (default
25 s long poll), starts ``inbox run`` as a child process and waits until it is ready and
every mailbox sits in IDLE. Then, for ``--minutes``, it samples the child's resident memory
(VmRSS, /proc/PID/status) and CPU time (utime + stime, /proc/PID/stat) every
``--interval`` seconds. Nothing arrives meanwhile. Prints a markdown table: RSS at start,
max and end; CPU over the period as a percentage of one core; the number of getUpdates
calls each bot received (long polls, not busy loops).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.botapi import BotApiServer  # noqa: E402
from tests.servers import free_port  # noqa: E402
from tests.servers.dovecot import Dovecot  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")

HEAD = """\
[school]
name = "Idle School"
languages = ["ru", "en"]
default_language = "ru"

[store]
path = "{dir}/state/inbox.db"

[[agents]]
id = "boris"
name = "Boris"

[[teams]]
name = "support"
members = ["boris"]
"""

EMAIL = """
[[email]]
name = "{name}"
address = "{name}@school.example"
host = "127.0.0.1"
port = {port}
security = "none"
username = "{name}"
password_env = "IDLE_PASSWORD_{name}"
smtp_host = "127.0.0.1"
smtp_port = {smtp_port}
smtp_security = "none"
idle = true
"""

BOT = """
[[telegram]]
name = "{name}"
token_env = "IDLE_TOKEN_{name}"
api_url = "{url}/bot"
file_url = "{url}/file/bot"
"""


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            sys.exit(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--interval", type=float, default=10)
    args = parser.parse_args()
    dovecot = Dovecot()
    dovecot.start()
    bots = [BotApiServer(f"{700000 + n}:IDLE-bench-token-{n}").start() for n in range(2)]
    env = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="inbox-idle-") as scratch:
        root = Path(scratch)
        text = HEAD.replace("{dir}", scratch)
        users = []
        for n in range(3):
            user = dovecot.add_user(f"box{n}")
            users.append(user)
            env[f"IDLE_PASSWORD_box{n}"] = user.password
            text += EMAIL.replace("{name}", user.name).replace("{port}", str(dovecot.port)) \
                .replace("{smtp_port}", str(free_port()))
        for n, bot in enumerate(bots):
            env[f"IDLE_TOKEN_bot{n}"] = bot.token
            text += BOT.replace("{name}", f"bot{n}").replace("{url}", bot.url)
        (root / "inbox.toml").write_text(text)
        (root / "routing.toml").write_text('default_team = "support"\n')
        log = (root / "daemon.log").open("w")
        child = subprocess.Popen(
            [sys.executable, "-m", "inbox", "--config", str(root / "inbox.toml"), "run"],
            env=env, stderr=log, cwd=REPO)
        try:
            wait_for(lambda: "school-inbox running" in (root / "daemon.log").read_text(), 60,
                     "the daemon to start")
            for user in users:
                dovecot.wait_until_idle(user, timeout=60)
            polls_before = [len(bot.calls) for bot in bots]
            began, cpu_began = time.monotonic(), cpu_seconds(child.pid)
            samples = [rss_mib(child.pid)]
            while time.monotonic() - began < args.minutes * 60:
                time.sleep(args.interval)
                if child.poll() is not None:
                    sys.exit(f"the daemon exited: {(root / 'daemon.log').read_text()[-2000:]}")
                samples.append(rss_mib(child.pid))
            wall = time.monotonic() - began
            cpu = cpu_seconds(child.pid) - cpu_began
            polls = [len(bot.calls) - before for bot, before in zip(bots, polls_before,
                                                                   strict=True)]
        finally:
            child.terminate()
            child.wait(30)
            log.close()
            for bot in bots:
                bot.stop()
            dovecot.close()
    print(f"Idle daemon, 3 IMAP mailboxes in IDLE + 2 bots long-polling, {wall / 60:.1f} min,"
          f" sampled every {args.interval:g} s (Python {sys.version.split()[0]})\n")
    print("| RSS start MiB | RSS max MiB | RSS end MiB | CPU s | CPU % of one core |"
          " Bot API calls per bot |")
    print("|---|---|---|---|---|---|")
    print(f"| {samples[0]:.1f} | {max(samples):.1f} | {samples[-1]:.1f} | {cpu:.2f} |"
          f" {100 * cpu / wall:.2f} | {', '.join(map(str, polls))} |")


if __name__ == "__main__":
    main()
