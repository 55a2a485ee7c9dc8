"""A streamed response's event sequence (openai/types/responses/response_stream_event.py), built from
the chat path's deltas (choices.ChoiceStream), which already trim, count and read tool calls:

    response.created, response.in_progress
    a text answer:  response.output_item.added (message), response.content_part.added (output_text),
                    response.output_text.delta …, response.output_text.done,
                    response.content_part.done, response.output_item.done
    tool calls:     per call response.output_item.added (function_call),
                    response.function_call_arguments.delta …, response.function_call_arguments.done,
                    response.output_item.done
    response.completed (response.incomplete when max_output_tokens cut it off), with usage

Every event carries sequence_number, counted from 0; an error after the 200 went out is an `error`
event followed by response.failed, as OpenAI streams it.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from . import responses_output as shapes
from .errors import OpenAIError


class ResponseEvents:
    """shape(status, output, usage) → the Response object (responses_output.response, its id fixed)."""

    def __init__(self, shape: Callable[..., dict]):
        self.shape = shape
        self.sequence = 0
        self.items: list[dict] = []  # the output items as they stand
        self.finish_reason: str | None = None

    def start(self) -> list[str]:
        response = self.shape("in_progress", [], None)
        return [
            self._event("response.created", response=response),
            self._event("response.in_progress", response=response),
        ]

    def feed(self, delta: dict) -> list[str]:
        """The events of one chat delta ({"delta": {content | tool_calls}, "finish_reason"})."""
        self.finish_reason = delta.get("finish_reason") or self.finish_reason
        body = delta["delta"]
        out = self._text(body["content"]) if body.get("content") else []
        for call in body.get("tool_calls") or []:
            out += self._call(call)
        return out

    def finish(self, usage: dict) -> list[str]:
        """The open item's closing events, then response.completed (or .incomplete)."""
        status = shapes.status_of(self.finish_reason)
        out = [] if self.items else self._open_message()  # an empty answer is an empty message
        out += self._close(status)
        kind = "response.completed" if status == "completed" else "response.incomplete"
        return [*out, self._event(kind, response=self.shape(status, self.items, usage))]

    def failed(self, error: OpenAIError) -> list[str]:
        failed = {
            **self.shape("failed", self.items, None),
            "error": {"code": "server_error", "message": error.message},
        }
        return [
            self._event("error", code=error.code or error.type, message=error.message, param=error.param),
            self._event("response.failed", response=failed),
        ]

    def _event(self, kind: str, **fields) -> str:
        data = json.dumps({"type": kind, "sequence_number": self.sequence, **fields}, ensure_ascii=False)
        self.sequence += 1
        return f"event: {kind}\ndata: {data}\n\n"

    def _open_message(self) -> list[str]:
        item = shapes.message(shapes.new_id("msg"), None, "in_progress")
        self.items.append(item)
        added = self._event("response.output_item.added", output_index=0, item=item)
        part = shapes.output_text("")
        item["content"].append(part)
        where = {"item_id": item["id"], "output_index": 0, "content_index": 0}
        return [added, self._event("response.content_part.added", **where, part=part)]

    def _text(self, text: str) -> list[str]:
        out = [] if self.items else self._open_message()
        item = self.items[-1]
        item["content"][0]["text"] += text
        where = {"item_id": item["id"], "output_index": 0, "content_index": 0}
        return [*out, self._event("response.output_text.delta", **where, delta=text, logprobs=[])]

    def _call(self, call: dict) -> list[str]:
        """A tool_calls delta entry: a new call (id and name), or a fragment of the last's arguments."""
        if "id" in call:
            out = self._close("completed") if self.items else []
            item = shapes.function_call(
                shapes.new_id("fc"), call["id"], call["function"]["name"], "", "in_progress"
            )
            self.items.append(item)
            return [
                *out,
                self._event("response.output_item.added", output_index=len(self.items) - 1, item=item),
            ]
        item = self.items[-1]
        fragment = call["function"]["arguments"]
        item["arguments"] += fragment
        where = {"item_id": item["id"], "output_index": len(self.items) - 1}
        return [self._event("response.function_call_arguments.delta", **where, delta=fragment)]

    def _close(self, status: str) -> list[str]:
        """The last item's done events (it becomes `status`)."""
        item = self.items[-1]
        index = len(self.items) - 1
        out = []
        if item["type"] == "message":
            part = item["content"][0]
            where = {"item_id": item["id"], "output_index": index, "content_index": 0}
            out.append(self._event("response.output_text.done", **where, text=part["text"], logprobs=[]))
            out.append(self._event("response.content_part.done", **where, part=part))
        else:
            where = {"item_id": item["id"], "output_index": index}
            out.append(
                self._event("response.function_call_arguments.done", **where, arguments=item["arguments"])
            )
        item["status"] = status
        return [*out, self._event("response.output_item.done", output_index=index, item=item)]
