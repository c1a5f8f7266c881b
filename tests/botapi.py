"""A Telegram Bot API server on loopback, for tests that drive python-telegram-bot for real.

It speaks the methods school-inbox uses, with Telegram's answers and error texts:
``getUpdates`` confirms every update below ``offset`` for good and long-polls for
``timeout`` seconds; sends are checked (4096 characters, blocked users, replies to
unknown messages) and rate-limited like Telegram does (a burst of 3 then 1 message
per second per chat, 30 per second per bot), so a client that floods gets 429s and
:attr:`BotApiServer.rate_limited` says how many. Faults are injected per method.

Usage::

    with BotApiServer() as server:
        bot = telegram.Bot(server.token, base_url=f"{server.url}/bot",
                           base_file_url=server.file_url)
        server.user_message(42, "hello")
        ...
        server.wait_for_sent(1, timeout=5)
"""

from __future__ import annotations

import contextlib
import json
import math
import socket
import sys
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest

TOKEN = "123456:TEST-school-inbox-token"
MAX_TEXT = 4096  # UTF-16 code units, the stricter reading of Telegram's "4096 characters"
MAX_CAPTION = 1024
MAX_DOWNLOAD = 20 * 2**20  # getFile refuses bigger files on the public Bot API
SEND_METHODS = frozenset({"sendmessage", "senddocument", "sendphoto"})
DEFAULT_ALLOWED = frozenset(
    {"message", "edited_message", "channel_post", "edited_channel_post", "callback_query",
     "my_chat_member", "inline_query", "chosen_inline_result"}
)


class ApiError(Exception):
    """A Telegram error answer: HTTP status, description and optional ``parameters``."""

    def __init__(self, status: int, description: str, parameters: dict | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


DROP = ApiError(0, "connection closed without an answer")  # a fault that sends nothing


@dataclass(frozen=True)
class UploadedFile:
    filename: str
    content_type: str
    data: bytes


@dataclass
class SentMessage:
    """One message the bot sent; ``text`` is the text or the caption."""

    method: str
    chat_id: int
    message_id: int
    text: str
    files: list[UploadedFile] = field(default_factory=list)
    reply_to: int | None = None
    reply_markup: dict | None = None
    message_thread_id: int | None = None  # the forum topic it was sent into


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up mid-answer (a long poll cut by shutdown) is not an error."""
        if isinstance(sys.exc_info()[1], BrokenPipeError | ConnectionResetError):
            return
        super().handle_error(request, client_address)


class _Buckets:
    """Token buckets: ``burst`` messages at once, refilled at ``rate`` per second."""

    def __init__(self, burst: float, rate: float):
        self.burst, self.rate = burst, rate
        self.level: dict[Any, tuple[float, float]] = {}

    def _tokens(self, key: Any, now: float) -> float:
        tokens, at = self.level.get(key, (self.burst, now))
        return min(self.burst, tokens + (now - at) * self.rate)

    def wait(self, key: Any, now: float) -> float:
        """Seconds until ``key`` may send one more message (0: now)."""
        return max(0.0, (1 - self._tokens(key, now)) / self.rate)

    def take(self, key: Any, now: float) -> None:
        self.level[key] = (self._tokens(key, now) - 1, now)


class BotApiServer:
    """The server and its test-facing state; every public method is thread-safe."""

    def __init__(
        self,
        token: str = TOKEN,
        *,
        username: str = "school_inbox_test_bot",
        chat_burst: int = 3,
        chat_rate: float = 1.0,
        bot_burst: int = 30,
        bot_rate: float = 30.0,
    ):
        self.token = token
        self.bot_user = {"id": int(token.split(":")[0]), "is_bot": True,
                         "first_name": "School Inbox", "username": username}
        self.sent: list[SentMessage] = []
        self.edits: list[SentMessage] = []
        self.answered: list[str] = []
        self.commands: list[dict] = []
        self.topics: dict[tuple[int, int], str] = {}  # (chat, message_thread_id) -> name
        self.calls: list[tuple[str, dict]] = []  # every API call: (method, params)
        self.rate_limited = 0
        self._chat_buckets = _Buckets(chat_burst, chat_rate)
        self._bot_buckets = _Buckets(bot_burst, bot_rate)
        self._lock = threading.Condition()
        self._updates: list[dict] = []
        self._next_update_id = 1
        self._allowed = DEFAULT_ALLOWED
        self._message_ids: dict[int, int] = defaultdict(int)
        self._messages: dict[tuple[int, int], dict] = {}
        self._files: dict[str, tuple[str, bytes]] = {}  # file_id -> (file_path, data)
        self._callbacks: set[str] = set()
        self._blocked: set[int] = set()
        self._faults: dict[str, deque[ApiError | None]] = defaultdict(deque)
        self._httpd: _Server | None = None
        self._connections: set[socket.socket] = set()
        self._stopping = False

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> BotApiServer:
        handler = type("Handler", (_Handler,), {"api": self})
        self._httpd = _Server(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="botapi",
                         daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        with self._lock:
            self._stopping = True
            self._lock.notify_all()  # wake long polls
        self._httpd.shutdown()
        self._httpd.server_close()
        for conn in list(self._connections):  # keep-alive clients would hold threads forever
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._httpd = None

    def __enter__(self) -> BotApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def file_url(self) -> str:
        return f"{self.url}/file/bot"

    # -- what users do ---------------------------------------------------------------------

    def add_update(self, update: dict) -> dict:
        """Queue an update for getUpdates; ``update_id`` is assigned when missing."""
        with self._lock:
            if "update_id" not in update:
                update = {"update_id": self._next_update_id, **update}
            self._next_update_id = max(self._next_update_id, update["update_id"] + 1)
            self._updates.append(update)
            self._updates.sort(key=lambda item: item["update_id"])
            self._lock.notify_all()
        return update

    def user_message(
        self,
        chat_id: int,
        text: str | None = None,
        *,
        user: dict | None = None,
        chat_type: str | None = None,
        **extra: Any,
    ) -> dict:
        """A user writes to the bot; ``extra`` goes into the message (photo=..., caption=...).

        Returns the update, so a test knows ``update["message"]["message_id"]``.
        """
        message = self._new_message(chat_id, user, chat_type)
        if text is not None:
            message["text"] = text
        message.update(extra)
        return self.add_update({"message": message})

    def topic_message(self, chat_id: int, topic: int, text: str, *, user: dict) -> dict:
        """A user writes in forum topic ``topic`` of group ``chat_id`` (not as a reply).

        As on Telegram, the message replies to the topic's creation message.
        """
        with self._lock:
            created = self._messages[(chat_id, topic)]
        return self.user_message(chat_id, text, user=user, chat_type="supergroup",
                                 message_thread_id=topic, is_topic_message=True,
                                 reply_to_message=created)

    def user_edit(self, chat_id: int, message_id: int, text: str | None = None, *,
                  user: dict | None = None, **changes: Any) -> dict:
        """The user edits an earlier message of theirs: its text, or ``changes`` such as
        ``caption=`` and ``photo=`` (a photo swapped for another)."""
        with self._lock:
            original = dict(self._messages[(chat_id, message_id)])
        original.update(changes, edit_date=int(time.time()))
        if text is not None:
            original["text"] = text
        if user is not None:
            original["from"] = user
        return self.add_update({"edited_message": original})

    def callback_query(self, chat_id: int, data: str, *, message_id: int | None = None,
                       user: dict | None = None) -> dict:
        """The user presses an inline button under the bot's message ``message_id``."""
        with self._lock:
            query_id = f"cb{self._next_update_id}"
            self._callbacks.add(query_id)
            message = self._messages.get((chat_id, message_id or 0)) or {
                "message_id": message_id or 1, "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private"}}
        query = {"id": query_id, "from": user or _default_user(chat_id), "data": data,
                 "chat_instance": str(chat_id), "message": message}
        return self.add_update({"callback_query": query})

    def add_file(self, file_id: str, data: bytes, file_path: str | None = None) -> str:
        """Make bytes downloadable through getFile under ``file_id``."""
        with self._lock:
            self._files[file_id] = (file_path or f"files/{file_id}", data)
        return file_id

    def file_meta(self, file_id: str, **extra: Any) -> dict:
        """The JSON Telegram puts in a message for a stored file (document=..., voice=...)."""
        with self._lock:
            size = len(self._files[file_id][1])
        return {"file_id": file_id, "file_unique_id": f"u-{file_id}", "file_size": size, **extra}

    # -- what tests inspect and break ------------------------------------------------------

    def wait_for_sent(self, count: int, timeout: float = 5.0) -> list[SentMessage]:
        """Wait until the bot has sent ``count`` messages; raise saying what arrived if not."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.sent) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    got = [(m.chat_id, m.text[:40]) for m in self.sent]
                    raise AssertionError(
                        f"waited {timeout} s for {count} sent messages, got {len(got)}: {got}"
                    )
                self._lock.wait(left)
            return list(self.sent)

    def fail_next(self, method: str, status: int, count: int = 1,
                  retry_after: int | None = None, after: int = 0) -> None:
        """Answer ``count`` calls of ``method`` with ``status`` (429, 500, 502, ...).

        ``after`` lets that many calls through first (fail the second part of a split text).
        """
        with self._lock:
            self._faults[method.lower()].extend(
                [None] * after + [_fault(status, retry_after)] * count)

    def drop_next(self, method: str, count: int = 1) -> None:
        """Close the connection on the next ``count`` calls of ``method`` without answering.

        Faults and drops for one method happen in the order they were asked for.
        """
        with self._lock:
            self._faults[method.lower()].extend([DROP] * count)

    def block(self, chat_id: int) -> None:
        """The user blocks the bot: sends to ``chat_id`` get 403."""
        with self._lock:
            self._blocked.add(chat_id)

    def unblock(self, chat_id: int) -> None:
        """The user presses Start again: sends to ``chat_id`` go through."""
        with self._lock:
            self._blocked.discard(chat_id)

    @property
    def pending_updates(self) -> list[dict]:
        """Updates not yet confirmed by an offset."""
        with self._lock:
            return list(self._updates)

    # -- internals -------------------------------------------------------------------------

    def _new_message(self, chat_id: int, user: dict | None, chat_type: str | None) -> dict:
        chat_type = chat_type or ("private" if chat_id > 0 else "supergroup")
        chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
        if chat_type == "private":
            chat["first_name"] = (user or _default_user(chat_id))["first_name"]
        else:
            chat["title"] = f"Group {chat_id}"
        with self._lock:
            self._message_ids[chat_id] += 1
            message = {"message_id": self._message_ids[chat_id], "date": int(time.time()),
                       "chat": chat, "from": user or _default_user(chat_id)}
            self._messages[(chat_id, message["message_id"])] = message
        return message

    def _dispatch(self, method: str, params: dict, files: dict[str, UploadedFile]) -> Any:
        name = method.lower()
        with self._lock:
            self.calls.append((method, params))
            faults = self._faults[name]
            fault = faults.popleft() if faults else None
        if fault is not None:
            raise fault
        handler = getattr(self, f"_api_{name}", None)
        if handler is None:
            raise ApiError(404, "Not Found")
        return handler(params, files)

    def _api_getme(self, params: dict, files: dict) -> dict:
        return self.bot_user

    def _api_deletewebhook(self, params: dict, files: dict) -> bool:
        return True

    def _api_setmycommands(self, params: dict, files: dict) -> bool:
        with self._lock:
            self.commands = _json_param(params, "commands") or []
        return True

    def _api_getupdates(self, params: dict, files: dict) -> list[dict]:
        offset = _int_param(params, "offset")
        limit = min(max(_int_param(params, "limit") or 100, 1), 100)
        deadline = time.monotonic() + float(params.get("timeout") or 0)
        allowed = _json_param(params, "allowed_updates")
        with self._lock:
            if allowed:
                self._allowed = frozenset(allowed)
            if offset is not None and offset < 0:
                self._updates = self._updates[offset:]
            elif offset is not None:  # confirmed: gone for good
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            while True:
                ready = [u for u in self._updates if _kind(u) in self._allowed][:limit]
                left = deadline - time.monotonic()
                if ready or left <= 0 or self._stopping:
                    return ready
                self._lock.wait(left)

    def _api_getfile(self, params: dict, files: dict) -> dict:
        file_id = str(params.get("file_id", ""))
        with self._lock:
            if file_id not in self._files:
                raise ApiError(400, "Bad Request: invalid file_id")
            path, data = self._files[file_id]
        if len(data) > MAX_DOWNLOAD:
            raise ApiError(400, "Bad Request: file is too big")
        return {"file_id": file_id, "file_unique_id": f"u-{file_id}", "file_size": len(data),
                "file_path": path}

    def _api_sendmessage(self, params: dict, files: dict) -> dict:
        text = str(params.get("text", ""))
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if _utf16_len(text) > MAX_TEXT:
            raise ApiError(400, "Bad Request: message is too long")
        return self._send("sendMessage", params, text, [], {"text": text})

    def _api_createforumtopic(self, params: dict, files: dict) -> dict:
        chat_id = _int_param(params, "chat_id")
        name = str(params.get("name", ""))
        if chat_id is None or chat_id > 0:
            raise ApiError(400, "Bad Request: the chat is not a forum")
        if not 1 <= len(name) <= 128:
            raise ApiError(400, "Bad Request: invalid forum topic name specified")
        with self._lock:
            self._message_ids[chat_id] += 1
            topic = self._message_ids[chat_id]  # the id of the topic's creation message
            self._messages[(chat_id, topic)] = {
                "message_id": topic, "date": int(time.time()), "message_thread_id": topic,
                "chat": {"id": chat_id, "type": "supergroup", "title": f"Group {chat_id}",
                         "is_forum": True},
                "from": self.bot_user, "is_topic_message": True,
                "forum_topic_created": {"name": name, "icon_color": 7322096}}
            self.topics[(chat_id, topic)] = name
        return {"message_thread_id": topic, "name": name, "icon_color": 7322096}

    def _api_senddocument(self, params: dict, files: dict) -> dict:
        upload = _upload(params, files, "document", self._files)
        body = {"document": {"file_id": f"sent-{upload.filename}", "file_name": upload.filename,
                             "mime_type": upload.content_type, "file_size": len(upload.data),
                             "file_unique_id": f"u-sent-{upload.filename}"}}
        return self._send("sendDocument", params, _caption(params), [upload], body)

    def _api_sendphoto(self, params: dict, files: dict) -> dict:
        upload = _upload(params, files, "photo", self._files)
        body = {"photo": [{"file_id": f"sent-{upload.filename}", "width": 1, "height": 1,
                           "file_unique_id": f"u-sent-{upload.filename}",
                           "file_size": len(upload.data)}]}
        return self._send("sendPhoto", params, _caption(params), [upload], body)

    def _send(self, method: str, params: dict, text: str, uploads: list[UploadedFile],
              body: dict) -> dict:
        chat_id = _int_param(params, "chat_id")
        if chat_id is None:
            raise ApiError(400, "Bad Request: chat not found")
        reply = _json_param(params, "reply_parameters") or {}
        reply_to = _int_param(params, "reply_to_message_id") or reply.get("message_id")
        allow_missing = reply.get("allow_sending_without_reply") or _json_param(
            params, "allow_sending_without_reply")
        topic = _int_param(params, "message_thread_id")
        with self._lock:
            if chat_id in self._blocked:
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            if topic is not None and (chat_id, topic) not in self.topics:
                raise ApiError(400, "Bad Request: message thread not found")
            original = self._messages.get((chat_id, reply_to)) if reply_to else None
            if reply_to and original is None and not allow_missing:
                raise ApiError(400, "Bad Request: message to be replied not found")
            self._enforce_rate(chat_id)
            self._message_ids[chat_id] += 1
            message = {"message_id": self._message_ids[chat_id], "date": int(time.time()),
                       "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
                       "from": self.bot_user, **body}
            if text and "text" not in body:
                message["caption"] = text
            if original is not None:
                message["reply_to_message"] = original
            if topic is not None:
                message.update(message_thread_id=topic, is_topic_message=True)
            self._messages[(chat_id, message["message_id"])] = message
            self.sent.append(SentMessage(method, chat_id, message["message_id"], text, uploads,
                                         reply_to if original else None,
                                         _json_param(params, "reply_markup"), topic))
            self._lock.notify_all()
        return message

    def _enforce_rate(self, chat_id: int) -> None:
        now = time.monotonic()
        wait = max(self._chat_buckets.wait(chat_id, now), self._bot_buckets.wait(None, now))
        if wait:
            self.rate_limited += 1
            raise _fault(429, max(1, math.ceil(wait)))
        self._chat_buckets.take(chat_id, now)
        self._bot_buckets.take(None, now)

    def _api_editmessagetext(self, params: dict, files: dict) -> dict:
        key = (_int_param(params, "chat_id"), _int_param(params, "message_id"))
        text = str(params.get("text", ""))
        with self._lock:
            message = self._messages.get(key)
            if message is None or message.get("from") != self.bot_user:
                raise ApiError(400, "Bad Request: message to edit not found")
            if message.get("text") == text:
                raise ApiError(400, "Bad Request: message is not modified: specified new message"
                                    " content and reply markup are exactly the same as a current"
                                    " content and reply markup of the message")
            message.update(text=text, edit_date=int(time.time()))
            self.edits.append(SentMessage("editMessageText", key[0], key[1], text))
            return message

    def _api_answercallbackquery(self, params: dict, files: dict) -> bool:
        query_id = str(params.get("callback_query_id", ""))
        with self._lock:
            if query_id not in self._callbacks:
                raise ApiError(400, "Bad Request: query is too old and response timeout expired"
                                    " or query ID is invalid")
            self._callbacks.discard(query_id)
            self.answered.append(query_id)
        return True

    def _download(self, file_path: str) -> bytes | None:
        with self._lock:
            return next((data for path, data in self._files.values() if path == file_path), None)


class _Handler(BaseHTTPRequestHandler):
    api: BotApiServer
    protocol_version = "HTTP/1.1"  # keep-alive, as httpx expects

    def setup(self) -> None:
        super().setup()
        # Without it every answer waits ~45 ms for the client's delayed ACK.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.api._connections.add(self.connection)

    def finish(self) -> None:
        self.api._connections.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests read server.calls instead of stderr noise

    def do_GET(self) -> None:
        self._route()

    def do_POST(self) -> None:
        self._route()

    def _route(self) -> None:
        split = urlsplit(self.path)
        path = unquote(split.path)  # PTB percent-encodes the token's ':' in file URLs
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        file_prefix = f"/file/bot{self.api.token}/"
        if path.startswith(file_prefix):
            data = self.api._download(path[len(file_prefix):])
            if data is None:
                return self._answer(404, b"Not Found", "text/plain")
            return self._answer(200, data, "application/octet-stream")
        prefix, _, method = path.rpartition("/")
        if not prefix.startswith("/bot") or not method:
            return self._error(ApiError(404, "Not Found"))
        if prefix != f"/bot{self.api.token}":
            return self._error(ApiError(401, "Unauthorized"))
        try:
            params, files = _parse_body(self.headers.get("Content-Type", ""), body)
            params.update(parse_qsl(split.query))
            result = self.api._dispatch(method, params, files)
        except ApiError as exc:
            if exc is DROP:
                self.close_connection = True
                return None
            return self._error(exc)
        self._answer(200, json.dumps({"ok": True, "result": result}).encode(), "application/json")

    def _error(self, exc: ApiError) -> None:
        if exc.status == 502:  # nginx in front of Telegram answers this one in HTML
            return self._answer(502, b"<html><body>502 Bad Gateway</body></html>", "text/html")
        answer: dict[str, Any] = {"ok": False, "error_code": exc.status,
                                  "description": exc.description}
        if exc.parameters:
            answer["parameters"] = exc.parameters
        self._answer(exc.status, json.dumps(answer).encode(), "application/json")

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _fault(status: int, retry_after: int | None) -> ApiError:
    if status == 429:
        seconds = retry_after or 1
        return ApiError(429, f"Too Many Requests: retry after {seconds}",
                        {"retry_after": seconds})
    texts = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
             500: "Internal Server Error",
             502: "Bad Gateway"}
    return ApiError(status, texts.get(status, "Error"))


def _parse_body(content_type: str, body: bytes) -> tuple[dict, dict[str, UploadedFile]]:
    """Form, multipart or JSON parameters; structured values stay JSON text, as sent."""
    kind, _, options = content_type.partition(";")
    kind = kind.strip().lower()
    if kind == "application/json":
        data = json.loads(body or b"{}")
        return {k: v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}, {}
    if kind == "multipart/form-data":
        boundary = dict(_header_params(options)).get("boundary", "")
        return _parse_multipart(body, boundary.encode())
    return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True)), {}


def _parse_multipart(body: bytes, boundary: bytes) -> tuple[dict, dict[str, UploadedFile]]:
    params: dict[str, str] = {}
    files: dict[str, UploadedFile] = {}
    for part in body.split(b"--" + boundary)[1:]:
        if part.startswith(b"--"):
            break
        head, _, data = part[2:].partition(b"\r\n\r\n")  # part starts after the line's CRLF
        data = data[:-2]  # the CRLF before the next boundary belongs to it
        headers = {}
        for line in head.decode("utf-8").split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        disposition = dict(_header_params(headers.get("content-disposition", "")))
        if "filename" in disposition:
            files[disposition["name"]] = UploadedFile(
                disposition["filename"], headers.get("content-type", ""), data)
        else:
            params[disposition["name"]] = data.decode("utf-8")
    return params, files


def _header_params(value: str) -> Iterator[tuple[str, str]]:
    for item in value.split(";"):
        key, sep, val = item.strip().partition("=")
        if sep:
            yield key.strip().lower(), val.strip().strip('"')


def _upload(params: dict, files: dict[str, UploadedFile], name: str,
            stored: dict[str, tuple[str, bytes]]) -> UploadedFile:
    value = str(params.get(name, ""))
    if value.startswith("attach://"):
        value = value[len("attach://"):]
        name = value
    if name in files:
        return files[name]
    if value in stored:
        path, data = stored[value]
        return UploadedFile(path.rsplit("/", 1)[-1], "", data)
    raise ApiError(400, f"Bad Request: there is no {name} in the request")


def _caption(params: dict) -> str:
    caption = str(params.get("caption", ""))
    if _utf16_len(caption) > MAX_CAPTION:
        raise ApiError(400, "Bad Request: message caption is too long")
    return caption


def _int_param(params: dict, name: str) -> int | None:
    value = params.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise ApiError(400, f"Bad Request: invalid {name}") from None


def _json_param(params: dict, name: str) -> Any:
    value = params.get(name)
    if not value:
        return None
    try:
        return json.loads(value)
    except ValueError:
        raise ApiError(400, f"Bad Request: can't parse {name} JSON object") from None


def _kind(update: dict) -> str:
    return next((key for key in update if key != "update_id"), "")


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _default_user(chat_id: int) -> dict:
    user_id = chat_id if chat_id > 0 else 1000
    return {"id": user_id, "is_bot": False, "first_name": "User", "last_name": str(user_id)}


@pytest.fixture
def botapi() -> Iterator[BotApiServer]:
    """A started server, stopped after the test."""
    with BotApiServer() as server:
        yield server
