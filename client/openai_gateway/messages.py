"""The prompt of an OpenAI request: a chat request's messages as the chat template takes them, or
a completion request's prompts (strings or token ids).

Tool turns are rendered in tools.py's format: an earlier assistant message's tool_calls as call
blocks after its content, a role "tool" message as a user turn holding <tool_response>…</tool_response>.
Every check raises OpenAIError (400 naming "messages" or "prompt").
"""

from __future__ import annotations

import json

from . import token_params, tools
from .errors import invalid
from .schema import check_role

# The ensemble's max_batch_size (model_repository/ensemble/config.pbtxt): a list of prompts is sent
# as one batched request, which Triton refuses past it.
MAX_PROMPTS = 64


def chat_messages(body: dict, tools_text: str | None = None) -> list[dict[str, str]]:
    """The messages as the chat template takes them ({role, content} strings), with the tools'
    description (tools_text) at the end of the system message, one added first if there is none."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid("messages: must be a non-empty list", "messages")
    out = []
    call_ids = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise invalid(f"messages[{i}]: must be an object with a role", "messages")
        check_role(message["role"], f"messages[{i}]")
        calls = message.get("tool_calls") if message["role"] == "assistant" else None
        content = _content(message.get("content"), f"messages[{i}].content", none_ok=calls is not None)
        if calls is not None:
            blocks, ids = _assistant_calls(calls, f"messages[{i}].tool_calls")
            content = "\n".join(filter(None, (content, blocks)))
            call_ids = call_ids + ids
        if message["role"] == "tool":
            out.append(_tool_turn(content, message.get("tool_call_id"), call_ids, f"messages[{i}]"))
        else:
            # OpenAI's "developer" is the system message of its newer models; chat templates know "system".
            role = "system" if message["role"] == "developer" else message["role"]
            out.append({"role": role, "content": content})
    if tools_text is None:
        return out
    if out[0]["role"] == "system":
        return [{"role": "system", "content": f"{out[0]['content']}\n\n{tools_text}"}, *out[1:]]
    return [{"role": "system", "content": tools_text}, *out]


def _content(content, field: str, none_ok: bool) -> str:
    """A message's content as one string; content parts: only text is meaningful to this model."""
    if content is None and none_ok:  # an assistant message that only calls tools
        return ""
    if isinstance(content, list):
        if not all(
            isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
            for p in content
        ):
            raise invalid(f"{field}: only text parts are supported", "messages")
        content = "".join(p["text"] for p in content)
    if not isinstance(content, str):
        raise invalid(f"{field}: must be a string", "messages")
    return content


def _assistant_calls(calls, where: str) -> tuple[str, list[str]]:
    """An earlier assistant turn's tool_calls → (its blocks, the call ids)."""
    if not isinstance(calls, list) or not calls:
        raise invalid(f"{where}: must be a non-empty list", "messages")
    blocks = []
    ids = []
    for j, call in enumerate(calls):
        at = f"{where}[{j}]"
        if (
            not isinstance(call, dict)
            or call.get("type", "function") != "function"
            or not isinstance(call.get("id"), str)
            or not isinstance(call.get("function"), dict)
        ):
            raise invalid(
                f'{at}: must be {{"id": str, "type": "function", "function": {{name, arguments}}}}',
                "messages",
            )
        name = call["function"].get("name")
        arguments = call["function"].get("arguments")
        if not isinstance(name, str) or not isinstance(arguments, str):
            raise invalid(f"{at}.function: name and arguments must be strings", "messages")
        try:
            parsed = json.loads(arguments)
        except json.JSONDecodeError as exc:
            raise invalid(f"{at}.function.arguments: not valid JSON: {exc}", "messages") from None
        blocks.append(tools.call_block(name, parsed))
        ids.append(call["id"])
    return "\n".join(blocks), ids


def _tool_turn(content: str, call_id, known_ids: list[str], where: str) -> dict[str, str]:
    """A role "tool" message → the user turn that carries its result (tools.py)."""
    if call_id not in known_ids:
        raise invalid(
            f"{where}.tool_call_id: must name a tool call of an earlier assistant message, got {call_id!r}",
            "messages",
        )
    return {"role": "user", "content": f"<tool_response>\n{content}\n</tool_response>"}


def completion_prompts(body: dict) -> tuple[str | tuple[int, ...], ...]:
    """A completion request's prompts, as OpenAI takes them: a string, a list of strings, a list of
    token ids, or a list of such lists (several are sent as one batched request)."""
    prompt = body.get("prompt")
    if token_params.is_token_ids(prompt):
        prompts = [prompt]
    elif isinstance(prompt, list) and prompt and all(token_params.is_token_ids(p) for p in prompt):
        prompts = prompt
    else:
        prompts = prompt if isinstance(prompt, list) else [prompt]
        if not prompts or not all(isinstance(p, str) for p in prompts):
            raise invalid(
                "prompt: must be a string or a non-empty list of strings, or token ids: a list of "
                "integers or a non-empty list of such lists",
                "prompt",
            )
    if len(prompts) > MAX_PROMPTS:
        raise invalid(f"prompt: at most {MAX_PROMPTS} prompts per request, got {len(prompts)}", "prompt")
    if isinstance(prompts[0], str):
        return tuple(prompts)
    many = len(prompts) > 1
    return tuple(
        token_params.token_prompt(p, f"prompt[{i}]" if many else "prompt") for i, p in enumerate(prompts)
    )
