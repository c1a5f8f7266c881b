"""Reference: django-helpdesk 2.6.1 ingesting the same benchmark mailbox from Dovecot.

Issue 3 states its targets against django-helpdesk measured "on this kind of machine with
this same mailbox" (~50 msg/s, ~9 ms CPU per message, 71 MB). This shared VM's speed drifts
by a factor of three between days, so this measures that yardstick again on the day, for
comparing ``bench/email_ingest.py`` with it rather than with seconds from another day::

    python3 -m venv /tmp/dh && /tmp/dh/bin/pip install django-helpdesk==2.6.1
    (sleep 100000 | .venv/bin/python bench/email_ingest.py --n 5000 --seed 42 --serve) &
    /tmp/dh/bin/python bench/helpdesk_reference.py --toml PATH/inbox.toml --n 5000

(``--serve`` prints the inbox.toml path.) django-helpdesk deletes what it ingests: every
run needs a freshly seeded server. Not a dependency of school-inbox, nor run by the tests.

Each step is a child process of this one, measured with ``os.wait4``: a throw-away Django
project (SQLite file, one IMAP queue) is set up unmeasured; ``django.setup()`` alone three
times (the median start-up is subtracted); then ``helpdesk.email.process_email()`` once,
helpdesk's own entry point (``manage.py get_email``). Notifications to senders are
rendered, as helpdesk does, and dropped by Django's dummy mail backend. Counts are checked
against the generator's manifest.
"""

from __future__ import annotations

import argparse
import imaplib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import Counter
from pathlib import Path

SETTINGS = '''\
from pathlib import Path
WORK = Path({work!r})
SECRET_KEY = "bench-not-secret"
DEBUG = False                       # DEBUG=True would keep every SQL query in memory
ALLOWED_HOSTS = ["localhost"]
USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
SITE_ID = 1                         # helpdesk builds ticket URLs from django.contrib.sites
INSTALLED_APPS = [                  # as in helpdesk's install docs, minus pinax_teams
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.sites",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "helpdesk",
]
MIDDLEWARE = []
ROOT_URLCONF = "dhbench_urls"       # helpdesk reverse()s "helpdesk:public_view" for mails
TEMPLATES = [{{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "DIRS": [],
    "APP_DIRS": True,
    "OPTIONS": {{"context_processors": []}},
}}]
DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3",
                          "NAME": str(WORK / "db.sqlite3")}}}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
MEDIA_ROOT = str(WORK / "media")
MEDIA_URL = "/media/"
STATIC_URL = "/static/"
# Notification mails to submitters are still rendered (helpdesk's normal work) but never leave
# the process: "dummy" drops them, "locmem" keeps them in django.core.mail.outbox.
EMAIL_BACKEND = "django.core.mail.backends.{backend}.EmailBackend"
DEFAULT_FROM_EMAIL = "support@example.com"
HELPDESK_TEAMS_MODE_ENABLED = False  # default True needs pinax_teams (not installed)
# Webhooks are off already: they only fire if HELPDESK_*_WEBHOOK_URLS env vars are set
# (run_dh.py removes them from the children's environment).
LOGGING = {{
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {{"file": {{"class": "logging.FileHandler", "level": "WARNING",
                          "filename": str(WORK / "helpdesk.log"),
                          "formatter": "plain"}}}},
    "formatters": {{"plain": {{"format": "%(levelname)s %(name)s: %(message)s"}}}},
    "root": {{"handlers": ["file"], "level": "WARNING"}},
}}
'''

URLS = '''\
from django.urls import include, path
urlpatterns = [path("helpdesk/", include("helpdesk.urls", namespace="helpdesk"))]
'''

CHILD_SETUP = '''\
import django, json, sys
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0, interactive=False)
from django.utils import timezone
from datetime import timedelta
from helpdesk.models import Queue
cfg = json.loads(sys.argv[1])
Queue.objects.create(
    title="Support", slug="support", email_address="support@example.com",
    allow_email_submission=True, email_box_type="imap", email_box_ssl=False,
    email_box_host=cfg["host"], email_box_port=cfg["port"],
    email_box_user=cfg["user"], email_box_pass=cfg["password"],
    email_box_imap_folder="INBOX", email_box_interval=0,
    email_box_last_check=timezone.now() - timedelta(hours=1),
    logging_type="warn",   # WARNING+ of the queue logger -> root -> helpdesk.log
)
'''

CHILD_STARTUP = 'import django; django.setup()\n'

CHILD_INGEST = '''\
import django
django.setup()
from helpdesk.email import process_email
process_email()
'''

CHILD_COUNT = '''\
import django, json
from collections import Counter
django.setup()
from helpdesk.models import Ticket, FollowUp, FollowUpAttachment, TicketCC, Queue
q = Queue.objects.get(slug="support")

def check_manifest():
    """Compare with gen_mailbox.py's ground truth (manifest.jsonl next to inbox.toml)."""
    import sys, pathlib, unicodedata
    path = pathlib.Path(sys.argv[1])
    if not path.exists():
        return None
    lines = path.read_text(encoding="utf-8").splitlines()
    summary, metas = json.loads(lines[0])["summary"], [json.loads(x) for x in lines[1:]]
    by_mid = {f.message_id: f for f in FollowUp.objects.select_related("ticket")}
    norm = lambda t: " ".join(unicodedata.normalize("NFC", t).split())
    found = text_ok = title_ok = 0
    bad_text = Counter()
    for m in metas:
        f = by_mid.get(m["message_id"])
        if f is None:
            continue
        found += 1
        body = norm(f.comment or "")
        if all(norm(t) in body for t in m["expect_text"][:2]):
            text_ok += 1
        else:
            bad_text[f"{m['charset']}/{m['cte']}"] += 1
        if m["reply_kind"] == "root" and norm(f.ticket.title) == norm(m["title_expected"]):
            title_ok += 1
    return {"roots": summary["roots"], "replies": summary["replies"], "found": found,
            "body_text_ok": text_ok, "body_text_bad_by_charset_cte": dict(bad_text),
            "root_titles_ok": title_ok}
print(json.dumps({
    "tickets": Ticket.objects.count(),
    "followups": FollowUp.objects.count(),
    "followups_with_message_id": FollowUp.objects.exclude(message_id__isnull=True)
                                               .exclude(message_id="").count(),
    "attachments": FollowUpAttachment.objects.count(),
    "html_body_attachments": FollowUpAttachment.objects.filter(
        filename="email_html_body.txt").count(),
    "ticket_ccs": TicketCC.objects.count(),
    "last_check": str(q.email_box_last_check),
    "manifest": check_manifest(),
}))
'''


def run_child(code: str, work: Path, env: dict, *args: str) -> dict:
    """Run ``python -c code`` in ``work``; wall, user+sys CPU and peak RSS of that child.

    Output goes to files (not pipes) so nothing reaps the child before ``os.wait4``.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", code, *args], cwd=work, env=env,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = code_ = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        o, e = out.read(), err.read()
    return {"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "user": ru.ru_utime,
            "sys": ru.ru_stime, "rss_mb": ru.ru_maxrss / 1024, "code": code_,
            "stdout": o.decode("utf-8", "replace"), "stderr": e.decode("utf-8", "replace")}


def run_checked(name: str, code: str, work: Path, env: dict, *args: str) -> dict:
    r = run_child(code, work, env, *args)
    if r["code"] != 0:
        raise SystemExit(f"{name} child exited {r['code']}:\n{r['stderr'][-4000:]}")
    return r


def imap_count(cfg: dict) -> int:
    m = imaplib.IMAP4(cfg["host"], cfg["port"])
    m.login(cfg["user"], cfg["password"])
    typ, data = m.select("INBOX", readonly=True)
    n = int(data[0])
    m.logout()
    return n


def summarize_log(path: Path) -> Counter:
    """helpdesk's warnings and errors during the ingest, by kind (numbers folded)."""
    kinds: Counter = Counter()
    if not path.exists():
        return kinds
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if re.match(r"^(WARNING|ERROR|CRITICAL) ", line):  # not a traceback's lines
            level, _, msg = line.partition(" ")
            kinds[level + " " + re.sub(r"b?'\d+'|\d+", "#", msg)[:110]] += 1
    return kinds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--toml", required=True, type=Path, help="inbox.toml printed by --serve")
    ap.add_argument("--n", required=True, type=int, help="messages seeded (for per-msg figures)")
    ap.add_argument("--email-backend", choices=["dummy", "locmem"], default="dummy")
    ap.add_argument("--startup-repeats", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="keep the temp project dir")
    ap.add_argument("--json", type=Path, help="also write all figures as JSON here")
    args = ap.parse_args(argv)

    toml = tomllib.loads(args.toml.read_text(encoding="utf-8"))
    acc = toml["email"][0]
    cfg = {"host": acc["host"], "port": int(acc["port"]), "user": acc["username"],
           "password": Path(acc["password_file"]).read_text(encoding="utf-8").strip()}

    before = imap_count(cfg)
    if before != args.n:
        print(f"WARNING: INBOX holds {before} messages, --n says {args.n}", file=sys.stderr)

    work = Path(tempfile.mkdtemp(prefix="dh-bench-"))
    (work / "media").mkdir()
    (work / "dhbench_settings.py").write_text(
        SETTINGS.format(work=str(work), backend=args.email_backend), encoding="utf-8")
    (work / "dhbench_urls.py").write_text(URLS, encoding="utf-8")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HELPDESK_", "DJANGO_", "PYTHON"))}
    env.update(DJANGO_SETTINGS_MODULE="dhbench_settings", PYTHONPATH=str(work),
               PYTHONHASHSEED="0")
    try:
        setup = run_checked("setup", CHILD_SETUP, work, env, json.dumps(cfg))
        (work / "helpdesk.log").unlink(missing_ok=True)
        # warm the OS page cache / .pyc of the settings module before measuring
        startups = [run_checked("startup", CHILD_STARTUP, work, env)
                    for _ in range(args.startup_repeats)]
        startup = {k: statistics.median(s[k] for s in startups)
                   for k in ("wall", "cpu", "user", "sys", "rss_mb")}

        ingest = run_checked("ingest", CHILD_INGEST, work, env)
        log_kinds = summarize_log(work / "helpdesk.log")
        left = imap_count(cfg)
        counts = json.loads(run_checked("count", CHILD_COUNT, work, env,
                                         str(args.toml.parent / "manifest.jsonl"))["stdout"])
        rerun = run_checked("rerun", CHILD_INGEST, work, env)

        n = args.n
        net_cpu = ingest["cpu"] - startup["cpu"]
        net_wall = ingest["wall"] - startup["wall"]
        fu, tk = counts["followups"], counts["tickets"]
        res = {
            "n": n, "inbox_before": before, "left_on_server": left,
            "email_backend": args.email_backend, "counts": counts,
            "startup": startup, "ingest": {k: v for k, v in ingest.items()
                                           if k not in ("stdout", "stderr")},
            "rerun_empty": {k: v for k, v in rerun.items() if k not in ("stdout", "stderr")},
            "setup_wall": setup["wall"],
            "cpu_ms_per_msg": 1000 * net_cpu / n,
            "cpu_ms_per_msg_gross": 1000 * ingest["cpu"] / n,
            "msg_per_s_wall": n / ingest["wall"],
            "msg_per_s_wall_net": n / net_wall if net_wall > 0 else None,
            "msg_per_s_cpu_net": n / net_cpu if net_cpu > 0 else None,
            "log": dict(log_kinds),
        }
        p = print
        p(f"django-helpdesk ingest, N={n} (INBOX had {before}), email backend={args.email_backend}")
        p(f"  tickets={tk}  followups={fu}  (replies threaded into an existing ticket = {fu - tk})"
          f"  attachments={counts['attachments']}"
          f" (html-body .txt: {counts['html_body_attachments']})"
          f"  ticket_ccs={counts['ticket_ccs']}")
        mf = counts.get("manifest")
        if mf:
            rp = mf["replies"]
            p(f"  ground truth (manifest): roots={mf['roots']} replies={rp} -> helpdesk threads "
              f"only by In-Reply-To, so expected tickets = N - irt+refs = {n - rp['irt+refs']}")
            p(f"  manifest check: found {mf['found']}/{n} Message-IDs; body text ok "
              f"{mf['body_text_ok']}; root titles ok {mf['root_titles_ok']}/{mf['roots']}; "
              f"body text wrong by charset/cte: {mf['body_text_bad_by_charset_cte']}")
        p(f"  messages processed (1 FollowUp each) = {fu}/{n}; left on IMAP server = {left}")
        p(f"  startup-only child (django.setup(), median of {len(startups)}): "
          f"cpu {startup['cpu']:.3f} s, wall {startup['wall']:.3f} s,"
          f" rss {startup['rss_mb']:.1f} MB")
        p(f"  ingest child: cpu {ingest['cpu']:.2f} s (user {ingest['user']:.2f} + sys "
          f"{ingest['sys']:.2f}), wall {ingest['wall']:.2f} s, peak RSS {ingest['rss_mb']:.1f} MB")
        p(f"  rerun on empty mailbox: cpu {rerun['cpu']:.3f} s, wall {rerun['wall']:.3f} s")
        p(f"  => CPU per message (ingest - startup)/N = {res['cpu_ms_per_msg']:.2f} ms"
          f"  (gross {res['cpu_ms_per_msg_gross']:.2f} ms)")
        p(f"  => msg/s: {res['msg_per_s_wall']:.1f} by wall (whole child), "
          f"{res['msg_per_s_wall_net'] or 0:.1f} by wall minus startup, "
          f"{res['msg_per_s_cpu_net'] or 0:.1f} by net CPU")
        p(f"  => peak RSS {ingest['rss_mb']:.1f} MB")
        if log_kinds:
            p("  helpdesk log (WARNING+) during ingest:")
            for k, c in log_kinds.most_common(12):
                p(f"    {c:6d}  {k}")
        if ingest["stderr"].strip():
            p("  ingest stderr (tail): " + ingest["stderr"].strip()[-600:])
        if args.json:
            args.json.write_text(json.dumps(res, indent=2), encoding="utf-8")
        return 0
    finally:
        if args.keep:
            print(f"  project kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
