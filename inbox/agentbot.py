"""Agents on Telegram: linking an account, replies to notifications, buttons, /commands.

A message on the desk's bot counts as an agent's only when it comes, in a
private chat, from the Telegram user id linked to that agent (``telegram_id``
in ``[[agents]]``, or linked with ``inbox agents link AGENT`` and the bot's
``/start link-CODE``). Anything from anyone else is a customer's message, left
to the pipeline. An agent's reply to a notification answers that
notification's thread; a ``/command`` or a button press acts on a thread; the
bot answers every agent message with what it did (or why it could not).

In a team's forum staff group (``client = "telegram-group"``) a message in a
thread's topic is the reply to that thread (``#note`` and ``/commands`` work
too) and the bot answers in the topic; what anyone who is not an agent writes
there is dropped, never relayed nor filed.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from inbox.actions import ActionError, Actions
from inbox.channel import NOTICES_FAILING, Inbound
from inbox.commands import (
    HELP,
    Command,
    CommandError,
    execute,
    parse_button,
    parse_reply,
    parse_slash,
    threads_text,
)
from inbox.config import Config
from inbox.model import Contact
from inbox.notify import Desk
from inbox.store import NotFound, Store, now_utc

log = logging.getLogger("inbox.agentbot")
MAX_PARTS = 50  # messages one notification may take: its text's chunks, then files

LINK_PREFIX = "link-"
LINK_VALID = timedelta(days=1)


def where_told(client: str) -> str:
    """Where a linked agent's notifications go: only ``client = "telegram"`` brings them here."""
    if client == "telegram":
        return "Notifications come here."
    elsewhere = "by email" if client == "email" else "nowhere: you read inbox threads"
    return (f'Notifications still go {elsewhere} (client = "{client}" in inbox.toml); ask the'
            ' admin for client = "telegram" to get them here.')


def new_link_code(store: Store, agent_id: str, now: datetime | None = None) -> tuple[str, datetime]:
    """A one-time code that links whoever sends ``/start link-CODE`` to ``agent_id``."""
    code = secrets.token_hex(8)
    expires = (now or now_utc()) + LINK_VALID
    store.add_link_code(code, agent_id, expires)
    return code, expires


class AgentBot:
    """The inbound hook for agents' Telegram messages (see :mod:`inbox.hooks`)."""

    def __init__(self, store: Store, config: Config):
        self.store = store
        self.config = config
        self.desk = Desk.of(config)
        self.actions = Actions(store, config)
        self.notifier = self.actions.notifier

    def claim(self, item: Inbound, contact: Contact) -> bool:
        if self.desk.telegram is None or item.channel != "telegram" or (
                item.account != self.desk.telegram.name):
            return False  # not the desk's bot
        staff_group = item.meta.get("chat_id", "") in self._staff_groups()
        if item.meta.get("chat_type") and not staff_group:
            return False  # a customers' group chat
        if self.store.was_claimed(item.account, item.external_id):
            return True  # delivered twice: acted on the first time
        if staff_group:
            return self._claim_in_group(item)
        user = item.sender.value
        payload = item.meta.get("start_payload", "")
        if payload.startswith(LINK_PREFIX):
            code = payload[len(LINK_PREFIX):]
            already = self.notifier.agent_for_telegram(user)
            meant = self.store.link_code_agent(code, now_utc())
            if already and meant and already != meant:  # a colleague's code, from an agent
                self.store.record_claim(item.account, item.external_id, already, None,
                                        now_utc())
                self.notifier.chat(already, f"Not done: this Telegram account is already"
                                            f" {already}'s. That code links {meant}'s own"
                                            " account, and stays valid for it.")
                return True
            linked = self._link(code, user)
            if linked:
                self.store.record_claim(item.account, item.external_id, linked, None, now_utc())
                agent = self.config.agents[linked]
                # What was notified before the link went nowhere: what is theirs now.
                self.notifier.chat(linked, f"Linked: you are {agent.name} ({agent.id}) at"
                                           f" {self.config.school.name}."
                                           f" {where_told(agent.client)}\n\n"
                                           f"{threads_text(self.actions, linked)}\n\n{HELP}")
                return True
        agent_id = self.notifier.agent_for_telegram(user)
        if not agent_id:
            return False  # a customer (a wrong link code too)
        self.store.record_claim(item.account, item.external_id, agent_id, None, now_utc())
        # They write to the bot, so it can write to them again (they pressed Start).
        self.store.delete_sync(item.account, NOTICES_FAILING + user)
        self._answer(item, agent_id)
        return True

    def _staff_groups(self) -> set[str]:
        return {str(team.telegram_group) for team in self.config.teams.values()
                if team.client == "telegram-group" and team.telegram_group is not None}

    def _claim_in_group(self, item: Inbound) -> bool:
        """Everything in a staff group is claimed: an agent's is acted on, anyone else's dropped."""
        agent_id = self.notifier.agent_for_telegram(item.sender.value)
        if not agent_id:
            log.info("ignored a message from Telegram user %s in staff group %s",
                     item.sender.value, item.meta.get("chat_id"))
            self.store.record_claim(item.account, item.external_id, "", None, now_utc())
            return True
        self.store.record_claim(item.account, item.external_id, agent_id, None, now_utc())
        topic = item.meta.get("message_thread_id", "")
        thread_id = self.store.thread_for_topic(item.meta["chat_id"], int(topic)) if (
            topic.isdigit()) else None
        self._answer(item, agent_id, in_topic=True, topic_thread=thread_id)
        return True

    def _link(self, code: str, user: str) -> str:
        agent_id = self.store.take_link_code(code, now_utc())
        if agent_id is None or agent_id not in self.config.agents:
            log.info("telegram user %s sent an unknown or expired link code", user)
            return ""
        self.store.link_agent(agent_id, "telegram", user, now_utc())
        self.store.log_event(None, agent_id, "agent-linked", {"telegram": user})
        return agent_id

    def _answer(self, item: Inbound, agent_id: str, *, in_topic: bool = False,
                topic_thread: int | None = None) -> None:
        """Act on the agent's message; answer in their chat, or in the topic it came from."""
        thread_id = None
        try:
            command = self._command(item, in_topic, topic_thread)
            thread_id = command.thread_id
            if command.verb == "templates" and thread_id is not None:
                self._offer_templates(agent_id, thread_id, in_topic)
                return
            with self.store.transaction():  # a failing command leaves nothing half done
                answer = execute(command, self.actions, agent_id,
                                 via="telegram-group" if in_topic else "telegram",
                                 attachments=item.attachments)
        except (ActionError, CommandError, NotFound) as exc:
            answer = f"Not done: {exc}"
        self._say(agent_id, answer, thread_id if self._exists(thread_id) else None, in_topic)

    def _say(self, agent_id: str, text: str, thread_id: int | None, in_topic: bool,
             buttons: Sequence[tuple[str, str]] = ()) -> None:
        """In the thread's topic when the agent wrote in the staff group; else their own chat."""
        if in_topic and thread_id is not None:
            self.notifier.topic_post(thread_id, text, buttons)
        else:
            self.notifier.chat(agent_id, text, thread_id, buttons)

    def _command(self, item: Inbound, in_topic: bool, topic_thread: int | None) -> Command:
        """What the agent asked for; a thread comes from the command, the replied message
        or (in a staff group) the topic."""
        if item.edit_of:
            raise CommandError("an edited message is not sent again; send a new reply")
        if "callback_data" in item.meta:
            command = parse_button(item.meta["callback_data"])
            if command is None:
                raise CommandError(f"unknown button {item.meta['callback_data']!r}")
            return command
        replied = topic_thread if in_topic else self._replied_thread(item)
        slash = parse_slash(item.text)
        if slash is not None:
            return slash if slash.thread_id is not None else replace(slash, thread_id=replied)
        if item.meta.get("command") == "start":
            return Command("help")
        if replied is None:
            raise CommandError(
                ("to answer a customer, write in their thread's topic." if in_topic else
                 "to answer a customer, reply to their notification.") + "\n\n" + HELP)
        # "[photo]" is our placeholder for a file sent without a caption: the file goes alone.
        text = "" if item.meta.get("placeholder") else item.visible
        return replace(parse_reply(text), thread_id=replied)

    def _replied_thread(self, item: Inbound) -> int | None:
        reply_to = item.meta.get("reply_to", "")
        if not reply_to:
            return None
        notification = self.store.notification_by_external(item.account, reply_to)
        if notification is not None and notification.recipient == item.meta.get("chat_id"):
            return notification.thread_id
        ticket = item.meta.get("reply_to_ticket")  # a file of a notification: "[#12] scan.pdf"
        if ticket and self._file_of_notification(item.account, reply_to, int(ticket)):
            return int(ticket)
        raise CommandError("that message is not a notification about a thread;"
                           " reply to the notification itself")

    def _file_of_notification(self, account: str, replied: str, thread_id: int) -> bool:
        """Whether the message replied to follows, within its parts, a notification about
        ``thread_id`` to this chat: a caption alone (a thread number that a purge made
        again) must not steer an agent's answer."""
        chat, _, number = replied.partition(":")
        if not number.isdigit():
            return False
        firsts = [f"{chat}:{int(number) - back}" for back in range(1, MAX_PARTS + 1)]
        return self.store.notification_among(account, firsts, thread_id, chat)

    def _offer_templates(self, agent_id: str, thread_id: int, in_topic: bool) -> None:
        names = self.config.desk.templates.names()
        self._say(agent_id, f"Send which template to #{thread_id}?" if names else
                  "No templates are configured.", thread_id, in_topic,
                  buttons=[(name, f"t:{thread_id}:{name}") for name in names])

    def _exists(self, thread_id: int | None) -> bool:
        if thread_id is None:
            return False
        try:
            self.store.thread(thread_id)
        except NotFound:
            return False
        return True
