"""OpenAI's Responses API (`POST /v1/responses`) bodies → the chat path's Call.

A Responses body is rewritten as the chat completions body it means and parsed by parsing.parse_call,
so sampling limits, guided decoding (response_format) and the tool machinery (tools.py) are the chat
path's, not a copy:

    instructions                                 a first system message
    input: "text"                                one user message
    input: [items]                               message items (content text or input_text /
                                                 output_text parts) as messages; function_call items as
                                                 an assistant message's tool_calls; function_call_output
                                                 items as role "tool" messages
    max_output_tokens, temperature, top_p        max_tokens, temperature, top_p
    text.format {type, name, schema, strict}     response_format (json_schema, json_object, text)
    tools [{type: function, name, parameters}]   tools [{type: function, function: {name, parameters}}]
    tool_choice {type: function, name}           tool_choice {type: function, function: {name}}

Nothing is stored: `store` is accepted (OpenAI's default is true) but keeps nothing, so
`previous_response_id` and `conversation` are refused by name. Every other field is refused by name.
The chat path's errors are renamed into this API's words (max_tokens → max_output_tokens, …).
"""

from __future__ import annotations

from dataclasses import dataclass

from .adapters import ServedModels
from .errors import OpenAIError, invalid
from .parsing import Call, parse_call
from .schema import check_max_tokens, check_types

SERVED = {
    "model",
    "input",
    "instructions",
    "max_output_tokens",
    "temperature",
    "top_p",
    "text",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "stream",
    "store",
    "metadata",
    "user",
    "truncation",
}
NOT_STORED = (
    "this server stores no responses (store is accepted but keeps nothing); send the whole "
    "conversation as input items instead"
)
# The chat path's names in its errors → this API's (the longest first: they are prefixes).
RENAMED = (
    ("response_format.json_schema.", "text.format."),
    ("response_format", "text.format"),
    ("max_tokens", "max_output_tokens"),
    ("messages", "input"),
    (".function.", "."),
    ("tool_choice.function", "tool_choice"),
)
ROLES = ("user", "assistant", "system", "developer")
TEXT_PARTS = ("input_text", "output_text")


@dataclass(frozen=True, kw_only=True)
class ResponsesCall:
    """A parsed Responses request: the chat Call it runs as, and the request's own fields, which the
    response object repeats (OpenAI's response carries instructions, tools, text, … back)."""

    call: Call
    chat: dict  # the chat completions body it means (context.admit checks its prompt)
    echoed: dict


def parse_responses(body: dict, served_models: ServedModels, max_seq_len: int | None) -> ResponsesCall:
    """body: read by schema.read_json; max_seq_len: the model's context (ModelLimits), None: unknown."""
    _refuse_unsupported(body)
    chat = {"model": body.get("model"), "messages": _messages(body)}
    for ours, theirs in (("max_output_tokens", "max_tokens"), ("temperature", "temperature")):
        if body.get(ours) is not None:
            chat[theirs] = body[ours]
    for name in ("top_p", "stream", "user", "metadata", "parallel_tool_calls"):
        if body.get(name) is not None:
            chat[name] = body[name]
    fmt = _text_format(body.get("text"))
    if fmt is not None:
        chat["response_format"] = fmt
    if body.get("tools") is not None:
        chat["tools"] = _tools(body["tools"])
    if body.get("tool_choice") is not None:
        chat["tool_choice"] = _tool_choice(body["tool_choice"])
    try:  # the chat route's checks, in order (gateway.Gateway.answer)
        check_types(chat, True)
        check_max_tokens(chat, max_seq_len)
        call = parse_call(chat, True, served_models)
    except OpenAIError as exc:
        raise renamed(exc) from None
    echoed = {
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "metadata": body.get("metadata") or {},
        "parallel_tool_calls": body.get("parallel_tool_calls") is not False,
        "temperature": body.get("temperature"),
        "top_p": body.get("top_p"),
        "text": body.get("text") or {"format": {"type": "text"}},
        "tools": body.get("tools") or [],
        "tool_choice": body.get("tool_choice") or "auto",
        "truncation": "disabled",
        "user": body.get("user"),
        "store": body.get("store") is not False,
    }
    return ResponsesCall(call=call, chat=chat, echoed=echoed)


def _refuse_unsupported(body: dict) -> None:
    for name in ("previous_response_id", "conversation"):
        if body.get(name) is not None:
            raise invalid(f"{name}: {NOT_STORED}", name)
    unknown = sorted(set(body) - SERVED)
    if unknown:
        raise invalid(f"{unknown[0]}: not supported by this server", unknown[0])
    if body.get("store") not in (None, True, False):
        raise invalid(f"store: must be a boolean, got {body['store']!r}", "store")
    if body.get("truncation") not in (None, "disabled"):
        raise invalid(
            'truncation: only "disabled" is supported (a prompt over the context is refused)', "truncation"
        )
    if body.get("instructions") is not None and not isinstance(body["instructions"], str):
        raise invalid("instructions: must be a string", "instructions")


def _messages(body: dict) -> list[dict]:
    """The chat messages of instructions + input."""
    messages = []
    if body.get("instructions"):
        messages.append({"role": "system", "content": body["instructions"]})
    source = body.get("input")
    if isinstance(source, str):
        return [*messages, {"role": "user", "content": source}]
    if not isinstance(source, list) or not source:
        raise invalid("input: required, a string or a non-empty list of input items", "input")
    for i, item in enumerate(source):
        where = f"input[{i}]"
        if not isinstance(item, dict):
            raise invalid(f"{where}: must be an object", "input")
        kind = item.get("type", "message")
        if kind == "message":
            messages.append(_message(item, where))
        elif kind == "function_call":
            call = _function_call(item, where)
            if messages and messages[-1]["role"] == "assistant":  # the calls of one assistant turn
                messages[-1].setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            _fields(item, {"type", "call_id", "output", "id", "status"}, where)
            output = _text(item.get("output"), f"{where}.output")
            messages.append({"role": "tool", "tool_call_id": item.get("call_id"), "content": output})
        else:
            raise invalid(
                f"{where}.type: {kind!r} items are not supported (message, function_call and "
                "function_call_output are)",
                "input",
            )
    return messages


def _message(item: dict, where: str) -> dict:
    _fields(item, {"type", "role", "content", "id", "status"}, where)
    if item.get("role") not in ROLES:
        raise invalid(f"{where}.role: must be one of {', '.join(ROLES)}, got {item.get('role')!r}", "input")
    return {"role": item["role"], "content": _text(item.get("content"), f"{where}.content")}


def _text(content, where: str) -> str:
    """A string, or text content parts (input_text, output_text) joined."""
    if isinstance(content, list):
        if not all(
            isinstance(p, dict) and p.get("type") in TEXT_PARTS and isinstance(p.get("text"), str)
            for p in content
        ):
            raise invalid(f"{where}: only text parts (input_text, output_text) are supported", "input")
        return "".join(p["text"] for p in content)
    if not isinstance(content, str):
        raise invalid(f"{where}: must be a string or a list of text parts", "input")
    return content


def _function_call(item: dict, where: str) -> dict:
    _fields(item, {"type", "call_id", "name", "arguments", "id", "status"}, where)
    for name in ("call_id", "name", "arguments"):
        if not isinstance(item.get(name), str):
            raise invalid(f"{where}.{name}: required, a string", "input")
    return {
        "id": item["call_id"],
        "type": "function",
        "function": {"name": item["name"], "arguments": item["arguments"]},
    }


def _text_format(text) -> dict | None:
    """text.format as the chat path's response_format."""
    if text is None:
        return None
    _fields(text, {"format"}, "text")
    fmt = text.get("format")
    if fmt is None:
        return None
    _fields(fmt, {"type", "name", "schema", "description", "strict"}, "text.format")
    if fmt.get("type") != "json_schema":
        extra = sorted(set(fmt) - {"type"})
        if extra:
            raise invalid(
                f"text.format.{extra[0]}: only a json_schema format takes it", f"text.format.{extra[0]}"
            )
        return {"type": fmt.get("type")}
    spec = {name: fmt[name] for name in ("name", "schema", "description", "strict") if name in fmt}
    return {"type": "json_schema", "json_schema": spec}


def _tools(tools) -> list:
    if not isinstance(tools, list):
        raise invalid("tools: must be a list of tools", "tools")
    out = []
    for i, tool in enumerate(tools):
        _fields(tool, {"type", "name", "description", "parameters", "strict"}, f"tools[{i}]")
        if tool.get("type") != "function":
            raise invalid(
                f'tools[{i}].type: only "function" tools are supported, got {tool.get("type")!r}',
                f"tools[{i}].type",
            )
        spec = {name: tool[name] for name in ("name", "description", "parameters", "strict") if name in tool}
        out.append({"type": "function", "function": spec})
    return out


def _tool_choice(choice):
    if isinstance(choice, dict) and choice.get("type") == "function":
        _fields(choice, {"type", "name"}, "tool_choice")
        return {"type": "function", "function": {"name": choice.get("name")}}
    return choice  # "none", "auto", "required", or refused by tools.tool_plan


def _fields(value, allowed: set[str], where: str) -> None:
    if not isinstance(value, dict):
        raise invalid(f"{where}: must be an object", where.partition("[")[0])
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise invalid(f"{where}.{unknown[0]}: not supported by this server", f"{where}.{unknown[0]}")


def renamed(exc: OpenAIError) -> OpenAIError:
    """The chat path's error in this API's names."""
    message = exc.message
    param = exc.param
    for old, new in RENAMED:
        message = message.replace(old, new)
        param = param.replace(old, new) if param else param
    return OpenAIError(exc.status, message, type_=exc.type, param=param, code=exc.code, headers=exc.headers)
