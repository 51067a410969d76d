"""What the reference worker answers in Matrix, and the state its heartbeats report.

People mention the worker: ``status`` gets its state, active tasks, runtime
and skills version; ``work N`` makes it busy with N tasks for a while, then
idle again; a team leader also answers ``team`` with its members' states as
the API reports them; anything else gets a one-line help. The controller's
notices (controller/agent/notices.py) are queued for the main loop, which acts
on them, acknowledges them in its next heartbeat and answers in the room.

Standard library only.
"""

from __future__ import annotations

import queue
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from controller.agent.notices import REPLY_KEY, Notice, ack_note, parse_notice

MAX_TASKS = 1000
MAX_WORK_SECONDS = 3600
MAX_ACKS = 5  # acknowledgements repeated in every heartbeat, newest last


class WorkState:
    """Shared by the Matrix thread (commands) and the main loop (heartbeats, notices)."""

    def __init__(self, work_seconds: float):
        self.work_seconds = work_seconds  # how long ``work N`` lasts unless told
        self.wake = threading.Event()  # set when the main loop should report now
        self.notices: queue.Queue[tuple[str, Notice]] = queue.Queue()
        self.skills_version = ""
        self._lock = threading.Lock()
        self._tasks = 0
        self._busy_until = 0.0
        self._acks: list[str] = []

    def start_work(self, tasks: int, seconds: float) -> None:
        with self._lock:
            self._tasks, self._busy_until = tasks, time.monotonic() + seconds
        self.wake.set()

    def current(self) -> tuple[str, int]:
        """(``busy`` or ``idle``, active tasks): work ends by itself when its time is up."""
        with self._lock:
            if self._tasks and time.monotonic() >= self._busy_until:
                self._tasks = 0
            return ("busy" if self._tasks else "idle"), self._tasks

    def seconds_until_idle(self) -> float | None:
        with self._lock:
            return max(0.0, self._busy_until - time.monotonic()) if self._tasks else None

    def acknowledge(self, notice: Notice) -> None:
        with self._lock:
            self._acks = [*self._acks, ack_note(notice)][-MAX_ACKS:]

    def acks(self) -> list[str]:
        with self._lock:
            return list(self._acks)


class Responder:
    """The Matrix loop's handler: a reply for messages that mention this agent."""

    def __init__(
        self,
        state: WorkState,
        *,
        user_id: str,
        name: str,
        runtime_version: str,
        team_status: Callable[[], str] | None = None,
    ):
        self.state = state
        self.user_id, self.name = user_id, name
        self.runtime_version = runtime_version
        self.team_status = team_status  # only a team leader's worker has one

    def __call__(self, room_id: str, event: dict[str, Any], from_controller: bool) -> dict[str, Any] | None:
        content = event["content"]
        if REPLY_KEY in content:
            return None  # another agent's answer: answering it could loop forever
        notice = parse_notice(content)
        if notice is not None:
            if from_controller and notice.addresses(self.user_id):
                self.state.notices.put((room_id, notice))
                self.state.wake.set()
            return None
        text = addressed_text(content, self.user_id, self.name)
        if text is None:
            return None
        return reply(self.answer(text), event.get("sender", ""))

    def answer(self, text: str) -> str:
        words = text.split()
        verb = words[0].lower() if words else ""
        if verb == "status" and len(words) == 1:
            state, tasks = self.state.current()
            skills = self.state.skills_version or "none"
            return f"{self.name}: {state}, {tasks} active tasks, runtime {self.runtime_version}, skills {skills}"
        if verb == "work":
            work = _work_arguments(words[1:], self.state.work_seconds)
            if work is not None:
                self.state.start_work(*work)
                return f"{self.name}: busy with {work[0]} tasks for {work[1]:g} s" if work[0] else f"{self.name}: idle"
        if verb == "team" and len(words) == 1 and self.team_status is not None:
            return self.team_status()
        return self.help()

    def help(self) -> str:
        team = ", team" if self.team_status is not None else ""
        return f"{self.name} answers: status, work N [seconds]{team}"


def _work_arguments(words: list[str], default_seconds: float) -> tuple[int, float] | None:
    """(tasks, seconds) of ``work N [SECONDS]``, or None when they are not whole numbers in range."""
    if not 1 <= len(words) <= 2 or not all(word.isdigit() for word in words):
        return None
    tasks = int(words[0])
    seconds = float(words[1]) if len(words) == 2 else default_seconds
    if tasks > MAX_TASKS or not 0 < seconds <= MAX_WORK_SECONDS:
        return None
    return tasks, seconds


def addressed_text(content: dict[str, Any], user_id: str, name: str) -> str | None:
    """What follows the mention of this agent, or None when the message does not mention it.

    A mention is the user ID anywhere in the body or in ``m.mentions``, or the
    body starting with the agent's name or localpart (what clients put there
    for a pill), optionally after ``@`` and before ``:`` or ``,``.
    """
    body = content.get("body")
    if not isinstance(body, str) or body.startswith("> "):  # a quoted reply repeats old text
        return None
    localpart = user_id[1:].split(":", 1)[0]
    # The full user ID first: its localpart alone would leave ":server" behind.
    names = "|".join([re.escape(user_id), *(f"@?{re.escape(n)}" for n in (name, localpart) if n)])
    leading = re.match(rf"\s*(?:{names})(?=[\s:,]|$)[:,]?\s*", body, re.IGNORECASE)
    if leading:
        return body[leading.end() :].strip()
    mentions = content.get("m.mentions")
    mentioned = isinstance(mentions, dict) and user_id in (mentions.get("user_ids") or [])
    if mentioned or user_id in body:
        return body.replace(user_id, " ").strip(" :,\t\n")
    return None


def reply(text: str, sender: str) -> dict[str, Any]:
    """A plain ``m.text`` answer that mentions whoever asked."""
    content: dict[str, Any] = {"msgtype": "m.text", "body": f"{sender}: {text}" if sender else text, REPLY_KEY: True}
    if sender:
        content["m.mentions"] = {"user_ids": [sender]}
    return content
