"""How threads and messages look on the command line: the ``--json`` contract and tables.

The JSON keys here are a public contract (DESIGN.md, docs/cli.md): tests and
admins' scripts rely on them, so they change only by adding keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from inbox.model import Message, Thread
from inbox.store import iso


def thread_json(thread: Thread, messages: Sequence[Message] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": thread.id,
        "ticket": thread.ticket,
        "status": thread.status.value,
        "channel": thread.channel,
        "account": thread.account,
        "subject": thread.subject,
        "contact": thread.contact,
        "contact_id": thread.contact_id,
        "language": thread.language,
        "language_confidence": round(thread.language_confidence, 3),
        "segment": thread.segment,
        "team": thread.team,
        "agent": thread.agent,
        "priority": thread.priority,
        "tags": list(thread.tags),
        "flags": list(thread.flags),
        "messages": thread.messages,
        "created_at": iso(thread.created_at),
        "last_message_at": iso(thread.last_message_at),
        "first_response_at": iso(thread.first_response_at),
        "closed_at": iso(thread.closed_at),
        "reopened_from": thread.reopened_from,
    }
    if messages is not None:
        data["messages"] = [message_json(m) for m in messages]
    return data


def message_json(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "direction": message.direction.value,
        "channel": message.channel,
        "sender": message.sender,
        "subject": message.subject,
        "text": message.text,
        "visible_text": message.visible_text,
        "created_at": iso(message.created_at),
        "delivery": message.delivery,
        "flags": list(message.flags),
        "attachments": [
            {"filename": a.filename, "content_type": a.content_type, "size": a.size,
             "sha256": a.sha256}
            for a in message.attachments
        ],
    }


def short_time(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M") if moment else ""


def snippet(text: str, width: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], last_width: int = 50) -> str:
    """A plain aligned table; the last column is cut so a row fits a terminal line."""
    cells = [[str(c) for c in headers]] + [
        [str(c) if c is not None else "" for c in row] for row in rows]
    for row in cells:
        row[-1] = snippet(row[-1], last_width)
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip()
        for row in cells
    )


def thread_text(thread: Thread, messages: Sequence[Message]) -> str:
    lines = [
        f"#{thread.id} {thread.subject}",
        f"  status {thread.status.value} · {thread.channel} ({thread.account}) · "
        f"{thread.contact} · language {thread.language or '?'} · segment "
        f"{thread.segment or '?'}",
        f"  team {thread.team or '-'} · agent {thread.agent or '-'} · priority {thread.priority}"
        + (f" · flags {', '.join(thread.flags)}" if thread.flags else ""),
    ]
    if thread.reopened_from:
        lines.append(f"  continues #{thread.reopened_from} (closed; inbox show"
                     f" {thread.reopened_from})")
    for message in messages:
        delivery = f" [{message.delivery}]" if message.delivery else ""
        flags = f" ({', '.join(message.flags)})" if message.flags else ""
        lines += ["", f"--- {message.direction.value} {short_time(message.created_at)} "
                      f"{message.sender}{delivery}{flags}"]
        lines.append(message.visible_text or message.text)
        for attachment in message.attachments:
            lines.append(f"  [attachment] {attachment.filename} ({attachment.content_type},"
                         f" {attachment.size} bytes)")
    return "\n".join(lines)
