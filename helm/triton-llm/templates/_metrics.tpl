{{/* The label prometheus-operator copies from each pod's app.kubernetes.io/instance onto its series (both
monitors list it in podTargetLabels; the operator replaces every character outside [a-zA-Z0-9_] with "_":
prometheus-operator pkg/prometheus/promcfg.go sanitizeLabelName, commit 002266347d12f6ee0ef0b4a774dfcc613d2d9547). */}}
{{- define "triton-llm.releaseLabel" -}}
app_kubernetes_io_instance
{{- end -}}

{{/* PromQL matchers for this release's series. The namespace alone matched every release in it, so two releases
in one namespace recorded the same series. */}}
{{- define "triton-llm.releaseMatchers" -}}
namespace="{{ .Release.Namespace }}",{{ include "triton-llm.releaseLabel" . }}="{{ .Release.Name }}"
{{- end -}}

{{/* The queue:compute ratio per pod that the recording rule stores as autoscaling.metricName. It keeps the release
label, so the KEDA query and the alerts can select this release's pods by it. */}}
{{- define "triton-llm.queueComputeRatioExpr" -}}
{{- $by := printf "namespace, pod, %s" (include "triton-llm.releaseLabel" .) -}}
{{- $matchers := include "triton-llm.releaseMatchers" . -}}
{{- $window := .Values.metrics.prometheusRule.rateWindow -}}
sum by ({{ $by }}) (rate(nv_inference_queue_duration_us{ {{- $matchers -}} }[{{ $window }}]))
/
clamp_min(sum by ({{ $by }}) (rate(nv_inference_compute_infer_duration_us{ {{- $matchers -}} }[{{ $window }}])), 1)
{{- end -}}

{{/* One KEDA prometheus trigger; dict root, name, query, threshold, activationThreshold, ignoreNullValues.
AverageValue: KEDA divides the query by the replica count, and fallback needs an AverageValue trigger. With
ignoreNullValues false an empty result is an error (counted towards fallback), not a zero that scales in. */}}
{{- define "triton-llm.kedaPrometheusTrigger" -}}
{{- $k := .root.Values.keda -}}
- type: prometheus
  name: {{ .name }}
  metricType: AverageValue
  metadata:
    serverAddress: {{ $k.serverAddress | quote }}
    query: {{ .query | quote }}
    threshold: {{ .threshold | quote }}
    activationThreshold: {{ .activationThreshold | quote }}
    ignoreNullValues: {{ .ignoreNullValues | toString | quote }}
  {{- with $k.authenticationRef }}
  authenticationRef:
    name: {{ . }}
  {{- end }}
{{- end -}}

{{/* podTargetLabels of the ServiceMonitor and the PodMonitor: the release label the rules select on. */}}
{{- define "triton-llm.podTargetLabels" -}}
podTargetLabels:
  - app.kubernetes.io/instance
{{- end -}}

{{/* This release's serving pods, by name, for series that carry no release label (kube-state-metrics): Deployment
<fullname>-<hash>-<id>, StatefulSet <fullname>-<n>, LeaderWorkerSet leaders <fullname>-<group>. */}}
{{- define "triton-llm.podRegex" -}}
{{- include "triton-llm.fullname" . }}-.*
{{- end -}}
