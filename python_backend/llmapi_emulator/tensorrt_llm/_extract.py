"""The pinned field extract (python_backend/contract/llmapi_fields.json), read as constructor specs.

Every stand-in class takes its field names and defaults from there, so a field that is not in the
extract cannot be passed, and a default cannot differ from it. Defaults the extract writes as Python
expressions are resolved here, one rule per form:
  "default_factory=<Class>"  a fresh instance per object (the factory is passed in by the caller)
  "<Enum>.<MEMBER>"          the member's name, for fields whose "choices" list it (the stand-in
                             carries enum values as their names)
  "1024**3"                  PeftCacheConfig.host_cache_size, the one arithmetic default
Anything else is not resolvable, and building a class with such a field raises at import.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from python_backend.contract.llmapi_fields import class_facts, fields, pinned_version

REQUIRED = "<required>"
FACTORY_PREFIX = "default_factory="
ARITHMETIC = {"1024**3": 1024**3}

__all__ = ["REQUIRED", "class_facts", "fields", "pinned_version", "resolve_default", "factory_name"]


def factory_name(default: Any) -> str | None:
    """The class (or list/dict) a "default_factory=<name>" default names, else None."""
    if isinstance(default, str) and default.startswith(FACTORY_PREFIX):
        return default[len(FACTORY_PREFIX) :]
    return None


def resolve_default(cls: str, name: str, factories: dict[str, Callable[[], Any]]) -> Any:
    """The default value of cls.name (REQUIRED when it has none); a factory default is returned as the
    callable itself (the caller gives it to pydantic's default_factory / dataclasses' field)."""
    facts = fields(cls)[name]
    default = facts["default"]
    factory = factory_name(default)
    if factory is not None:
        if factory == "list":
            return list
        if factory == "dict":
            return dict
        return factories[factory]
    if not isinstance(default, str) or default == REQUIRED:
        return default
    if default in ARITHMETIC:
        return ARITHMETIC[default]
    choices = facts.get("choices")
    enum_name, dot, member = default.partition(".")
    if dot and choices and member in choices:
        return member
    if "(" in default:
        raise LookupError(f"{cls}.{name}: default {default!r} is an expression the stand-in cannot evaluate")
    return default
