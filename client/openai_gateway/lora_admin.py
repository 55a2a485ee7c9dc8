"""Adapters registered while serving, with vLLM's API (docs/upstream/lora.md §4.1):

    POST /v1/load_lora_adapter    {"lora_name": "...", "lora_path": "..."}
    POST /v1/unload_lora_adapter  {"lora_name": "..."}

Served only with --allow-runtime-lora (make openai ALLOW_RUNTIME_LORA=1): otherwise the routes do
not exist (404), as vLLM attaches them only under VLLM_ALLOW_RUNTIME_LORA_UPDATING. Behind the
gateway's API keys and rate limits, like every /v1 route. Success is 200 with vLLM's plain-text body.

Registering is writing the adapter directory, which every replica reads (adapters.py); the Triton-side
equivalent is writing or removing a folder there by hand. The checks happen before:
- load: lora_path must lie inside the directory (AdapterDirectory.inside: operators choose what may
  be loaded by choosing the directory); a name the directory already serves from another folder is
  400, as vLLM answers a duplicate. The adapter is checked here (adapter_check.py: PEFT files, LoRA,
  the base model, the rank against the server's max_lora_rank), then its name appears: nothing to do
  when lora_path is <dir>/<name>, else <dir>/<name> becomes a relative symlink to lora_path. A
  1-token request then warms it: the engine loads it and refuses by name what does not fit (target
  modules, shapes); on a refusal the symlink is removed again and the refusal is the 400.
- unload: 409 while this gateway has requests in flight for it; else the name leaves the directory
  without deleting anyone's files (a symlink is removed; a real folder is renamed to a hidden name,
  `.unloaded-<name>-<unix time in ns>`, which the directory ignores) and 200; an unknown name is 404.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import defaultdict

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from python_backend.contract.adapter_dir import AdapterDirectory, check_name
from python_backend.contract.errors import InputError

from ..errors import OverloadedError, RequestTimeoutError, ServerError, ServerUnavailableError
from ..types import GenerateRequest
from .adapter_check import check_adapter, server_lora_limits
from .errors import OpenAIError, from_server_error, invalid
from .gateway import read_bounded
from .schema import read_json

WARM_PROMPT = "Hello"  # any prompt: the request only makes the engine load the adapter


def _not_found(name: str) -> OpenAIError:
    return OpenAIError(
        404,
        f"The lora adapter '{name}' cannot be found.",
        type_="invalid_request_error",
        param="lora_name",
        code="model_not_found",
    )


class LoraAdmin:
    def __init__(self, gateway):
        self.gateway = gateway  # gateway.Gateway
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)  # per name, as vLLM

    @property
    def directory(self) -> AdapterDirectory:
        return self.gateway.config.models.directory

    async def load(self, body: dict) -> str:
        name, path = body.get("lora_name"), body.get("lora_path")
        if not isinstance(name, str) or not name or not isinstance(path, str) or not path:
            raise invalid("Both 'lora_name' and 'lora_path' must be provided.", "lora_name")
        try:
            check_name(name)
            source = self.directory.inside(path)
        except InputError as exc:
            field, _, _ = str(exc).partition(":")
            raise invalid(str(exc), field) from None
        if name in self.gateway.config.model_names:
            raise invalid(f"lora_name: '{name}' is the base model's name", "lora_name")
        async with self._locks[name]:
            target = self.directory.root / name
            in_place = target.resolve() == source
            if not in_place and (target.exists() or target.is_symlink()):
                raise invalid(f"The lora adapter '{name}' has already been loaded.", "lora_name")
            limits = await server_lora_limits(self.gateway.client, self.gateway.config.triton_model)
            check_adapter(name, source, base_model=self.gateway.config.base_model, limits=limits)
            if not in_place:
                target.symlink_to(os.path.relpath(source, target.parent.resolve()))
            try:
                await self._warm(name)
            except BaseException:
                if not in_place:
                    target.unlink()
                raise
        return f"Success: LoRA adapter '{name}' added successfully."

    async def _warm(self, name: str) -> None:
        request = GenerateRequest(WARM_PROMPT, max_tokens=1, lora_name=name)
        try:
            await self.gateway.client.generate(request, stream=True)
        except (ServerUnavailableError, RequestTimeoutError, OverloadedError) as exc:
            raise from_server_error(exc, "lora_path") from None  # the server's state, not the adapter's
        except ServerError as exc:  # the engine's refusal, which names what does not fit
            raise invalid(f"The lora adapter '{name}' could not be loaded: {exc}", "lora_path") from None

    async def unload(self, body: dict) -> str:
        name = body.get("lora_name")
        if not isinstance(name, str) or not name:
            raise invalid("'lora_name' needs to be provided to unload a LoRA adapter.", "lora_name")
        try:
            check_name(name)
        except InputError:
            raise _not_found(name) from None
        async with self._locks[name]:
            try:
                target = self.directory.path(name)
            except InputError:  # not in the directory
                raise _not_found(name) from None
            busy = self.gateway.in_flight.count(name)
            if busy:
                raise OpenAIError(
                    409,
                    f"The lora adapter '{name}' has {busy} request(s) in flight; unload it when they "
                    "are done.",
                    type_="invalid_request_error",
                    param="lora_name",
                    code="adapter_in_use",
                )
            if target.is_symlink():
                target.unlink()  # the folder it points to stays as it is
            else:
                target.rename(target.parent / f".unloaded-{name}-{time.time_ns()}")
        return f"Success: LoRA adapter '{name}' removed successfully."


def router(dependency) -> APIRouter:
    """The two routes, behind `dependency` (the /v1 routes' API keys and rate limits)."""
    routes = APIRouter(prefix="/v1", dependencies=[dependency])

    @routes.post("/load_lora_adapter")
    async def load_lora_adapter(request: Request):
        admin: LoraAdmin = request.app.state.lora_admin
        return PlainTextResponse(await admin.load(await _body(request, admin)))

    @routes.post("/unload_lora_adapter")
    async def unload_lora_adapter(request: Request):
        admin: LoraAdmin = request.app.state.lora_admin
        return PlainTextResponse(await admin.unload(await _body(request, admin)))

    return routes


async def _body(request: Request, admin: LoraAdmin) -> dict:
    return read_json(await read_bounded(request, admin.gateway.config.max_body_bytes))
