"""Run by test_gateway_metrics.py under AIPerf's own interpreter (AIPERF_PYTHON): read a /metrics URL
the way AIPerf's server-metrics collection does and print what it kept as JSON
{family: {"type": ..., "samples": [[labels, value, count]]}}.

ServerMetricsDataCollector._parse_metrics_to_records is the step AIPerf runs on every scrape of
`--server-metrics` URLs (and of the endpoint's base URL + /metrics, collected by default): it parses
with prometheus_client (the OpenMetrics parser for that content type), drops *_created families and
turns histograms into bucket records.
"""

import json
import sys
import urllib.request

from aiperf.common.mixins.base_metrics_collector_mixin import FetchResult
from aiperf.server_metrics.data_collector import ServerMetricsDataCollector

url = sys.argv[1]
with urllib.request.urlopen(url, timeout=10) as response:
    text = response.read().decode()
    content_type = (response.headers.get("content-type") or "").lower() or None
record = ServerMetricsDataCollector(url)._parse_metrics_to_records(
    FetchResult(text=text, trace_timing=None, content_type=content_type)
)
families = {
    name: {
        "type": str(family.type),
        "samples": [[s.labels or {}, s.value, getattr(s, "count", None)] for s in family.samples],
    }
    for name, family in (record.metrics if record else {}).items()
}
print(json.dumps(families))
