"""Agents answering from their own mail client: recognise, authenticate, act.

An agent's reply to a notification arrives on the desk's email channel,
addressed to the notification's Reply-To (``support+t12.<token>@...``). It
counts as the agent's only when all hold: the From address is the agent's
configured address, the token is the HMAC the daemon made for this ticket and
this agent, and the receiving server's ``Authentication-Results`` does not
report a DKIM, SPF or DMARC failure. Then the visible reply (quotes and
signature already stripped by the normaliser) is parsed for a first-line
``#command`` and carried out through :class:`~inbox.actions.Actions`; the
agent's attachments go to the customer, who sees only the school's address.

Anything else that looks like an agent's reply (a token address, or mail from
an agent's address) is left to the pipeline as a message flagged ``review``:
filed in the thread its reply address names (a new thread when it names none),
shown to agents, never relayed, never answered automatically, and it changes
no thread's status.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import re
from dataclasses import replace

from inbox.actions import ActionError, Actions
from inbox.channel import Inbound
from inbox.commands import CommandError, execute, parse_reply
from inbox.config import Config
from inbox.model import Contact, Flag, machine_written
from inbox.notify import Desk, without_notification
from inbox.secrets import SecretError
from inbox.staff import Agent
from inbox.store import NotFound, Store, iso, now_utc

log = logging.getLogger("inbox.agentmail")

_FAILED_CHECK = re.compile(r"\b(dkim|spf|dmarc)\s*=\s*(fail|softfail|permerror)\b", re.I)


class AgentMail:
    """The inbound hook for agents' mail replies (see :mod:`inbox.hooks`)."""

    def __init__(self, store: Store, config: Config):
        self.store = store
        self.config = config
        self.desk = Desk.of(config)
        self.actions = Actions(store, config)

    def claim(self, item: Inbound, contact: Contact) -> bool:
        if self.desk.email is None or item.channel != "email":
            return False
        tokens = [found for address in item.recipients
                  if (found := self.desk.parse_reply_address(address))]
        sender = item.meta.get("from") or item.sender.value  # an agent is known by From
        agents = [agent for agent in self.config.agents.values()
                  if agent.email and agent.email == sender]
        if not tokens and not agents:
            return False  # a customer
        if not tokens and item.account != self.desk.email.name:
            return False  # an agent writing to another school address, as anyone may
        if tokens and machine_written(item.flags):
            # An out-of-office reply to a notice (an absent agent's, with their private
            # phone): nobody wrote it to the parent. Not filed, nobody told (a notice could
            # draw the next one); acted on never.
            log.info("%s: automatic mail %s from %s to a reply address: not relayed",
                     item.account, item.external_id, item.sender.value)
            self.store.record_claim(item.account, item.external_id, "", None, now_utc())
            return True
        # A reply to a reply address is the agent's whichever of our mailboxes reads it (the
        # desk's, a Cc'd one, the one [desk] reply_address names): acted on once, by its id.
        try:
            agent, ticket, refusal = self._authenticate(item, tokens, agents)
        except SecretError as exc:  # the agent is told NOT SENT, and status says why
            agent, ticket, refusal = None, 0, f"the desk's secret cannot be read ({exc})"
        if refusal:
            # Filed by the pipeline as a customer message a human must look at.
            item.flags.add(Flag.REVIEW)
            item.meta["agent-reply-refused"] = refusal
            with contextlib.suppress(SecretError):  # no genuine ticket without the secret
                ticket = self._genuine_ticket(tokens, agents)
            if ticket:  # filed beside the conversation it tries to answer
                item.meta["agent-reply-ticket"] = str(ticket)
            log.warning("%s: mail %s from %s not taken as an agent's reply: %s", item.account,
                        item.external_id, item.sender.value, refusal)
            return False
        if self.store.was_claimed(None, item.external_id):
            return True  # delivered twice, or read again by a renamed channel: acted on once
        self.store.record_claim(item.account, item.external_id, agent.id, ticket, now_utc())
        self._act(item, agent, ticket)
        return True

    def _genuine_ticket(self, tokens: list[tuple[int, str]], agents: list[Agent]) -> int:
        """The thread a refused reply may be filed in: only one its address was really made
        for (a configured agent wrote, or the token is the desk's own for that ticket), so
        a stranger cannot add text to any thread by writing its number; else 0."""
        secret = self.desk.settings.secret
        for ticket, token in tokens:
            if agents or (secret is not None and self._signed_for(ticket, token,
                                                                  list(self.config.agents))):
                return ticket
        return 0

    def _signed_for(self, ticket: int, token: str, agent_ids: list[str]) -> str:
        """The agent (of ``agent_ids``) whose reply address for this thread ``token`` is: made
        with the thread's opening time, or in the first form for a thread numbered before
        migration 16 (the older notifications of an upgraded store; a number given again
        since then never takes one); "" for none."""
        try:
            opened = iso(self.store.thread(ticket).created_at)
        except NotFound:
            return ""
        first_form = ticket <= self.store.first_form_tickets()
        return next((agent_id for agent_id in agent_ids
                     if hmac.compare_digest(token, self.desk.token(ticket, agent_id, opened))
                     or (first_form
                         and hmac.compare_digest(token, self.desk.token(ticket, agent_id)))),
                    "")

    def _authenticate(self, item: Inbound, tokens: list[tuple[int, str]],
                      agents: list[Agent]) -> tuple[Agent | None, int, str]:
        """(agent, ticket, "") when authentic, else (None, 0, why not)."""
        if not tokens:
            return None, 0, "from an agent's address but not to a reply address (no token)"
        if not agents:
            return None, 0, "to a reply address but not from an agent's configured address"
        if self.desk.settings.secret is None:
            return None, 0, "[desk] has no secret_file, so no reply can be authenticated"
        checks = _FAILED_CHECK.search(item.meta.get("authentication-results", ""))
        if checks:
            return None, 0, f"the receiving server says {checks.group(0)}"
        for ticket, token in tokens:
            signed = self._signed_for(ticket, token, [agent.id for agent in agents])
            if signed:
                return next(agent for agent in agents if agent.id == signed), ticket, ""
        if not any(self._exists(ticket) for ticket, _ in tokens):
            numbers = ", ".join(f"#{ticket}" for ticket, _ in tokens)
            return None, 0, (f"{numbers} is no longer in the store (forgotten, purged, or"
                             " gone with a restore from an older backup)")
        return None, 0, "the reply token does not belong to this agent and ticket"

    def _act(self, item: Inbound, agent: Agent, ticket: int) -> None:
        # Not a signature's logo or banner; a photo pasted into the reply, or a PDF Apple Mail
        # marks inline, is what the agent sends.
        pictures = set(item.meta.get("signature-pictures", "").split())
        files = [a for a in item.attachments
                 if not a.decoration and a.content_id not in pictures]
        # Send pressed on the quoted notification: its routing details and help text are
        # for agents, never for the customer. Nothing of the agent's own is no reply.
        text = "" if Flag.QUOTED_ONLY in item.flags else without_notification(item.visible)
        try:
            with self.store.transaction():  # a failing command leaves nothing half done
                command = replace(parse_reply(text), thread_id=ticket)
                execute(command, self.actions, agent.id, via="email", attachments=files)
        except (ActionError, CommandError, NotFound) as exc:
            self.store.log_event(ticket if self._exists(ticket) else None, agent.id,
                                 "agent-mail-refused", {"error": str(exc)})
            if self._exists(ticket):
                self.actions.notifier.tell(
                    agent.id, ticket, f"Your mail was not used: {exc}", urgent=True)

    def _exists(self, ticket: int) -> bool:
        try:
            self.store.thread(ticket)
        except NotFound:
            return False
        return True
