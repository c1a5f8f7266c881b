"""Load ``inbox.toml`` and the ``routing.toml`` it points at into frozen, typed objects.

Each file is parsed once; every problem in both files is collected and raised
together as one :class:`~inbox.sections.ConfigError`, each line naming the file
and the entry. Channel tables are found, not listed here: ``[[telegram]]`` is
read by ``connectors.telegram``, so a new messenger is one new module in
``connectors/`` with a ``SECTION`` name, ``settings()`` and ``create()``.
Finding and reading the file, and its ``[store]`` table, live in
:mod:`inbox.config_file`: all that the commands which only read threads need.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from inbox.config_file import StoreSettings, read_or_refuse, read_toml, store_settings_from
from inbox.sections import ConfigError, Section
from inbox.staff import Agent, Team, WorkingHours

if TYPE_CHECKING:
    from inbox.autoack import AutoackSettings
    from inbox.care import RetentionSettings
    from inbox.faqanswer import FaqSettings
    from inbox.greeting import GreetingSettings
    from inbox.notify import DeskSettings
    from inbox.sla import EscalationSettings
    from inbox.survey import SurveySettings
    from routing.calendar import BusinessCalendar
    from routing.rules import Routing

CLIENTS = ("email", "telegram", "cli")
STRATEGIES = ("round_robin", "least_open", "manual")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HOURS_KEYS = ("hours", "days", "timezone")  # an [[agents]] entry's working hours
CORE_TABLES = ("school", "store", "routing", "threads", "outbox", "agents", "teams", "sla", "desk",
               "greeting", "autoack", "faq", "survey", "escalation", "retention")


@dataclass(frozen=True)
class School:
    name: str = "School"
    languages: tuple[str, ...] = ("en",)
    default_language: str = "en"


@dataclass(frozen=True)
class ThreadSettings:
    reopen_days: int = 14  # a reply to a closed thread within this many days reopens it


@dataclass(frozen=True)
class OutboxSettings:
    max_attempts: int = 12
    first_retry_seconds: float = 30.0
    max_retry_seconds: float = 3600.0
    interval_seconds: float = 2.0


@dataclass(frozen=True)
class SlaPolicy:
    """Response targets a routing rule (or ``default_sla``) puts on a thread."""

    name: str
    first_response: timedelta
    resolution: timedelta
    business_hours: bool = True  # count only the [school] calendar's working time
    warn_at: float = 0.8  # share of the target after which the agent is warned

    def add(self, start: datetime, span: timedelta, calendar: BusinessCalendar) -> datetime:
        """``start`` plus ``span`` of this policy's time: business hours or the wall clock."""
        return calendar.add_business_time(start, span) if self.business_hours else start + span

    def elapsed(self, first: datetime, second: datetime,
                calendar: BusinessCalendar) -> timedelta:
        """The policy's time between two moments (what its clocks count)."""
        if self.business_hours:
            return calendar.business_time_between(first, second)
        return second - first


@dataclass(frozen=True)
class ChannelConfig:
    """One configured channel: which connector module reads it and its parsed settings."""

    kind: str
    name: str
    module: ModuleType = field(compare=False, repr=False)
    settings: Any = None


@dataclass(frozen=True)
class Config:
    path: Path
    school: School
    calendar: BusinessCalendar
    store: StoreSettings
    threads: ThreadSettings
    outbox: OutboxSettings
    agents: dict[str, Agent]
    teams: dict[str, Team]
    sla: dict[str, SlaPolicy]
    desk: DeskSettings
    greeting: GreetingSettings
    autoack: AutoackSettings
    faq: FaqSettings
    survey: SurveySettings
    escalation: EscalationSettings
    retention: RetentionSettings
    channels: tuple[ChannelConfig, ...]
    routing: Routing
    routing_path: Path

    def channel(self, name: str) -> ChannelConfig:
        for channel in self.channels:
            if channel.name == name:
                return channel
        raise KeyError(name)

    def has_channel(self, name: str) -> bool:
        """Whether a channel of that name is configured: a thread from one that is gone (removed
        or renamed) cannot be answered."""
        return any(channel.name == name for channel in self.channels)


def load_config(path: str | Path) -> Config:
    """Read and validate everything; raise :class:`ConfigError` listing every problem."""
    # Imported here, not at the top: commands that only read the store need no more
    # of the configuration than ``store_settings`` reads, and these cost them ~40 ms.
    from inbox.greeting import greeting_settings
    from routing.calendar import calendar_from_section

    path = Path(path)
    data, problems = read_or_refuse(path)
    top = Section(data, path.name, problems, base=path.parent)

    school_section = top.table("school")
    calendar = calendar_from_section(school_section)
    languages = tuple(lang.lower() for lang in school_section.texts("languages", ("en",)))
    if not languages:
        school_section.problem('languages must list at least one language (e.g. ["ru", "en"])')
        languages = ("en",)
    for language in languages:
        if why := _language_problem(language):
            school_section.problem(f"languages: {why}")
    default_language = school_section.text("default_language", languages[0]).lower()
    if default_language not in languages:
        school_section.problem(
            f"default_language {default_language!r} is not in languages ({', '.join(languages)})")
    school = School(school_section.text("name", "School"), languages, default_language)
    school_section.done()

    store = store_settings_from(top.table("store"))
    threads_section = top.table("threads")
    threads = ThreadSettings(threads_section.integer("reopen_days", 14, minimum=0))
    threads_section.done()
    outbox = _outbox_settings(top.table("outbox"))

    agents = {}
    for section in top.tables("agents", label="id"):
        agent = _agent(section)
        if agent.id in agents:
            section.problem(f"agent id {agent.id!r} is used twice")
        agents[agent.id] = agent
    teams = {}
    for section in top.tables("teams"):
        team = _team(section, agents)
        if team.name in teams:
            section.problem(f"team {team.name!r} is defined twice")
        teams[team.name] = team

    sla = {}
    for section in top.tables("sla"):
        policy = _sla(section)
        if policy.name in sla:
            section.problem(f"SLA policy {policy.name!r} is defined twice")
        sla[policy.name] = policy

    # These modules build on Config themselves: import them late too.
    from inbox.autoack import autoack_settings
    from inbox.care import retention_settings
    from inbox.faqanswer import faq_settings
    from inbox.notify import desk_settings
    from inbox.sla import escalation_settings
    from inbox.survey import survey_settings

    desk = desk_settings(top.table("desk"), agents.values())
    greeting = greeting_settings(top.table("greeting"))
    quality = {
        "autoack": autoack_settings(top.table("autoack")),
        "faq": faq_settings(top.table("faq")),
        "survey": survey_settings(top.table("survey")),
        "escalation": escalation_settings(top.table("escalation")),
        "retention": retention_settings(top.table("retention")),
    }

    routing_section = top.table("routing")
    routing_path = routing_section.path("file", "routing.toml")
    if not routing_path.exists():
        routing_section.problem(
            f"file {routing_path} does not exist: create it (config/routing.example.toml is a"
            f" start) or set [routing] file to the routing file's name")
    routing_section.done()

    channels = []
    for key in data:
        if key in CORE_TABLES:
            continue
        module = _connector(key)
        if module is None:
            top.seen.add(key)
            problems.append(
                f"{path.name}: unknown table [{key}] (known: {', '.join(CORE_TABLES)},"
                f" and channels: {', '.join(channel_kinds())})")
            continue
        for section in top.tables(key):
            settings = _school_defaults(module.settings(section), section, school, store)
            name = getattr(settings, "name", "") or ""
            if any(channel.name == name for channel in channels):
                section.problem(f"channel name {name!r} is used twice; names must be unique")
            channels.append(ChannelConfig(key, name, module, settings))
    top.done()
    channels = _with_own_addresses(channels, desk.reply_address)
    names = [c.name for c in channels]
    for table, settings in quality.items():
        unknown = [name for name in getattr(settings, "channels", ()) if name not in names]
        if unknown:  # a typo would silently switch the feature off
            problems.append(f"{path.name}: {table}: channels {unknown} are not configured"
                            f" channels (channels: {', '.join(names) or 'none'})")
    kinds = {c.name: getattr(c.module, "KIND", c.kind) for c in channels}
    for key, kind in (("email_channel", "email"), ("telegram_channel", "telegram")):
        name = getattr(desk, key)
        if name and kinds.get(name) != kind:
            known = ", ".join(n for n, k in kinds.items() if k == kind) or "none configured"
            problems.append(f"{path.name}: desk: {key} {name!r} is not a configured {kind}"
                            f" channel ({kind} channels: {known})")
    problems += _unreachable_staff(path.name, agents, teams, set(kinds.values()))

    routing = None
    routing_data = read_toml(routing_path, problems) if routing_path.exists() else None
    if routing_data is not None:
        routing = _parse_routing(routing_data, routing_path.name, teams, agents, sla,
                                 languages, [c.name for c in channels],
                                 desk.templates.names(), problems)
    if problems:
        raise ConfigError(problems)
    return Config(path, school, calendar, store, threads, outbox, agents, teams, sla, desk,
                  greeting, **quality, channels=tuple(channels), routing=routing,
                  routing_path=routing_path)


def _unreachable_staff(file: str, agents: dict[str, Agent], teams: dict[str, Team],
                       kinds: set[str]) -> list[str]:
    """Agents and teams whose client no configured channel serves: every notice to them
    would be dropped at run time, with advice (``agents link``) that cannot work."""
    problems = []
    for client, needs in (("telegram", "a [[telegram]] bot"),
                          ("email", "an [[email]] or [[maildir]] channel")):
        names = [agent.id for agent in agents.values() if agent.client == client]
        if names and client not in kinds:
            problems.append(f'{file}: agents {", ".join(names)}: client = "{client}" needs'
                            f" {needs} to reach them: configure one, or give them another"
                            f' client ("email", "telegram" or "cli")')
    groups = [team.name for team in teams.values() if team.client == "telegram-group"]
    if groups and "telegram" not in kinds:
        problems.append(f'{file}: teams {", ".join(groups)}: client = "telegram-group" needs a'
                        " [[telegram]] bot to post in the staff group: configure one, or remove"
                        " client")
    return problems


def _school_defaults(settings: Any, section: Section, school: School,
                     store: StoreSettings) -> Any:
    """A channel's keys that default to the school's: replies carry the school's name,
    and ``[store] max_attachment_mb`` caps attachments (a bot's own lower cap stays)."""
    if hasattr(settings, "from_name") and not section.has("from_name"):
        settings = replace(settings, from_name=school.name)
    if hasattr(settings, "max_attachment_bytes") and not section.has("max_attachment_mb"):
        settings = replace(settings, max_attachment_bytes=min(
            settings.max_attachment_bytes, store.max_attachment_bytes))
    return settings


def _with_own_addresses(channels: list[ChannelConfig],
                        reply_address: str) -> list[ChannelConfig]:
    """Tell each mail channel the school's other addresses, not only its own.

    The desk's reply address never writes as a person: mail from it is ours. Another
    mailbox of the school (office@ writing to support@) may be a person, but must get no
    automatic answer: our acknowledgement coming back through it would start a loop.
    """
    addresses = [getattr(c.settings, "address", "").lower() for c in channels]
    mailed = []
    for channel, own in zip(channels, addresses, strict=True):
        if hasattr(channel.settings, "own_addresses"):
            channel = replace(channel, settings=replace(
                channel.settings,
                own_addresses=tuple(a for a in (reply_address.lower(),) if a and a != own),
                school_addresses=tuple(dict.fromkeys(
                    a for a in addresses if a and a != own))))
        mailed.append(channel)
    return mailed


def load_routing(config: Config, path: Path | None = None) -> Routing:
    """Re-read only the routing file (SIGHUP, file change, ``rules test --rules``)."""
    path = path or config.routing_path
    data, problems = read_or_refuse(path)
    routing = _parse_routing(data, path.name, config.teams, config.agents, config.sla,
                             config.school.languages, [c.name for c in config.channels],
                             config.desk.templates.names(), problems)
    if problems:
        raise ConfigError(problems)
    return routing


def _parse_routing(data: dict[str, Any], name: str, teams: dict[str, Team],
                   agents: dict[str, Agent], sla: dict[str, SlaPolicy],
                   languages: tuple[str, ...], accounts: list[str], templates: list[str],
                   problems: list[str]) -> Routing:
    from routing.rules import parse_routing

    routing, found = parse_routing(
        data, name, teams=teams.keys(), agents=agents.keys(), sla_policies=sla.keys(),
        languages=languages, channels=set(channel_kinds().values()), accounts=accounts,
        templates=templates)
    problems.extend(found)
    return routing


_LANGUAGE_CODE = re.compile(r"[a-z]{2}")


def _language_problem(code: str) -> str:
    """Why ``code`` cannot name a language of the school or an agent ("" when it can)."""
    from routing.language import unknown_language

    if not _LANGUAGE_CODE.fullmatch(code):
        return f'{code!r} is not a two-letter ISO 639-1 code (e.g. "ru", "kk", "en")'
    return unknown_language(code)
_DECLARED = re.compile(r'^(SECTION|KIND) = "(\w+)"', re.MULTILINE)


def channel_kinds() -> dict[str, str]:
    """Channel tables this installation knows, and the kind of thread each one makes.

    Read from the connector modules' source (their top-level ``SECTION`` and
    ``KIND``) rather than imported: every command reads the configuration, and
    importing every connector would load python-telegram-bot and imapclient even
    for a school that uses neither.
    """
    import connectors

    kinds = {}
    for entry in sorted(Path(connectors.__file__).parent.glob("*.py")):
        declared = dict(_DECLARED.findall(entry.read_text(encoding="utf-8")))
        if declared.get("SECTION") == entry.stem:
            kinds[entry.stem] = declared.get("KIND", entry.stem)
    return kinds


def _connector(name: str) -> ModuleType | None:
    if not name.isidentifier() or name.startswith("_"):
        return None
    try:
        module = importlib.import_module(f"connectors.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"connectors.{name}":
            return None
        raise  # a connector whose own dependency is missing must say so, not vanish
    if getattr(module, "SECTION", None) != name:
        return None
    return module


def _outbox_settings(section: Section) -> OutboxSettings:
    settings = OutboxSettings(
        max_attempts=section.integer("max_attempts", 12, minimum=1),
        first_retry_seconds=section.number("first_retry_seconds", 30, minimum=0),
        max_retry_seconds=section.number("max_retry_seconds", 3600, minimum=1),
        interval_seconds=section.number("interval_seconds", 2, minimum=0.1),
    )
    section.done()
    return settings


def _agent(section: Section) -> Agent:
    agent_id = section.text("id")
    client = section.choice("client", CLIENTS, "cli")
    email = section.text("email", "")
    telegram_id = section.integer("telegram_id", None)
    if client == "email" and not email:
        section.problem('client = "email" needs email = "the agent\'s address"')
    hours = None
    # Known keys whether given or not, so a misspelt key's hint lists them too.
    section.seen.update(HOURS_KEYS)
    if any(section.has(key) for key in HOURS_KEYS):
        from routing.calendar import clock_minutes

        span = section.text("hours", "09:00-18:00")
        start, _, end = span.partition("-")
        try:  # the school calendar's rule: "24:00" only as an end
            clock_minutes(start)
            clock_minutes(end, end=True)
        except ValueError:
            section.problem(f'hours {span!r} must look like "09:00-18:00"')
            start, end = "09:00", "18:00"
        days = tuple(day.lower() for day in section.texts("days", WEEKDAYS[:5]))
        unknown = [d for d in days if d not in WEEKDAYS]
        if unknown:
            section.problem(f"days {unknown} are not weekdays (use: {', '.join(WEEKDAYS)})")
        hours = WorkingHours(
            days=tuple(WEEKDAYS.index(d) for d in days if d in WEEKDAYS),
            start=start, end=end, timezone=_timezone(section, "timezone", "UTC"),
        )
    languages = tuple(language.lower() for language in section.texts("languages", ()))
    for language in languages:
        if why := _language_problem(language):
            section.problem(f"languages: {why}")
    agent = Agent(
        id=agent_id or "", name=section.text("name", agent_id or ""),
        languages=languages, client=client, email=email.lower(),
        telegram_id=telegram_id, hours=hours, available=section.flag("available", True),
    )
    section.done()
    return agent


def _team(section: Section, agents: dict[str, Agent]) -> Team:
    team = Team(
        name=section.text("name") or "",
        members=section.texts("members", ()),
        strategy=section.choice("strategy", STRATEGIES, "round_robin"),
        lead=section.text("lead", ""),
        fallback=section.text("fallback", ""),
        client=section.choice("client", ("telegram-group", ""), ""),
        telegram_group=section.integer("telegram_group", None),
    )
    if team.client == "telegram-group" and team.telegram_group is None:
        section.problem('client = "telegram-group" needs telegram_group = <the forum group\'s'
                        ' chat id, e.g. -1001234567890>')
    known = ", ".join(agents) or "none defined"
    for member in team.members:
        if member not in agents:
            section.problem(f"member {member!r} is not an agent (agents: {known})")
    for role in ("lead", "fallback"):
        who = getattr(team, role)
        if who and who not in agents:
            section.problem(f"{role} {who!r} is not an agent (agents: {known})")
    section.done()
    return team


def _sla(section: Section) -> SlaPolicy:
    policy = SlaPolicy(
        name=section.text("name") or "",
        first_response=section.duration("first_response"),
        resolution=section.duration("resolution"),
        business_hours=section.flag("business_hours", True),
        warn_at=section.number("warn_at", 0.8, minimum=0.1),
    )
    if policy.warn_at >= 1:
        section.problem(f"warn_at must be below 1 (a share of the target), not {policy.warn_at}")
    for key in ("first_response", "resolution"):
        if section.has(key) and not getattr(policy, key):
            section.problem(f"{key} must be longer than 0: every thread would be late at once")
    if policy.resolution and policy.first_response > policy.resolution:
        section.problem("first_response must not be longer than resolution (a thread is"
                        " resolved after its first answer)")
    section.done()
    return policy


def _timezone(section: Section, key: str, default: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    name = section.text(key, default)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        section.problem(f"{key} {name!r} is not a known time zone (e.g. \"Asia/Almaty\")")
        return default
    return name
