"""Agents' commands, as written in a mail reply, a Telegram message or a button press.

Parsing is pure (text in, :class:`Command` out); :func:`execute` carries a
command out through :class:`inbox.actions.Actions`, so the event log, the
outbox and collision checks are the same whichever client the agent used.

In a reply (mail or Telegram) the first line may be a command::

    #note TEXT      internal note (the rest of the message too)
    #pending        send the rest, then mark the thread pending
    #close          send the rest (if any), then close
    #reopen         reopen, then send the rest (if any)
    #take           assign to yourself, then send the rest (if any)
    #assign NAME    hand over; the rest becomes a note for the team
    #t NAME         send the canned answer NAME (the rest is ignored)

In the agent's Telegram chat: ``/threads``, ``/take N``, ``/assign N WHO``,
``/note N TEXT``, ``/close N``, ``/reopen N``, ``/pending N``, ``/t [N] NAME``
(N may be left out in a reply to a notification), ``/templates``, ``/help``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from inbox.actions import ActionError, Actions
from inbox.model import Attachment, Status
from inbox.notify import size_text

_REPLY_COMMAND = re.compile(
    r"^#(?P<verb>note|pending|close|reopen|take|assign|t)(?:\s+(?P<rest>.*))?$", re.I)
# "#notes", "#note:", "#priority": a first line meant as a command that is not one of ours
_LIKE_COMMAND = re.compile(r"^#[^\W\d]\S*")
# "*#note* …": a mail client's plain text of a bold or italic command (Gmail writes so)
_EMPHASIS = re.compile(r"^[*_~]+(#[^\W\d]\w*)[*_~]+")
_SLASH_VERBS = {"threads", "take", "assign", "note", "close", "reopen", "pending", "t",
                "templates", "help"}
_STATUS = {"close": Status.CLOSED, "pending": Status.PENDING, "reopen": Status.OPEN}
HELP = (
    "Reply to a notification to answer the customer; a first line #note makes it an internal"
    " note, #close / #pending / #reopen / #take also send the rest, #assign NAME hands over,"
    " #t NAME"
    " sends a template.\n"
    "/threads — your open threads\n/take N · /close N · /reopen N · /pending N\n"
    "/assign N NAME · /note N TEXT · /t NAME (as a reply) or /t N NAME · /templates"
)


@dataclass(frozen=True)
class Command:
    """What an agent asked for. ``verb``: reply, note, close, pending, reopen, take, assign,
    template, threads, templates, help. ``argument``: an agent id or template name;
    ``text``: what is sent (reply, close, pending, take, reopen) or noted (note, assign)."""

    verb: str
    thread_id: int | None = None
    argument: str = ""
    text: str = ""


class CommandError(Exception):
    """The command cannot be understood; the text tells the agent how to write it."""


def parse_reply(text: str) -> Command:
    """A mail or Telegram reply: a first-line ``#command``, or plain text to send."""
    body = text.strip()
    first, _, rest = body.partition("\n")
    first = _EMPHASIS.sub(r"\1", first.strip())
    found = _REPLY_COMMAND.match(first)
    if not found:
        mistyped = _LIKE_COMMAND.match(first)
        if mistyped:  # sending it would hand the customer what was meant for the desk
            raise CommandError(
                f"{mistyped[0]} is not a command, so nothing was sent. A first line may be"
                " #note, #pending, #close, #reopen, #take, #assign NAME or #t NAME (to send a text"
                " that starts with #, begin it with another word)")
        return Command("reply", text=body)
    verb = found["verb"].lower()
    inline = (found["rest"] or "").strip()
    if verb in ("assign", "t"):
        if not inline:
            raise CommandError(f"#{verb} needs a name: #{verb} "
                               f"{'NAME' if verb == 't' else 'AGENT'}")
        name, _, more = inline.partition(" ")
        note = "\n".join(filter(None, (more.strip(), rest.strip())))
        return Command("template" if verb == "t" else "assign", argument=name.lower(),
                       text=note if verb == "assign" else "")
    return Command(verb, text="\n".join(filter(None, (inline, rest.strip()))))


def parse_slash(text: str) -> Command | None:
    """A ``/command`` in the agent's chat; None when the text is not one of ours."""
    if not text.startswith("/"):
        return None
    head, _, rest = text.strip().partition(" ")
    verb = head[1:].partition("@")[0].lower()
    if verb not in _SLASH_VERBS:
        return None
    words = rest.split()
    number = int(words[0].lstrip("#")) if words and words[0].lstrip("#").isdigit() else None
    if number is not None:
        rest = rest.split(None, 1)[1] if len(words) > 1 else ""
        words = words[1:]
    if verb in ("assign", "t"):
        if not words:
            raise CommandError(f"/{verb} needs a name: /{verb}"
                               f"{' N AGENT' if verb == 'assign' else ' NAME'}")
        return Command("template" if verb == "t" else "assign", number, words[0].lower())
    if verb == "note":
        if not rest.strip():
            raise CommandError("/note needs a text: /note N TEXT")
        return Command("note", number, text=rest.strip())
    return Command(verb, number)


def parse_button(data: str) -> Command | None:
    """Inline button data: ``take:12``, ``close:12``, ``templates:12``, ``t:12:NAME``."""
    verb, _, tail = data.partition(":")
    number, _, name = tail.partition(":")
    if verb not in ("take", "close", "templates", "t") or not number.isdigit():
        return None
    return Command("template" if verb == "t" else verb, int(number), name)


def execute(command: Command, actions: Actions, agent_id: str, *, via: str,
            attachments: Sequence[Attachment] = ()) -> str:
    """Do it; returns a one-line confirmation for the agent. Raises ActionError.

    ``attachments`` are what the agent attached, as the connector read them: one it could
    not keep (over the channel's size cap) refuses the whole command, since the customer
    would get the text without the file and nobody would know.
    """
    too_big = [a for a in attachments if a.data is None]
    if too_big:
        names = ", ".join(f"{a.filename} ({size_text(a.size)})" for a in too_big)
        raise ActionError(f"{names}: too big for this channel, so nothing was done; send"
                          " a smaller file, or a link to it")
    verb, thread_id = command.verb, command.thread_id
    if verb == "help":
        return HELP
    if verb == "threads":
        return threads_text(actions, agent_id)
    if verb == "templates":
        names = actions.config.desk.templates.names()
        return "Templates: " + (", ".join(names) if names else "none configured")
    if thread_id is None:
        raise ActionError(f"which thread? reply to its notification or give its number"
                          f" (/{'t' if verb == 'template' else verb} 12 ...)")
    if verb == "reply":
        done = actions.reply(thread_id, agent_id, command.text, attachments=attachments,
                             via=via)
        # Queued, not sent: delivery comes later, and a failure is told separately.
        return f"Queued for {done.thread.contact} (#{thread_id})."
    if verb == "note":
        actions.note(thread_id, agent_id, command.text, attachments=attachments)
        return f"Note added to #{thread_id}."
    if verb == "template":
        actions.send_template(thread_id, agent_id, command.argument, via=via,
                              attachments=attachments)
        return f"Template {command.argument!r} queued for #{thread_id}."
    if verb == "assign":  # the note first: its files go with the handover's notification
        noted = (actions.note(thread_id, agent_id, command.text, attachments=attachments)
                 if command.text or attachments else None)
        actions.assign(thread_id, command.argument, by=agent_id, note=command.text,
                       note_id=noted)
        return f"#{thread_id} assigned to {command.argument}."
    said = []
    if verb == "reopen":
        actions.set_status(thread_id, Status.OPEN, by=agent_id)
    if verb == "take":
        actions.assign(thread_id, agent_id, by=agent_id)
    if command.text or attachments:
        actions.reply(thread_id, agent_id, command.text, attachments=attachments, via=via)
        said.append("reply queued")
    if verb in ("close", "pending"):
        actions.set_status(thread_id, _STATUS[verb], by=agent_id)
    state = {"take": "taken", "close": "closed", "pending": "pending",
             "reopen": "reopened"}[verb]
    return f"#{thread_id} {state}" + (f" ({', '.join(said)})." if said else ".")


def threads_text(actions: Actions, agent_id: str) -> str:
    """The agent's open and pending threads, then the unassigned ones of their teams."""
    store, config = actions.store, actions.config
    teams = {team.name for team in config.teams.values() if agent_id in team.members}
    mine, waiting = [], []
    for thread in store.threads(limit=500):
        if thread.status is Status.CLOSED:
            continue
        line = f"#{thread.id} {thread.status.value} · {thread.contact} · {thread.subject[:50]}"
        if thread.agent == agent_id:
            mine.append(line)
        elif not thread.agent and thread.team in teams:
            waiting.append(line)
    parts = ["Yours:", *(mine or ["(none)"])]
    if waiting:
        parts += ["Unassigned in your teams:", *waiting]
    return "\n".join(parts)
