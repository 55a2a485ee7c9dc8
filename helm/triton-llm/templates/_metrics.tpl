{{/* The queue:compute ratio per pod, shared by the recording rule and the KEDA query. */}}
{{- define "triton-llm.queueComputeRatioExpr" -}}
sum by (namespace, pod) (rate(nv_inference_queue_duration_us{namespace="{{ .Release.Namespace }}"}[1m]))
/
clamp_min(sum by (namespace, pod) (rate(nv_inference_compute_infer_duration_us{namespace="{{ .Release.Namespace }}"}[1m])), 1)
{{- end -}}

{{/* This release's serving pods, by name: Deployment <fullname>-<hash>-<id>, StatefulSet <fullname>-<n>,
LeaderWorkerSet leaders <fullname>-<group>. */}}
{{- define "triton-llm.podRegex" -}}
{{- include "triton-llm.fullname" . }}-.*
{{- end -}}
