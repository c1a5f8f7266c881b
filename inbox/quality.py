"""The service-quality hooks, built from the configuration in the order they must run.

Survey answers are claimed (before the pipeline would reopen the closed
thread); a new thread is acknowledged before the FAQ answer follows; the SLA
clock and the survey also have ``check(now)``, which the daemon's timer job runs.
"""

from __future__ import annotations

from inbox.autoack import AutoAck
from inbox.config import Config
from inbox.faqanswer import FaqAnswerer
from inbox.sla import SlaClock, Teller
from inbox.store import Store
from inbox.survey import SurveySender


def quality_hooks(store: Store, config: Config, notifier: Teller) -> list[object]:
    return [
        SurveySender(store, config, notifier, config.survey),
        AutoAck(store, config, config.autoack),
        FaqAnswerer(store, config, config.faq),
        SlaClock(store, config, notifier, config.escalation),
    ]
