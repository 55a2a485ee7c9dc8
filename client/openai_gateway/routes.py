"""The FastAPI app: its routes, and the handlers that turn errors into OpenAI error objects."""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from python_backend.contract.errors import InputError

from . import lora_admin, responses_gateway
from .access import ApiKeys, RateLimit, TokenBuckets, presented_key
from .config import GatewayConfig
from .errors import OpenAIError, from_http_error, from_input_error, internal, unavailable
from .gateway import Gateway
from .metrics import GatewayMetrics, MetricsMiddleware


@dataclass(frozen=True)
class AccessConfig:
    api_keys: tuple[str, ...] = ()  # none: no authentication
    rate_limit: RateLimit | None = None  # per key (per client address without keys); None: unlimited


class Access:
    def __init__(self, config: AccessConfig):
        self.keys = ApiKeys(list(config.api_keys))
        self.buckets = TokenBuckets(config.rate_limit) if config.rate_limit else None

    def check(self, request: Request) -> None:
        """Raise 401 (no or wrong key) or 429 + Retry-After (the caller's bucket is empty)."""
        caller = request.client.host if request.client else "unknown"
        if self.keys.enabled:
            presented = presented_key(request.headers.get("authorization"), request.headers.get("api-key"))
            caller = self.keys.match(presented)
            if caller is None:
                message = (
                    "Incorrect API key provided."
                    if presented
                    else "You didn't provide an API key: send it as 'Authorization: Bearer <key>'."
                )
                raise OpenAIError(
                    401,
                    message,
                    type_="invalid_request_error",
                    code="invalid_api_key",
                    headers={"WWW-Authenticate": "Bearer"},
                )
        if self.buckets is not None:
            wait = self.buckets.take(caller)
            if wait > 0:
                limit = self.buckets.limit
                raise OpenAIError(
                    429,
                    f"Rate limit reached: {limit.rate:g} requests/s with bursts of {limit.burst}"
                    f" per {'key' if self.keys.enabled else 'client'}; retry in {wait:.2f} s",
                    type_="rate_limit_error",
                    code="rate_limit_exceeded",
                    headers={"Retry-After": str(max(1, math.ceil(wait)))},
                )


async def _allowed(request: Request) -> None:
    try:
        request.app.state.access.check(request)
    except OpenAIError as exc:
        metrics = request.app.state.metrics
        (metrics.unauthorized if exc.status == 401 else metrics.rate_limited).inc()
        raise


# /health/ready and /metrics stay open: load balancers, Kubernetes and Prometheus call them without a key.
router = APIRouter()
v1 = APIRouter(prefix="/v1", dependencies=[Depends(_allowed)])


def _gateway(request: Request) -> Gateway:
    return request.app.state.gateway


Shared = Annotated[Gateway, Depends(_gateway)]


@router.get("/health/ready")
async def ready(gateway: Shared):
    if await gateway.client.ready():
        return {"status": "ready"}
    raise unavailable("the inference server is not ready")


@router.get("/metrics")
async def metrics(request: Request):
    body, content_type = request.app.state.metrics.exposition()
    return Response(body, media_type=content_type)


@v1.get("/models")
async def models(gateway: Shared):
    """The base model, then every adapter in the adapter directory with its parent (adapters.py)."""
    return {"object": "list", "data": gateway.config.models.cards(gateway.created)}


@v1.get("/models/{model_id}")
async def model(model_id: str, gateway: Shared):
    return gateway.config.models.card(model_id, gateway.created)


@v1.post("/completions")
async def completions(request: Request, gateway: Shared):
    return await gateway.answer(request, chat=False)


@v1.post("/chat/completions")
async def chat_completions(request: Request, gateway: Shared):
    return await gateway.answer(request, chat=True)


@v1.post("/responses")
async def create_response(request: Request, gateway: Shared):
    return await responses_gateway.respond(gateway, request)


# Nothing is stored (responses_api.py), so the stored-response routes answer that, by name.
@v1.get("/responses/{response_id}")
@v1.delete("/responses/{response_id}")
@v1.get("/responses/{response_id}/input_items")
@v1.post("/responses/{response_id}/cancel")
async def stored_response(response_id: str):
    raise OpenAIError(
        404,
        f"No response with id '{response_id}': this server stores no responses (store is accepted but "
        "keeps nothing)",
        type_="invalid_request_error",
        param="response_id",
        code="response_not_stored",
    )


async def _openai_error(_request, exc: OpenAIError):
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


async def _input_error(request, exc: InputError):
    return await _openai_error(request, from_input_error(exc))


async def _http_error(request, exc: HTTPException):
    """Starlette's own 404 (no route) and 405 (a route, another method), as OpenAI error objects."""
    return await _openai_error(request, from_http_error(exc.status_code, exc.detail, exc.headers))


async def _validation_error(request, exc: RequestValidationError):
    return await _openai_error(request, OpenAIError(400, str(exc), type_="invalid_request_error"))


async def _unexpected(request, exc: Exception):
    """A bug, still answered as an OpenAI error (Starlette logs the traceback)."""
    return await _openai_error(request, internal(exc))


def create_app(config: GatewayConfig, access: AccessConfig | None = None) -> FastAPI:
    gateway = Gateway(config)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        yield
        await gateway.close()

    app = FastAPI(title="triton-llm OpenAI gateway", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.gateway = gateway
    app.state.access = Access(access or AccessConfig())
    app.state.metrics = GatewayMetrics()  # a registry per app: tests run several gateways in one process
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    app.add_exception_handler(OpenAIError, _openai_error)
    app.add_exception_handler(InputError, _input_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
    app.include_router(router)
    app.include_router(v1)
    if config.allow_runtime_lora:  # else the routes do not exist, as in vLLM (lora_admin.py)
        app.state.lora_admin = lora_admin.LoraAdmin(gateway)
        app.include_router(lora_admin.router(Depends(_allowed)))
    return app
