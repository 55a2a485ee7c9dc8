"""Open-loop arrivals: a Poisson process at a target rate, piecewise constant over ramp stages.

Closed loop needs nothing here: N users each send their next request when the previous one
ends. Open loop draws exponential inter-arrival times once, up front, from a seeded generator;
Locust users then take the arrivals in order, each sleeping until its arrival's time before
sending. The users are only the concurrency pool: when all of them are busy an arrival is sent
late, which `metrics.arrival_rate` reports (achieved rate and send lateness) instead of hiding.

A ramp is a list of stages (rate, seconds) with increasing rates; each arrival is tagged with its
stage, and the run reports the highest rate whose stage met the SLOs.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Arrival:
    offset_s: float  # seconds after the start of the load
    stage: int


def poisson(stages: Sequence[tuple[float, float]], seed: int = 0) -> list[Arrival]:
    """Arrival offsets for stages [(rate per second, duration s), …], ascending.

    Inter-arrival times are exponential with the current stage's rate; at a stage boundary the
    process restarts at the new rate (memorylessness makes that exact for a piecewise rate)."""
    rng = random.Random(seed)
    arrivals: list[Arrival] = []
    start = 0.0
    for index, (rate, duration) in enumerate(stages):
        if rate <= 0 or duration <= 0:
            raise ValueError(f"stage {index}: rate and duration must be > 0, got {rate}, {duration}")
        t = start + rng.expovariate(rate)
        while t < start + duration:
            arrivals.append(Arrival(t, index))
            t += rng.expovariate(rate)
        start += duration
    return arrivals


def parse_ramp(text: str) -> list[float]:
    """ "START:STOP:STEP" (inclusive) or "R1,R2,…" → increasing rates."""
    if ":" in text:
        try:
            start, stop, step = (float(x) for x in text.split(":"))
        except ValueError:
            raise ValueError(f"ramp {text!r}: use START:STOP:STEP or R1,R2,...") from None
        if not (0 < start <= stop and step > 0):
            raise ValueError(f"ramp {text!r}: need 0 < START <= STOP and STEP > 0")
        count = int(round((stop - start) / step)) + 1
        rates = [round(start + i * step, 6) for i in range(count)]
        return [r for r in rates if r <= stop + 1e-9]
    try:
        rates = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"ramp {text!r}: use START:STOP:STEP or R1,R2,...") from None
    if not rates or any(r <= 0 for r in rates) or rates != sorted(rates):
        raise ValueError(f"ramp {text!r}: rates must be > 0 and increasing")
    return rates


class Schedule:
    """Hands out arrivals in order to whichever user asks next (gevent: no lock needed)."""

    def __init__(self, arrivals: list[Arrival], start_s: float):
        self.arrivals = arrivals
        self.start_s = start_s
        self.next_index = 0

    def take(self) -> Arrival | None:
        if self.next_index >= len(self.arrivals):
            return None
        arrival = self.arrivals[self.next_index]
        self.next_index += 1
        return arrival
