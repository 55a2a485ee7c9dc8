"""One streamed choice's state: stop-string trimming, tool-call parsing, the log probs of text not
yet sent, and its token count. A request with n > 1 has one per sequence_index (the chunks of its
answers arrive interleaved)."""

from __future__ import annotations

from ..responses import finish_reason
from ..types import Chunk
from . import answers, logprobs
from .parsing import Call
from .tool_calls import CallParser


class ChoiceStream:
    def __init__(self, call: Call, index: int, decode=None):
        self.call = call
        self.index = index
        self.decode = decode  # decode(token id) -> text: for top_logprobs
        self.trimmer = answers.StopTrimmer(call.trimmed_stop)
        self.calls = CallParser(call.tools)  # text passes through; tool calls become delta.tool_calls
        # Log probs of tokens whose text the stop trimmer still holds go out with that text.
        self.held: answers.Tokens = ([], [], [])
        self.tokens = 0
        self.cached: int | None = None

    def feed(self, chunk: Chunk) -> list[dict]:
        """The choice deltas one response of this answer gives."""
        self.tokens = max(self.tokens, chunk.token_count)
        if chunk.cached_tokens is not None:
            self.cached = max(self.cached or 0, chunk.cached_tokens)
        if chunk.log_probs:
            self.held[0].extend([chunk.text] + [""] * (len(chunk.log_probs) - 1))
            self.held[1].extend(chunk.log_probs)
            if self.call.top_logprobs and chunk.logits is not None:
                self.held[2].extend(logprobs.alternatives(chunk.logits, self.call.top_logprobs, self.decode))
        return self._deltas(self.trimmer.feed(chunk.text))

    def finish(self) -> list[dict]:
        """The last deltas: text the trimmer held, then the finish reason."""
        reason = finish_reason(self.tokens, self.call.request.max_tokens)
        out = self._deltas(self.trimmer.finish(reason == "stop"))
        out.append(
            answers.delta(
                self.call,
                None,
                self.calls.finish_reason(reason),
                tokens=self.held if self.held[1] else None,
                index=self.index,
            )
        )
        return out

    def _deltas(self, text: str) -> list[dict]:
        out = []
        for piece in self.calls.feed(text):
            out.append(answers.delta(self.call, piece, None, tokens=self.held, index=self.index))
            self.held = ([], [], [])
        return out
