"""Reading tool calls out of a streamed answer: the blocks tools.py's grammar lets the engine write
(`<tool_call>\n{"name": …, "arguments": {…}}\n</tool_call>`, "\n" between blocks) become OpenAI's
tool_calls deltas as the text arrives: a call's id and name first, then fragments of its arguments.
"""

from __future__ import annotations

import re
import uuid

from .tools import CLOSE, ToolPlan

# A call block's head up to its arguments (the grammar's exact text); the first block has no "\n".
HEAD = re.compile(r'\n?<tool_call>\n\{"name": "([A-Za-z0-9_-]{1,64})", "arguments": ')
HEAD_MAX = len('\n<tool_call>\n{"name": "", "arguments": ') + 64
TAIL = "}" + CLOSE


class CallParser:
    """Reads an answer as it streams. `feed(text)` returns what goes out: text (str) for a text
    answer, OpenAI delta bodies ({"tool_calls": [...]}) for calls. A call goes out as its id and
    name, then argument fragments as they arrive; `calls` holds every call seen (name, id, arguments).
    Without tool calls allowed (plan None or "none") the text passes through unread. A block cut off
    (max_tokens) before its name is complete is not a call; finish_reason says "length"."""

    def __init__(self, plan: ToolPlan | None):
        # None: the answer's first character decides between "text" and "calls".
        self.mode = None if plan is not None and plan.calls else "text"
        self.buffer = ""  # every character of a "calls" answer so far
        self.at = 0  # how far into buffer has been read
        self.state = "head"  # what is read next: "head", "args" or "tail" (one method each)
        # The arguments object's nesting, tracked through strings and escapes.
        self.depth = 0
        self.in_string = False
        self.escaped = False
        self.calls: list[dict] = []

    def feed(self, text: str) -> list:
        if self.mode is None and text:
            # The grammar lets "<" begin only a call (tools.py's docstring).
            self.mode = "calls" if text.startswith("<") else "text"
        if self.mode != "calls":
            return [text] if text else []
        self.buffer += text
        out = []
        while self.at < len(self.buffer):
            before = self.at
            out += getattr(self, f"_{self.state}")()
            if self.at == before and self.state != "args":
                break  # waiting for more text
        return out

    def finish_reason(self, reason: str | None) -> str | None:
        return "tool_calls" if self.calls and reason == "stop" else reason

    def _head(self) -> list:
        match = HEAD.match(self.buffer, self.at)
        if match is None:
            if len(self.buffer) - self.at < HEAD_MAX:
                return []
            # Not the grammar's shape (only a server without the grammar could do this): text, not lost.
            self.mode = "text"
            return [self.buffer[self.at :]]
        call = {
            "id": f"call_{uuid.uuid4().hex[:24]}",
            "type": "function",
            "function": {"name": match.group(1), "arguments": ""},
        }
        self.calls.append(call)
        self.at = match.end()
        self.state = "args"
        self.depth = 0
        first = {"id": call["id"], "type": "function", "function": {"name": match.group(1), "arguments": ""}}
        return [{"tool_calls": [{"index": len(self.calls) - 1, **first}]}]

    def _args(self) -> list:
        """The arguments object up to its closing brace, tracked through strings and escapes."""
        start = self.at
        while self.at < len(self.buffer) and self.state == "args":
            char = self.buffer[self.at]
            self.at += 1
            if self.escaped:
                self.escaped = False
            elif self.in_string:
                self.escaped = char == "\\"
                self.in_string = char != '"'
            elif char == '"':
                self.in_string = True
            elif char in "{[":
                self.depth += 1
            elif char in "}]":
                self.depth -= 1
                self.state = "tail" if self.depth == 0 else "args"
        fragment = self.buffer[start : self.at]
        if not fragment:
            return []
        self.calls[-1]["function"]["arguments"] += fragment
        return [{"tool_calls": [{"index": len(self.calls) - 1, "function": {"arguments": fragment}}]}]

    def _tail(self) -> list:
        if self.buffer.startswith(TAIL, self.at):
            self.at += len(TAIL)
            self.state = "head"
        return []
