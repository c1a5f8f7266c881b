"""Who is notified, when (quiet hours), and the [desk] settings and templates that steer it."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest

from inbox.channel import Delivery
from inbox.config import ChannelConfig, load_config
from inbox.model import Identity
from inbox.notify import DeskSettings, Notifier, _fitting, desk_settings
from inbox.sections import Section
from inbox.staff import Agent
from inbox.store import Store, now_utc
from inbox.templates import load_templates
from tests.conftest import REPO, mail
from tests.test_agentmail import DESK_TOML, body, header, sent
from tests.test_care import mail_with_file
from tests.test_maildir_flow import dsn_for

NOW = now_utc()


def opening_hours(hours_from_now: int) -> str:
    """An agent who starts work ``hours_from_now`` hours from now (UTC), every day, for an hour."""
    start = (NOW + timedelta(hours=hours_from_now)).strftime("%H:00")
    end = (NOW + timedelta(hours=hours_from_now + 1)).strftime("%H:00")
    return (f'hours = "{start}-{end}"\ndays = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]\n'
            f'timezone = "UTC"\n')


@pytest.fixture
def world(school):
    (school.root / "desk-secret").write_text("key\n")
    (school.root / "templates").mkdir()

    def make(inbox: str, routing: str = 'default_team = "support"\n') -> Store:
        school.write(inbox, routing)
        return Store(load_config(school.config).store.path)
    school.make = make
    return school


def queued(store: Store, moment: datetime) -> list:
    return [entry for entry in store.due_outbound(moment) if entry.kind == "notification"]


def test_quiet_hours_hold_a_notification_until_the_agents_next_start(world):
    inbox = DESK_TOML.replace('email = "boris@staff.example"\n',
                              'email = "boris@staff.example"\n' + opening_hours(3))
    store = world.make(inbox, 'default_team = "support"\n[[rules]]\nname = "b"\n'
                              '[rules.then]\nagent = "boris"\n')
    world.deliver(mail())
    world.cli("run", "--once")
    assert queued(store, now_utc()) == []
    start = (NOW + timedelta(hours=3)).replace(minute=0, second=0)
    (held,) = queued(store, start + timedelta(seconds=1))
    assert (held.recipient, held.thread_id) == ("boris@staff.example", 1)
    assert queued(store, start - timedelta(seconds=1)) == []
    # Held, it waits for nobody: inbox status neither counts it as late nor as "-5 h" old.
    assert store.outbox_summary(now_utc())["oldest_pending"] is None
    assert store.outbox_summary(start + timedelta(minutes=5))["oldest_pending"] is not None


def test_urgent_news_is_not_held_by_quiet_hours(world):
    inbox = DESK_TOML.replace('email = "boris@staff.example"\n',
                              'email = "boris@staff.example"\n' + opening_hours(3))
    store = world.make(inbox)
    world.deliver(mail())
    world.cli("run", "--once")
    notifier = Notifier(store, load_config(world.config))
    notifier.tell("boris", 1, "SLA breached: first response was due 10 minutes ago",
                  urgent=True)
    (told,) = [e for e in queued(store, now_utc()) if e.recipient == "boris@staff.example"]
    assert told.text.startswith("[#1] SLA breached: first response was due 10 minutes ago\n")


def test_a_thread_whose_agent_left_the_configuration_is_told_to_the_team(world):
    world.make(DESK_TOML, 'default_team = "support"\n[[rules]]\nname = "b"\n'
                          '[rules.then]\nagent = "boris"\n')
    world.deliver(mail())
    world.cli("run", "--once")
    without_boris = DESK_TOML.replace(
        '[[agents]]\nid = "boris"\nname = "Boris"\nclient = "email"\n'
        'email = "boris@staff.example"\n', "").replace('["boris", "aigerim"]', '["aigerim"]')
    world.make(without_boris)
    world.deliver(mail(body="Алло? Ответьте, пожалуйста.", message_id="m2@mail.example"))
    world.cli("run", "--once")
    (told,) = [m for m in sent(world) if m["To"] == "aigerim@staff.example"]
    assert "Алло? Ответьте, пожалуйста." in body(told)


def test_an_unassigned_thread_of_a_manual_team_goes_to_every_member(world):
    store = world.make(DESK_TOML.replace('strategy = "round_robin"', 'strategy = "manual"'))
    world.deliver(mail())
    world.cli("run", "--once")
    assert sorted(m["To"] for m in sent(world)) == [
        "aigerim@staff.example", "boris@staff.example"]
    assert store.thread(1).agent == ""


def test_the_lead_told_of_a_thread_nobody_could_take_learns_why(world):
    away = DESK_TOML.replace('email = "boris@staff.example"\n',
                             'email = "boris@staff.example"\navailable = false\n').replace(
        'email = "aigerim@staff.example"\n',
        'email = "aigerim@staff.example"\navailable = false\n').replace(
        'strategy = "round_robin"', 'strategy = "round_robin"\nlead = "boris"')
    world.make(away)
    world.deliver(mail())
    world.cli("run", "--once")
    (told,) = sent(world)
    assert told["To"] == "boris@staff.example"
    assert header(told, "Subject") == (
        "[#1] Оплата за декабрь — New thread for team support, not assigned: queued: nobody in"
        " team support can take it now (boris is unavailable; aigerim is unavailable); tell"
        " team lead boris")


def test_cli_agents_get_nothingsent(world):
    world.make(DESK_TOML.replace('client = "email"', 'client = "cli"'))
    world.deliver(mail())
    world.cli("run", "--once")
    assert sent(world) == []


def test_a_failed_notification_is_logged_never_notified_again(world):
    store = world.make(DESK_TOML)
    world.deliver(mail())
    world.cli("run", "--once")
    config = load_config(world.config)
    entry = store.outbound(1)
    assert (entry.kind, entry.state.value) == ("notification", "sent")
    before = store.outbox_summary()["counts"]
    with store.transaction():
        Notifier(store, config).delivery_failed(entry, Delivery(ok=False, error="550 no user",
                                                                permanent=True))
    assert store.outbox_summary()["counts"] == before


def test_desk_needs_a_secret_when_agents_answer_by_mail():
    problems: list[str] = []
    desk_settings(Section({}, "inbox.toml: desk", problems),
                  [Agent("boris", "Boris", client="email", email="b@x")])
    assert problems == [
        "inbox.toml: desk: secret_file is required when agents answer by email (boris): a file"
        ' readable only by the service holding a long random key, e.g. secret_file ='
        ' "/etc/school-inbox/desk-secret"']


def test_desk_defaults_and_relative_templates_folder(tmp_path):
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "hello.toml").write_text('[hello]\nen = "Hello!"\n')
    problems: list[str] = []
    settings = desk_settings(Section({"templates_dir": "templates"}, "inbox.toml: desk",
                                     problems, base=tmp_path))
    assert problems == []
    assert settings == DeskSettings()  # templates are not compared
    assert list(settings.templates.names()) == ["hello"]


def test_template_problems_name_the_file(tmp_path):
    (tmp_path / "hello.ru.txt").write_text("Здравствуйте, {name}!")
    (tmp_path / "bye.toml").write_text('[bye]\nen = "Bye {customer_name"\n')
    problems: list[str] = []
    load_templates(tmp_path, problems)
    assert problems == [
        f"{tmp_path}/bye.toml: template 'bye': expected '}}' before end of string"
        " (write a literal brace as {{ or }})",
        f"{tmp_path}/hello.ru.txt: template 'hello': unknown variable {{name}} (variables:"
        " {customer_name}, {ticket}, {agent_name}, {school_name})",
    ]


def test_notifications_for_one_thread_share_a_mail_thread(world):
    world.make(DESK_TOML)
    world.deliver(mail())
    world.deliver(mail(subject="Re: Оплата за декабрь", body="Ещё вопрос", message_id="m2@x",
                       extra="In-Reply-To: <m1@mail.example>\r\n"))
    world.cli("run", "--once")
    first, second = sent(world)
    assert first["References"] == second["References"] == second["In-Reply-To"]
    assert header(second, "Subject") == "[#1] Оплата за декабрь — Ольга wrote again"


def test_mail_no_person_wrote_is_told_as_such_and_not_at_all_on_a_closed_thread(world):
    world.make(DESK_TOML)
    world.deliver(mail())
    world.cli("run", "--once")
    ooo = "In-Reply-To: <m1@mail.example>\r\nAuto-Submitted: auto-replied\r\n"
    world.deliver(mail(subject="Автоответ: Оплата", message_id="ooo1@x", extra=ooo))
    world.cli("run", "--once")
    assert header(sent(world)[-1], "Subject") == (
        "[#1] Оплата за декабрь — an automatic reply from Ольга")
    world.cli("close", "1")
    told = len(sent(world))
    world.deliver(mail(subject="Автоответ: Оплата", message_id="ooo2@x", extra=ooo))
    world.cli("run", "--once")
    assert len(sent(world)) == told


@pytest.mark.parametrize(("action", "told_as"), [
    ("failed", "[#1] Оплата за декабрь — Your reply could not be delivered: bounced"),
    ("delayed", "[#1] Оплата за декабрь — a delivery report about our mail: delayed or"
                " delivered, not failed"),  # resending would give the customer two answers
])
def test_a_delivery_report_about_our_reply_is_told_once_as_what_it_says(world, action,
                                                                         told_as):
    world.make(DESK_TOML)
    world.deliver(mail())
    world.cli("run", "--once")
    world.cli("reply", "1", "--as", "boris", "-m", "Ответ")
    world.cli("run", "--once")
    (reply,) = [m for m in sent(world) if m["To"] == "olga@mail.example"]
    told = len(sent(world))
    world.deliver(dsn_for(reply["Message-ID"]).replace(b"Action: failed",
                                                       f"Action: {action}".encode()))
    world.cli("run", "--once")
    (news,) = sent(world)[told:]
    assert header(news, "Subject").startswith(told_as)


def test_mail_whose_sender_asks_for_no_automatic_answer_gets_no_acknowledgement(world):
    world.make(DESK_TOML + "\n[autoack]\nenabled = true\n")
    world.deliver(mail(extra="X-Auto-Response-Suppress: All\r\n"))
    world.deliver(mail(sender="Пётр <petr@mail.example>", message_id="m2@mail.example"))
    world.cli("run", "--once")
    assert [m["To"] for m in sent(world) if "@mail.example" in m["To"]] == ["petr@mail.example"]


@pytest.mark.parametrize(("answer", "agent_first", "told", "status"), [
    ("2\r\nИ ещё: как поменять email?", False,
     ["Ольга: the automatic FAQ answer did not help; they want a person"], "open"),
    ("1", False, [], "closed"),  # it helped: the thread closes and nobody needs to act
    ("1, и ещё вопрос: где расписание?", False, ["Ольга wrote again"], "open"),
    ("1", True, ["Ольга wrote again"], "open"),  # answering the agent's "1) or 2)?"
])
def test_the_customers_verdict_on_an_faq_answer_is_told_as_what_it_means(
        world, answer, agent_first, told, status):
    world.make(DESK_TOML + f'\n[faq]\nenabled = true\nfolder = "{REPO / "faq"}"\n')
    world.deliver(mail(subject="Пароль", body="Здравствуйте, забыла пароль от личного"
                                             " кабинета, что делать?"))
    world.cli("run", "--once")
    if agent_first:
        world.cli("reply", "1", "--as", "boris", "-m", "Вы ученик: 1) начальной или 2) старшей?")
        world.cli("run", "--once")
    before = len(sent(world))
    world.deliver(mail(subject="Re: Пароль [#1]", body=answer, message_id="m2@mail.example"))
    world.cli("run", "--once")
    news = [m for m in sent(world)[before:] if m["To"] == "boris@staff.example"]
    assert [header(m, "Subject").split(" — ", 1)[1] for m in news] == told
    if "как поменять email" in answer:
        assert "И ещё: как поменять email?" in body(news[0])
    assert json.loads(world.cli("show", "1", "--json").output)["status"] == status


def test_a_bounce_of_the_acknowledgement_names_it_the_automatic_answer(world):
    world.make(DESK_TOML + "\n[autoack]\nenabled = true\n")
    world.deliver(mail())
    world.cli("run", "--once")
    (ack,) = [m for m in sent(world) if m["To"] == "olga@mail.example"]
    told = len(sent(world))
    world.deliver(dsn_for(ack["Message-ID"]))
    world.cli("run", "--once")
    (news,) = sent(world)[told:]
    assert "The automatic answer could not be delivered" in header(news, "Subject")


def test_a_bounce_of_a_notification_is_recorded_not_filed_and_status_names_the_agent(world):
    world.make(DESK_TOML, 'default_team = "support"\n[[rules]]\nname = "b"\n'
                          '[rules.then]\nagent = "boris"\n')
    world.deliver(mail())
    world.cli("run", "--once")
    (notice,) = [m for m in sent(world) if m["To"] == "boris@staff.example"]
    told = len(sent(world))
    world.deliver(dsn_for(notice["Message-ID"]))  # Boris's mailbox is full
    world.cli("run", "--once")
    # Not in the customer's thread: it quotes our internal copy, which export-contact shows.
    assert [(t["id"], t["messages"]) for t in json.loads(
        world.cli("threads", "--json").output)] == [(1, 1)]
    assert sent(world)[told:] == []  # no new thread to tell the same full mailbox about
    status = world.cli("status", ok=False)
    assert status.exit_code == 1
    assert "notifications to agent boris have failed since" in status.output


def test_the_customers_files_go_along_with_the_notification(world):
    world.make(DESK_TOML)
    scan = b"%PDF-1.4 " + bytes(range(256)) * 20
    world.deliver(mail_with_file("f1@mail.example", "olga@mail.example", "справка.pdf", scan))
    world.cli("run", "--once")
    (note,) = sent(world)
    files = [part for part in note.walk() if part.get_filename()]
    assert [(p.get_filename(), p.get_payload(decode=True)) for p in files] == [
        ("справка.pdf", scan)]


def test_a_program_the_customer_sent_is_listed_and_not_passed_on_to_staff(world):
    world.make(DESK_TOML)
    program = b"MZ" + b"\0" * 58 + (64).to_bytes(4, "little") + b"PE\0\0" + b"\x90" * 200
    world.deliver(mail_with_file("f1@mail.example", "olga@mail.example", "счёт.pdf.exe",
                                 program))
    world.cli("run", "--once")
    (note,) = sent(world)
    assert [part.get_filename() for part in note.walk() if part.get_filename()] == []
    assert "Attachments: счёт.pdf.exe (268 B, a program: not sent along)" in body(note)


def test_a_file_that_does_not_fit_is_said_to_be_in_inbox_show(world):
    world.make(DESK_TOML)
    video = b"%PDF-1.4 " + b"x" * (8 * 2**20)  # over the ~7 MB a notification mail carries
    world.deliver(mail_with_file("f1@mail.example", "olga@mail.example", "урок.pdf", video))
    world.cli("run", "--once")
    (note,) = sent(world)
    assert [part.get_filename() for part in note.walk() if part.get_filename()] == []
    assert "Attachments: урок.pdf (8.0 MB)\nOne file did not fit in this message:" \
           " inbox show 1 has it.\n" in body(note)


def test_a_notification_a_mailbox_refused_for_its_files_goes_again_without_them(world):
    store = world.make(DESK_TOML)
    world.deliver(mail_with_file("f1@mail.example", "olga@mail.example", "scan.pdf",
                                 b"%PDF-1.4 scan"))
    world.cli("run", "--once")
    (sent_one,) = [store.outbound(row[0]) for row in store.conn.execute(
        "SELECT id FROM outbox WHERE kind = 'notification'")]
    assert [a.filename for a in sent_one.attachments] == ["scan.pdf"]
    Notifier(store, load_config(world.config)).delivery_failed(sent_one, Delivery(
        ok=False, permanent=True, error="552 5.3.4 Message size exceeds fixed limit"))
    again = store.outbound(store.conn.execute("SELECT max(id) FROM outbox").fetchone()[0])
    assert (again.recipient, again.attachments) == (sent_one.recipient, ())
    assert again.text.endswith("(Its files could not be sent along: 552 5.3.4 Message size"
                               " exceeds fixed limit; inbox show 1 lists them.)")


def test_files_mailed_with_one_notification_stay_within_a_mailbox_budget():
    desk = ChannelConfig("email", "desk", None, SimpleNamespace(max_attachment_bytes=25 * 2**20))
    files = [(1, 5 * 2**20), (2, 30 * 2**20), (3, 3 * 2**20), (4, 1 * 2**20)]
    assert _fitting(files, desk, 7 * 2**20) == [1, 4]  # 2 is over the cap, 3 over the budget
    assert _fitting(files, desk) == [1, 3, 4]  # one Telegram message per file: no budget


def test_an_unreadable_desk_secret_files_and_routes_mail_and_status_says_why(world):
    world.make(DESK_TOML)
    (world.root / "desk-secret").unlink()  # e.g. the file was not installed on this server
    assert world.cli("check", "--connect", ok=False).output.splitlines()[-1].startswith(
        "desk secret: FAILED ")
    world.deliver(mail())
    world.cli("run", "--once")
    thread = json.loads(world.cli("show", "1", "--json").output)
    assert (thread["flags"], thread["agent"]) == ([], "boris")  # not quarantined: routed
    (note,) = sent(world)
    assert note["Reply-To"] is None and "Replies to this mail cannot be taken now" in body(note)
    status = world.cli("status", ok=False)
    assert status.exit_code == 1
    assert "agents cannot answer notifications by mail:" in status.output
    (world.root / "desk-secret").write_text("key\n")
    world.deliver(mail(message_id="m2@mail.example", body="Алло?"))
    world.cli("run", "--once")
    assert "agents cannot answer" not in world.cli("status", ok=False).output


def test_forgetting_someone_who_wrote_in_anothers_thread_deletes_the_notices_quoting_them(
        world):
    store = world.make(DESK_TOML)
    world.deliver(mail())
    world.cli("run", "--once")
    world.deliver(mail(sender="Мама <mama@mail.example>", message_id="m2@mail.example",
                       body="Мой телефон квокка-555", extra="In-Reply-To: <m1@mail.example>\r\n"))
    world.cli("run", "--once")
    mama = store.contact_for(Identity("email", "mama@mail.example")).id
    world.cli("export-contact", str(mama), "-o", str(world.root / "mama"))
    exported = json.loads((world.root / "mama" / "contact.json").read_text())
    (quoted,) = exported["outbox"]  # that a notice quoted her, not Olga's thread's details
    assert quoted["about_message_id"] == exported["messages"][0]["id"]
    assert set(quoted) == {"id", "kind", "state", "created_at", "about_message_id"}
    olga = json.loads(world.cli("show", "1", "--json").output)["contact_id"]
    world.cli("export-contact", str(olga), "-o", str(world.root / "olga"))
    hers = json.loads((world.root / "olga" / "contact.json").read_text())["outbox"]
    assert hers and not [e for e in hers if "Reply-To" in e["headers"]]  # no agent's token
    done = world.cli("forget-contact", str(mama), "--yes").output
    assert "1 messages, 1 raw, 0 attachments, 1 events, 1 outbox" in done  # the notice quoting her
    assert not [row for row in store.conn.execute("SELECT text FROM outbox")
                if "квокка" in row[0]]


def test_an_attachment_too_big_to_keep_is_listed_as_not_kept(world):
    world.make(DESK_TOML)
    world.write(world.config.read_text().replace(
        'from_name = "Test School"', 'from_name = "Test School"\nmax_attachment_mb = 0.001'))
    world.deliver(mail_with_file("f1@mail.example", "olga@mail.example", "scan.pdf",
                                 b"%PDF" + b"x" * 5000))
    world.cli("run", "--once")
    (note,) = sent(world)
    assert "Attachments: scan.pdf (5 KB, too big: not kept)" in body(note)  # 5,004 bytes


def test_a_bounce_of_nothing_we_sent_still_reaches_an_agent(world):
    world.make(DESK_TOML)
    world.deliver(mail())
    world.cli("run", "--once")
    told = len(sent(world))
    world.deliver(dsn_for("<never-ours@elsewhere.example>").replace(
        b"Subject: Undelivered", b"In-Reply-To: <m1@mail.example>\r\nSubject: Undelivered"))
    world.cli("run", "--once")
    assert len(sent(world)) == told + 1


def test_someone_other_than_the_contact_writing_in_a_thread_is_named_as_such(world):
    world.make(DESK_TOML)
    world.deliver(mail())
    world.deliver(mail(subject="Re: Оплата за декабрь", sender="Папа <papa@mail.example>",
                       message_id="m2@x", extra="In-Reply-To: <m1@mail.example>\r\n"))
    world.cli("run", "--once")
    _, second = sent(world)
    assert header(second, "Subject") == (
        "[#1] Оплата за декабрь — Папа, not Ольга, wrote in this thread;"
        " answers go to Ольга only")
