"""Property tests: no update JSON, however odd, escapes the Telegram reader as an exception."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.telegram_updates import parse_update, read_update
from inbox.model import Flag

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63), st.floats(),
                    st.text(max_size=40))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=5)),
    max_leaves=20)

user = st.fixed_dictionaries({"id": st.integers(-10, 2**40), "is_bot": st.booleans(),
                              "first_name": st.text(max_size=20)},
                             optional={"language_code": st.text(max_size=8),
                                       "username": st.text(max_size=20)})
chat = st.fixed_dictionaries({"id": st.integers(-2**40, 2**40),
                              "type": st.sampled_from(["private", "group", "supergroup",
                                                       "channel", "odd"])})
message = st.fixed_dictionaries(
    {"message_id": st.integers(-5, 2**31), "date": st.integers(-10, 2**32), "chat": chat},
    optional={"from": user, "text": st.text(max_size=300), "caption": st.text(max_size=50),
              "photo": st.lists(st.fixed_dictionaries(
                  {"file_id": st.text(max_size=10), "file_unique_id": st.text(max_size=10),
                   "width": st.integers(), "height": st.integers()},
                  optional={"file_size": st.integers()}), max_size=3),
              "document": st.fixed_dictionaries(
                  {"file_id": st.text(max_size=10), "file_unique_id": st.text(max_size=10)},
                  optional={"file_name": st.text(max_size=30),
                            "mime_type": st.text(max_size=20)}),
              "sticker": values, "location": values, "contact": values, "voice": values,
              "entities": values})
updates = st.one_of(
    st.fixed_dictionaries({"update_id": st.integers(-5, 2**31)},
                          optional={"message": message, "edited_message": message,
                                    "callback_query": values, "my_chat_member": values}),
    st.dictionaries(st.text(max_size=15), values, max_size=6),
    values,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(updates)
def test_any_update_is_read_or_kept_flagged_with_its_raw_json(raw):
    found = read_update(parse_update(raw), raw, account="bot", groups=False)
    if found is None:
        return  # nothing for the inbox (a group message, a membership change): confirmed only
    inbound = found.inbound
    assert inbound.raw == json.dumps(raw, ensure_ascii=False).encode("utf-8")
    assert inbound.account == "bot"
    assert inbound.external_id
    if Flag.QUARANTINED in inbound.flags:
        assert inbound.text.startswith("[an update the inbox could not read")
