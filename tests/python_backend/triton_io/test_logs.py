import json
import logging

from python_backend.triton_io.logs import JsonFormatter, event


def test_events_are_json_lines_with_their_fields():
    records = []

    class Capture(logging.Handler):
        def emit(self, record):
            records.append(JsonFormatter().format(record))

    logger = logging.getLogger("triton_llm.test")
    logger.addHandler(Capture())
    logger.setLevel(logging.INFO)
    event(logger, "request_finished", request_id="r#1", prompt_tokens=12, reason="length")
    line = json.loads(records[-1])
    assert line["event"] == "request_finished" and line["request_id"] == "r#1"
    assert line["prompt_tokens"] == 12 and line["level"] == "info"
