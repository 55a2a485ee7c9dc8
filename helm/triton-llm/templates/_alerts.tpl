{{/*
Alerting rules of the release (metrics.prometheusRule.alerts), as a YAML list for the PrometheusRule. Each series
is selected by namespace and release label (_metrics.tpl). Where the CPU and GPU engines export the same quantity
under different names, the expression takes the CPU engine's family `or` TensorRT-LLM's (nv_trt_llm_*: the
tensorrtllm backend on the trt path, the LLM-API engine model on the pytorch path, the same families and labels);
a pod exports only one of them.
*/}}
{{- define "triton-llm.alertRules" -}}
{{- $a := .Values.metrics.prometheusRule.alerts -}}
{{- $m := include "triton-llm.releaseMatchers" . -}}
{{- $rel := include "triton-llm.releaseLabel" . -}}
{{- $w := $a.window -}}
{{- $release := printf "namespace, %s" $rel -}}
{{- $perPod := printf "namespace, pod, %s" $rel -}}
{{- /* p99 over the release. CPU: the engine's own TTFT histogram. GPU: Triton's first-response histogram of the
decoupled engine model (--metrics-config=histogram_latencies=true), which for a streamed request is the first
token; a non-streamed request's only response is its last, so they lift this p99. Triton core keeps it for every
decoupled model, a Python-backend one too (the pytorch path's engine): triton-inference-server/server
qa/L0_metrics/histogram_metrics_test.py, commit c3661e8cd8fcf69b0f560af65859810208308a13, reads it for the
Python model async_execute_decouple. */ -}}
{{- $ttft := printf `histogram_quantile(0.99, sum by (%s, le) (rate(triton_llm_time_to_first_token_seconds_bucket{%s}[%s])))
or
histogram_quantile(0.99, sum by (%s, le) (rate(nv_inference_first_response_histogram_ms_bucket{%s,model="engine"}[%s]))) / 1000` $release $m $w $release $m $w -}}
{{- $queue := printf `max by (%s) (triton_llm_waiting_requests{%s} or nv_trt_llm_request_metrics{%s,request_type="waiting"})` $perPod $m $m -}}
{{- $kv := printf `max by (%s) (triton_llm_kv_cache_utilization_ratio{%s} or nv_trt_llm_kv_cache_block_metrics{%s,kv_cache_block_type="fraction"})` $perPod $m $m -}}
{{- $failed := printf `sum by (%s) (rate(nv_inference_request_failure{%s,model="ensemble"}[%s]))` $release $m $w -}}
{{- $succeeded := printf `sum by (%s) (rate(nv_inference_request_success{%s,model="ensemble"}[%s]))` $release $m $w -}}
{{- $restarts := printf `sum by (namespace, pod) (increase(kube_pod_container_status_restarts_total{namespace=%q,pod=~%q,container=~"triton|mpi-worker|openai-gateway"}[%s]))` .Release.Namespace (include "triton-llm.podRegex" .) $a.restarts.window -}}
{{- $rules := list
  (dict "alert" "TritonLLMHighTimeToFirstToken" "spec" $a.ttft
    "expr" (printf "(\n%s\n) > %v" $ttft $a.ttft.p99Seconds)
    "summary" "p99 time to first token is high"
    "description" (printf "p99 time to first token of release %s has been above %vs for %s." .Release.Name $a.ttft.p99Seconds $a.ttft.for))
  (dict "alert" "TritonLLMQueueGrowing" "spec" $a.queue
    "expr" (printf "%s > %v\nand\nderiv((%s)[%s:])\n> 0" $queue $a.queue.waiting $queue $w)
    "summary" "requests are piling up in the engine queue"
    "description" (printf "Pod {{ $labels.pod }} has more than %v requests waiting for a KV-cache slot and the queue is still growing; add replicas or lower the load." $a.queue.waiting))
  (dict "alert" "TritonLLMKVCacheNearlyFull" "spec" $a.kvCache
    "expr" (printf "%s > %v" $kv $a.kvCache.utilization)
    "summary" "KV cache nearly full"
    "description" (printf "Pod {{ $labels.pod }} has used more than %v of its KV cache for %s: new requests wait or are rejected." $a.kvCache.utilization $a.kvCache.for))
  (dict "alert" "TritonLLMHighErrorRate" "spec" $a.errors
    "expr" (printf "%s\n/\n(%s + %s)\n> %v" $failed $succeeded $failed $a.errors.ratio)
    "summary" "inference requests are failing"
    "description" (printf "More than %v of the ensemble's requests in release %s failed over %s." $a.errors.ratio .Release.Name $w))
  (dict "alert" "TritonLLMPodRestarting" "spec" $a.restarts
    "expr" (printf "%s >= %v" $restarts $a.restarts.count)
    "summary" "a serving pod restarted"
    "description" (printf "Pod {{ $labels.pod }} restarted at least %v time(s) in %s (kube-state-metrics): engines reload for minutes after each restart." $a.restarts.count $a.restarts.window))
-}}
{{- range $rules }}
- alert: {{ .alert }}
  expr: |
    {{- .expr | nindent 4 }}
  {{- with .spec.for }}
  for: {{ . }}
  {{- end }}
  labels:
    severity: {{ .spec.severity }}
    {{- with $a.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    summary: {{ .summary | quote }}
    description: {{ .description | quote }}
{{- end }}
{{- end -}}
