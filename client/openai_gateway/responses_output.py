"""The Responses API's objects (openai/types/responses/: Response, ResponseOutputMessage,
ResponseFunctionToolCall, ResponseUsage), and a whole answer as its output items."""

from __future__ import annotations

import uuid

from .tool_calls import CallParser


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def response(
    *,
    ident: str,
    created: int,
    model: str,
    echoed: dict,
    status: str,
    output: list[dict],
    usage: dict | None = None,
) -> dict:
    """A Response object; status in_progress, completed or incomplete (max_output_tokens reached)."""
    return {
        "id": ident,
        "object": "response",
        "created_at": created,
        "status": status,
        "model": model,
        "output": output,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
        "previous_response_id": None,
        "usage": usage,
        **echoed,
    }


def status_of(finish_reason: str | None) -> str:
    """The response's status from the chat path's finish reason."""
    return "incomplete" if finish_reason == "length" else "completed"


def output_text(text: str) -> dict:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def message(ident: str, text: str | None, status: str) -> dict:
    """An assistant message item; text None: just added (no content part yet)."""
    content = [] if text is None else [output_text(text)]
    return {"type": "message", "id": ident, "role": "assistant", "status": status, "content": content}


def function_call(ident: str, call_id: str, name: str, arguments: str, status: str) -> dict:
    return {
        "type": "function_call",
        "id": ident,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    }


def output_items(text: str, plan, status: str) -> list[dict]:
    """A whole answer's output: function_call items when it is tool calls (tools.py's blocks), else
    one message. `plan`: the call's tools.ToolPlan (None without tools)."""
    parser = CallParser(plan)
    parser.feed(text)
    if parser.calls:
        items = [
            function_call(
                new_id("fc"), call["id"], call["function"]["name"], call["function"]["arguments"], "completed"
            )
            for call in parser.calls
        ]
        items[-1]["status"] = status  # max_output_tokens may have cut the last call short
        return items
    return [message(new_id("msg"), text, status)]


def usage(input_tokens: int, output_tokens: int, cached_tokens: int | None) -> dict:
    """ResponseUsage; cached_tokens 0 when the server does not report it (the field is required)."""
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": cached_tokens or 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    }
