"""The service-quality hooks, built from the configuration in the order they must run.

Survey answers are claimed (before the pipeline would reopen the closed
thread); a new thread is acknowledged before the FAQ answer follows; the SLA
clock and the survey also have ``check(now)``, which the daemon's timer job runs.
"""

from __future__ import annotations

from inbox.autoack import AutoAck, autoack_of
from inbox.config import Config
from inbox.faqanswer import FaqAnswerer, faq_of
from inbox.sla import SlaClock, Teller, escalation_of
from inbox.store import Store
from inbox.survey import SurveySender, survey_of


def quality_hooks(store: Store, config: Config, notifier: Teller) -> list[object]:
    return [
        SurveySender(store, config, notifier, survey_of(config)),
        AutoAck(store, config, autoack_of(config)),
        FaqAnswerer(store, config, faq_of(config)),
        SlaClock(store, config, notifier, escalation_of(config)),
    ]
