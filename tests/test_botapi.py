"""The test Bot API server answers like Telegram, spoken to with plain HTTP."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from tests.botapi import BotApiServer


@pytest.fixture
def api():
    with BotApiServer() as server, httpx.Client(base_url=f"{server.url}/bot{server.token}") as http:
        yield server, http


def call(http: httpx.Client, method: str, **params) -> httpx.Response:
    return http.post(f"/{method}", data=params)


def test_updates_below_the_offset_are_confirmed_for_good(api):
    server, http = api
    first = server.user_message(7, "one")["update_id"]
    server.user_message(7, "two")

    both = call(http, "getUpdates").json()["result"]
    assert [u["message"]["text"] for u in both] == ["one", "two"]
    assert [u["message"]["text"] for u in call(http, "getUpdates", offset=first + 1)
            .json()["result"]] == ["two"]
    assert [u["message"]["text"] for u in call(http, "getUpdates", offset=0)
            .json()["result"]] == ["two"], "a confirmed update must never come back"


def test_long_poll_returns_as_soon_as_an_update_arrives(api):
    server, http = api
    threading.Timer(0.3, server.user_message, (7, "late")).start()
    started = time.monotonic()
    result = call(http, "getUpdates", timeout=5).json()["result"]
    elapsed = time.monotonic() - started
    assert [u["message"]["text"] for u in result] == ["late"]
    assert 0.25 < elapsed < 2, elapsed


def test_long_poll_without_updates_waits_for_its_timeout(api):
    _, http = api
    started = time.monotonic()
    assert call(http, "getUpdates", timeout=1).json() == {"ok": True, "result": []}
    assert time.monotonic() - started >= 0.95


def test_wrong_token_is_unauthorized_and_file_urls_are_unquoted(api):
    server, _ = api
    server.add_file("doc", b"%PDF-1.4 bytes", "documents/report.pdf")
    answer = httpx.post(f"{server.url}/bot1:wrong/getMe")
    assert (answer.status_code, answer.json()["description"]) == (401, "Unauthorized")
    quoted = server.token.replace(":", "%3A")  # what PTB puts in file URLs
    assert httpx.get(f"{server.file_url}{quoted}/documents/report.pdf").content == b"%PDF-1.4 bytes"


def test_send_checks_length_blocked_users_and_replies(api):
    server, http = api
    assert call(http, "sendMessage", chat_id=5, text="x" * 4097).json()["description"] == (
        "Bad Request: message is too long")
    assert call(http, "sendMessage", chat_id=5, text="🙂" * 2049).status_code == 400, (
        "4096 is counted in UTF-16 units")
    assert call(http, "sendMessage", chat_id=5, text="hi", reply_to_message_id=99).json()[
        "description"] == "Bad Request: message to be replied not found"
    server.block(5)
    blocked = call(http, "sendMessage", chat_id=5, text="hi")
    assert (blocked.status_code, blocked.json()["description"]) == (
        403, "Forbidden: bot was blocked by the user")
    assert server.sent == []


def test_flooding_one_chat_gets_429_after_a_burst_of_three(api):
    server, http = api
    codes = [call(http, "sendMessage", chat_id=5, text=f"m{n}").status_code for n in range(4)]
    assert codes == [200, 200, 200, 429]
    assert server.rate_limited == 1
    assert call(http, "sendMessage", chat_id=6, text="other chat").status_code == 200


def test_injected_faults_have_telegrams_bodies(api):
    server, http = api
    server.fail_next("sendMessage", 429, retry_after=7)
    server.fail_next("getMe", 502)
    server.drop_next("getMe")
    assert call(http, "sendMessage", chat_id=5, text="hi").json() == {
        "ok": False, "error_code": 429, "description": "Too Many Requests: retry after 7",
        "parameters": {"retry_after": 7}}
    assert call(http, "getMe").status_code == 502
    with pytest.raises(httpx.RemoteProtocolError):
        call(http, "getMe")
    assert call(http, "getMe").json()["result"]["is_bot"] is True
    assert server.rate_limited == 0, "injected 429s are not counted as enforcement"


def test_wait_for_sent_says_what_it_waited_for(api):
    server, http = api
    call(http, "sendMessage", chat_id=5, text="only one")
    with pytest.raises(AssertionError, match=r"waited 0.2 s for 2 sent messages, got 1: "
                                             r"\[\(5, 'only one'\)\]"):
        server.wait_for_sent(2, timeout=0.2)


def test_edits_commands_and_button_answers_are_recorded(api):
    server, http = api
    message_id = call(http, "sendMessage", chat_id=5, text="draft").json()["result"]["message_id"]
    assert call(http, "editMessageText", chat_id=5, message_id=message_id,
                text="final").json()["result"]["text"] == "final"
    unchanged = call(http, "editMessageText", chat_id=5, message_id=message_id, text="final")
    assert unchanged.json()["description"].startswith("Bad Request: message is not modified")
    assert [(m.message_id, m.text) for m in server.edits] == [(message_id, "final")]

    assert call(http, "setMyCommands", commands='[{"command": "start", "description": "Hi"}]'
                ).json()["result"] is True
    assert server.commands == [{"command": "start", "description": "Hi"}]

    query_id = server.callback_query(5, "take:1", message_id=message_id)["callback_query"]["id"]
    assert call(http, "answerCallbackQuery", callback_query_id=query_id).json()["result"] is True
    assert call(http, "answerCallbackQuery", callback_query_id=query_id).status_code == 400
    assert server.answered == [query_id]
