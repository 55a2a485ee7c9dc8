"""OpenAI `tools` and `tool_choice` (chat): validation, the prompt, the grammar, the answer.

SmolLM2's chat template takes no `tools` (it renders each message's role and content only), so the
tools are described in the system message in the Hermes format (Qwen2.5's and NousResearch's
templates; vLLM's `hermes` parser), and a call is answered as one block per call, "\n" between:

    <tools>                                   <tool_call>
    {"type": "function", "function": {…}}     {"name": "get_weather", "arguments": {"city": "Paris"}}
    </tools>                                  </tool_call>

Earlier turns use the same format (messages.chat_messages): an assistant message's `tool_calls` as
those blocks, a role "tool" message as a user turn holding <tool_response>…</tool_response>.

tool_choice → what the engine may generate (guide type ebnf_grammar, enforced by xgrammar):
    "none"         free text; the tools are not described (vLLM's default too: a small model
                   shown tools tends to imitate a call)
    "required"     one or more blocks (one with parallel_tool_calls: false), each {"name": <a tool>,
                   "arguments": <that tool's parameters schema>}; a named function: the same, it only
    "auto"         (default) text whose first character is not "<", or the "required" blocks.

Why "auto" is a grammar rather than free text parsed afterwards: the arguments then satisfy their
schema whatever the model writes, and text-or-call is decided by one token, the first (an answer
that starts with "<" is a call); the price is that a text answer cannot start with "<". Arguments
use xgrammar's own JSON-schema translation, strict (no property the schema does not name, whatever
`strict` says, as for response_format) with fixed separators (", ", ": "): the answer's shape is
exact, so `tool_calls.CallParser` reads it as it streams and sends a call's id and name, then fragments of its
arguments, as OpenAI does.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass

from python_backend.contract.errors import InputError
from python_backend.contract.guides import MAX_GUIDE_BYTES, check_json_schema

from .errors import invalid

NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")  # OpenAI's rule for function names
CHOICES = ("none", "auto", "required")
OPEN = "<tool_call>\n"
CLOSE = "\n</tool_call>"
PROMPT = """# Tools

You may call {how} to assist with the user query.

You are provided with function signatures within <tools></tools> XML tags:
<tools>
{tools}
</tools>

For each function call, return a json object with function name and arguments within \
<tool_call></tool_call> XML tags:
<tool_call>
{{"name": <function-name>, "arguments": <args-json-object>}}
</tool_call>"""


@dataclass(frozen=True)
class ToolPlan:
    """A request's tools, validated. `functions`: name → parameters schema of the tools a call may
    name (tool_choice narrows them); `described`: every tool, as the system message shows it."""

    mode: str  # "none", "auto" or "required" (a named tool_choice is "required" with one function)
    functions: dict[str, dict]
    described: tuple[dict, ...]
    parallel: bool  # parallel_tool_calls: more than one call per answer

    @property
    def calls(self) -> bool:
        """Whether the answer may be tool calls (and so is parsed for them)."""
        return self.mode != "none"


def tool_plan(body: dict) -> ToolPlan | None:
    """The body's tools, tool_choice and parallel_tool_calls; None when it has no tools."""
    tools = body.get("tools")
    parallel = body.get("parallel_tool_calls")
    if tools is None:
        for name in ("tool_choice", "parallel_tool_calls"):
            if body.get(name) is not None:
                raise invalid(f"{name}: only allowed when tools are given", name)
        return None
    if not isinstance(tools, list) or not tools:
        raise invalid("tools: must be a non-empty list of tools", "tools")
    described = tuple(_tool(tool, f"tools[{i}]") for i, tool in enumerate(tools))
    functions: dict[str, dict] = {}
    for i, tool in enumerate(described):
        name = tool["function"]["name"]
        if name in functions:
            raise invalid(f"tools[{i}].function.name: {name!r} is given twice", f"tools[{i}].function.name")
        functions[name] = tool["function"]["parameters"]
    if parallel is not None and not isinstance(parallel, bool):
        raise invalid(f"parallel_tool_calls: must be a boolean, got {parallel!r}", "parallel_tool_calls")
    mode, functions = _choice(body.get("tool_choice"), functions)
    return ToolPlan(mode=mode, functions=functions, described=described, parallel=parallel is not False)


def _fields(value, allowed: set[str], where: str) -> dict:
    """`value` as an object with no field outside `allowed` (a 400 naming the first one)."""
    if not isinstance(value, dict):
        raise invalid(f"{where}: must be an object", where)
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise invalid(f"{where}.{unknown[0]}: unrecognized field", f"{where}.{unknown[0]}")
    return value


def _tool(tool, where: str) -> dict:
    """One tool, normalized to {"type": "function", "function": {name, [description], parameters}}."""
    tool = _fields(tool, {"type", "function"}, where)
    if tool.get("type") != "function":
        raise invalid(
            f'{where}.type: only "function" is supported, got {tool.get("type")!r}', f"{where}.type"
        )
    spec = _fields(tool.get("function"), {"name", "description", "parameters", "strict"}, f"{where}.function")
    name = spec.get("name")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise invalid(
            f"{where}.function.name: must be 1 to 64 letters, digits, _ or -, got {name!r}",
            f"{where}.function.name",
        )
    function = {"name": name}
    if spec.get("description") is not None:
        if not isinstance(spec["description"], str):
            raise invalid(f"{where}.function.description: must be a string", f"{where}.function.description")
        function["description"] = spec["description"]
    if spec.get("strict") not in (None, True, False):
        raise invalid(f"{where}.function.strict: must be a boolean", f"{where}.function.strict")
    function["parameters"] = _parameters(spec.get("parameters"), f"{where}.function.parameters")
    return {"type": "function", "function": function}


def _parameters(schema, field: str) -> dict:
    """A valid JSON schema of an object (arguments are a JSON object); none means no arguments."""
    if schema is None:
        return {"type": "object", "properties": {}}
    if not isinstance(schema, dict):
        raise invalid(f"{field}: must be a JSON schema object", field)
    try:
        schema = check_json_schema(json.dumps(schema), field)
    except InputError as exc:
        raise invalid(str(exc), field) from None
    if schema.get("type", "object") != "object":
        raise invalid(f'{field}: must describe an object ("type": "object"), got {schema["type"]!r}', field)
    return {"type": "object", **schema}


def _choice(choice, functions: dict[str, dict]) -> tuple[str, dict[str, dict]]:
    if choice is None or choice in CHOICES:
        return choice or "auto", functions
    expected = 'must be "none", "auto", "required" or {"type": "function", "function": {"name": …}}'
    if not isinstance(choice, dict) or choice.get("type") != "function":
        raise invalid(f"tool_choice: {expected}, got {choice!r}", "tool_choice")
    _fields(choice, {"type", "function"}, "tool_choice")
    name = _fields(choice.get("function"), {"name"}, "tool_choice.function").get("name")
    if not isinstance(name, str) or name not in functions:
        raise invalid(
            f"tool_choice.function.name: {name!r} is not one of the tools ({', '.join(functions)})",
            "tool_choice.function.name",
        )
    return "required", {name: functions[name]}


def system_text(plan: ToolPlan | None) -> str | None:
    """What the system message gets to describe the tools; None when they are not described."""
    if plan is None or not plan.calls:
        return None
    listed = "\n".join(json.dumps(tool, ensure_ascii=False) for tool in plan.described)
    text = PROMPT.format(how="one or more functions" if plan.parallel else "one function", tools=listed)
    if plan.mode == "required" and len(plan.functions) == 1:
        text += f"\n\nCall the function {next(iter(plan.functions))}."
    return text


def call_block(name: str, arguments: dict) -> str:
    """One call in the answer's format (the separators are the grammar's)."""
    return f"{OPEN}{json.dumps({'name': name, 'arguments': arguments}, ensure_ascii=False)}{CLOSE}"


def grammar(plan: ToolPlan) -> str | None:
    """The guide (guided_decoding_guide_type ebnf_grammar) the answer must match; None: free text."""
    if not plan.calls:
        return None
    fields = {
        tool["function"]["name"]: f"tools[{i}].function.parameters" for i, tool in enumerate(plan.described)
    }
    for name, schema in plan.functions.items():
        try:
            _arguments(json.dumps(schema))
        except RuntimeError as exc:  # a schema feature xgrammar cannot translate: "[time] file:line: why"
            why = str(exc).strip().rpartition(": ")[2] if "] " in str(exc) else str(exc)
            raise invalid(f"{fields[name]}: xgrammar cannot use this schema: {why}", fields[name]) from None
    text = _grammar(json.dumps(plan.functions), plan.mode == "auto", plan.parallel)
    size = len(text.encode("utf-8"))
    if size > MAX_GUIDE_BYTES:
        raise invalid(f"tools: their grammar is {size} bytes; the limit is {MAX_GUIDE_BYTES}", "tools")
    return text


# Cached: a client sends the same tools with every turn of a conversation.
@functools.lru_cache(maxsize=256)
def _arguments(schema_json: str):
    import xgrammar as xgr  # here: only tool requests pay for it

    return xgr.Grammar.from_json_schema(schema_json, any_whitespace=False, strict_mode=True)


@functools.lru_cache(maxsize=64)
def _grammar(functions_json: str, auto: bool, parallel: bool) -> str:
    import xgrammar as xgr

    def literal(text: str):
        return xgr.Grammar.from_ebnf(f"root ::= {json.dumps(text)}")

    calls = [
        xgr.Grammar.concat(
            literal(f'{{"name": "{name}", "arguments": '), _arguments(json.dumps(schema)), literal("}")
        )
        for name, schema in json.loads(functions_json).items()
    ]
    # Rules prefixed tool_ cannot clash with xgrammar's (root_*, basic_*); `root` is one call object.
    blocks = 'tool_block ("\\n" tool_block)*' if parallel else "tool_block"
    rules = (
        f"\ntool_block ::= {json.dumps(OPEN)} root {json.dumps(CLOSE)}\ntool_calls ::= {blocks}\n"
        f"tool_answer ::= tool_calls{' | [^<] [^]*' if auto else ''}\n"
    )
    return str(xgr.Grammar.from_ebnf(str(xgr.Grammar.union(*calls)) + rules, root_rule_name="tool_answer"))
