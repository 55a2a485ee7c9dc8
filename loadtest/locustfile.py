"""Locust users that stream from the triton-llm server: gRPC, HTTP generate_stream (SSE), OpenAI API.

Pick the protocol by class or by tag:

    locust -f loadtest/locustfile.py GrpcStreamUser --host 127.0.0.1:8001
    locust -f loadtest/locustfile.py --tags http --host http://127.0.0.1:8000
    locust -f loadtest/locustfile.py OpenAIUser --host http://127.0.0.1:9000

`python -m loadtest run` drives this file headless and turns its samples into a report; run by
hand, the live tables show "TTFT", "TPOT" and "E2E" as separate entries (milliseconds; "E2E"
also carries failures), and `--samples-out FILE` keeps the raw per-request samples.

Load shape: closed loop by default (each user sends its next request when the previous one
ends); `--rate R` makes it open loop (Poisson arrivals at R requests/s, the users being the
concurrency pool), `--ramp 0.5:3:0.5 --stage-duration 20` steps the rate (see arrivals.py).

gevent: Locust monkey-patches the standard library; grpcio needs `init_gevent()` before its first
channel, done below, so a user waiting on its stream yields to the others. tritonclient 2.73
requires geventhttpclient>=2.3.3 and locust 2.47 >=2.5.1, so the old pin conflict between them
(tritonclient<2.3x wanted geventhttpclient<=2.0.2) does not arise with these pins.
"""

from __future__ import annotations

import itertools
import time

import gevent
import grpc.experimental.gevent as grpc_gevent
from locust import User, constant, events, tag, task
from locust.exception import StopUser

from loadtest import arrivals, dataset, transports
from loadtest.samples import Writer

grpc_gevent.init_gevent()
ERROR_BACKOFF_S = 0.5


@events.init_command_line_parser.add_listener
def _arguments(parser):
    group = parser.add_argument_group("triton-llm load test")
    group.add_argument("--samples-out", default="", help="write raw per-request samples (CSV) here")
    group.add_argument("--dataset", default=str(dataset.DATA), help="prompts JSONL")
    group.add_argument("--input-mix", default="short=0.4,long=0.3,chat=0.3", help="weights of prompt kinds")
    group.add_argument("--max-input-tokens", type=int, default=0, help="skip longer prompts (0: no cap)")
    group.add_argument(
        "--output-len", default="uniform:16:64", help="fixed:N | uniform:LO:HI | normal:MEAN:STD"
    )
    group.add_argument("--max-tokens", type=int, default=64, help="cap on the requested output tokens")
    group.add_argument(
        "--no-ignore-eos",
        action="store_true",
        help="let requests end at EOS (default: min_tokens = max_tokens, exact output lengths)",
    )
    group.add_argument(
        "--temperature", type=float, default=-1.0, help="sampling temperature (default: greedy)"
    )
    group.add_argument("--top-p", type=float, default=-1.0)
    group.add_argument("--seed", type=int, default=0, help="workload and arrival seed")
    group.add_argument("--request-timeout", type=float, default=120.0, help="seconds per request")
    group.add_argument("--rate", type=float, default=0.0, help="open loop: Poisson arrivals per second")
    group.add_argument("--ramp", default="", help="open-loop ramp: START:STOP:STEP or R1,R2,... requests/s")
    group.add_argument("--stage-duration", type=float, default=20.0, help="seconds per ramp stage")
    group.add_argument("--openai-model", default=transports.MODEL, help="model name sent to the OpenAI API")


class _Run:
    """State of one test run, shared by the users of this process (set up on test_start)."""

    workload: dataset.Workload | None = None
    options: transports.Options | None = None
    schedule: arrivals.Schedule | None = None
    writer: Writer | None = None
    ids = itertools.count()


@events.init.add_listener
def _drop_users_without_tasks(environment, **_kwargs):
    # `--tags grpc` leaves the other protocols' users with no task; Locust would still spawn them.
    if environment.parsed_options and environment.parsed_options.tags:
        from locust.user.task import filter_tasks_by_tags

        for user_class in environment.user_classes:
            filter_tasks_by_tags(user_class, set(environment.parsed_options.tags), None)
        environment.user_classes[:] = [u for u in environment.user_classes if u.tasks]


@events.test_start.add_listener
def _start(environment, **_kwargs):
    o = environment.parsed_options
    _Run.workload = dataset.Workload(
        dataset.load(o.dataset),
        dataset.parse_mix(o.input_mix),
        dataset.OutputLength.parse(o.output_len),
        o.max_tokens,
        o.max_input_tokens or None,
        seed=o.seed,
    )
    _Run.options = transports.Options(
        timeout_s=o.request_timeout,
        ignore_eos=not o.no_ignore_eos,
        temperature=o.temperature if o.temperature >= 0 else None,
        top_p=o.top_p if o.top_p >= 0 else None,
        openai_model=o.openai_model,
    )
    stages = []
    if o.ramp:
        stages = [(rate, o.stage_duration) for rate in arrivals.parse_ramp(o.ramp)]
    elif o.rate > 0:
        if not o.run_time:
            raise ValueError("--rate needs --run-time: the arrivals are drawn for a bounded window")
        stages = [(o.rate, float(o.run_time))]
    _Run.schedule = arrivals.Schedule(arrivals.poisson(stages, o.seed), time.time()) if stages else None
    _Run.writer = Writer(o.samples_out) if o.samples_out else None


@events.test_stop.add_listener
def _stop(environment, **_kwargs):
    if _Run.writer is not None:
        _Run.writer.close()
        _Run.writer = None


class LLMUser(User):
    """One streaming client. Subclasses set `protocol`; the task is one request."""

    abstract = True
    protocol = "grpc"
    wait_time = constant(0)

    def one_request(self) -> None:
        arrival = None
        if _Run.schedule is not None:
            arrival = _Run.schedule.take()
            if arrival is None:
                raise StopUser()  # every arrival of the run has been sent
            delay = _Run.schedule.start_s + arrival.offset_s - time.time()
            if delay > 0:
                gevent.sleep(delay)
        request = _Run.workload.next()
        request_id = next(_Run.ids)
        url = self.host or transports.DEFAULT_HOSTS[self.protocol]
        record, text = transports.PROTOCOLS[self.protocol](url, request, _Run.options, seed=request_id)
        if arrival is not None:
            record.stage = arrival.stage
            record.scheduled_s = _Run.schedule.start_s + arrival.offset_s
        self._report(record, request, request_id, text)
        if not record.ok and _Run.schedule is None:
            gevent.sleep(ERROR_BACKOFF_S)  # closed loop: no hot loop against a refusing server

    def _report(self, record, request, request_id, text) -> None:
        fire = self.environment.events.request.fire
        kind = self.protocol.upper()
        if record.ok:
            fire(
                request_type=kind,
                name="TTFT",
                response_time=(record.ttft_s or record.e2e_s) * 1000,
                response_length=record.output_tokens,
                exception=None,
                context={},
            )
            if record.tpot_s is not None:
                fire(
                    request_type=kind,
                    name="TPOT",
                    response_time=record.tpot_s * 1000,
                    response_length=record.output_tokens,
                    exception=None,
                    context={},
                )
            fire(
                request_type=kind,
                name="E2E",
                response_time=record.e2e_s * 1000,
                response_length=record.output_tokens,
                exception=None,
                context={},
            )
        else:
            elapsed = (time.time() - record.send_s) * 1000
            fire(
                request_type=kind,
                name="E2E",
                response_time=elapsed,
                response_length=record.output_tokens,
                exception=RuntimeError(f"{record.status}: {record.error[:200]}"),
                context={},
            )
        if _Run.writer is not None:
            meta = {
                "request_id": request_id,
                "protocol": self.protocol,
                "prompt_id": request.prompt.id,
                "kind": request.prompt.kind,
                "input_tokens": request.prompt.input_tokens,
                "max_tokens": request.max_tokens,
            }
            _Run.writer.write(record, meta, text)


class GrpcStreamUser(LLMUser):
    """tritonclient.grpc, bidirectional stream, one stream (client object) per request."""

    protocol = "grpc"

    @tag("grpc")
    @task
    def generate(self):
        self.one_request()


class HttpStreamUser(LLMUser):
    """POST /v2/models/ensemble/generate_stream, server-sent events."""

    protocol = "http"

    @tag("http")
    @task
    def generate(self):
        self.one_request()


class OpenAIUser(LLMUser):
    """POST /v1/chat/completions with stream=true (the OpenAI-compatible gateway)."""

    protocol = "openai"

    @tag("openai")
    @task
    def generate(self):
        self.one_request()
