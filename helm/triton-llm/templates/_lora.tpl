{{/*
LoRA adapters by name (lora.enabled; docs/LORA.md). One adapter directory that every pod sees at lora.dir: the
repository's `lora_dir` parameter (written at assembly: `make repo LORA_DIR=<lora.dir>`), the OpenAI gateway's
--lora-dir. Each adapter is a sub-directory named by the adapter (python_backend/contract/adapter_dir.py), loaded by
the engine on its first request. Two sources: an existing claim mounted on every pod ("pvc"), or an S3 prefix synced
into an emptyDir by an init container before Triton starts and by a sidecar every lora.s3.syncIntervalSeconds after
("s3"). The chart cannot change the repository's parameters (Triton reads them from config.pbtxt), so an init
container checks that they say what lora.* says and stops the pod naming the one that differs.
*/}}

{{/* Value checks JSON schema cannot express; part of triton-llm.validate. */}}
{{- define "triton-llm.validateLora" -}}
{{- $l := .Values.lora -}}
{{- if $l.enabled -}}
{{- if not (hasPrefix "/" $l.dir) -}}
{{- fail (printf "lora.dir %q must be an absolute path: the repository's lora_dir parameter names it as the pods see it" $l.dir) -}}
{{- end -}}
{{- range $name, $path := dict "modelRepository.mountPath" .Values.modelRepository.mountPath "checkpoint.mountPath" .Values.checkpoint.mountPath -}}
{{- if or (eq (trimSuffix "/" $l.dir) (trimSuffix "/" $path)) (hasPrefix (printf "%s/" (trimSuffix "/" $path)) (printf "%s/" (trimSuffix "/" $l.dir))) (hasPrefix (printf "%s/" (trimSuffix "/" $l.dir)) (printf "%s/" (trimSuffix "/" $path))) -}}
{{- fail (printf "lora.dir %s overlaps %s %s: mount the adapter directory on a path of its own" $l.dir $name $path) -}}
{{- end -}}
{{- end -}}
{{- if and (eq $l.source "pvc") (not $l.pvc.claimName) -}}
{{- fail "lora.source is pvc but lora.pvc.claimName is empty: name the existing claim holding the adapter directory (ReadOnlyMany, or ReadWriteMany with lora.allowRuntimeLoading)" -}}
{{- end -}}
{{- if and (eq $l.source "s3") (not (hasPrefix "s3://" $l.s3.uri)) -}}
{{- fail (printf "lora.source is s3 but lora.s3.uri %q does not start with s3://" $l.s3.uri) -}}
{{- end -}}
{{- if and $l.allowRuntimeLoading (not .Values.openaiGateway.enabled) -}}
{{- fail "lora.allowRuntimeLoading turns on the OpenAI gateway's /v1/load_lora_adapter and /v1/unload_lora_adapter: it needs openaiGateway.enabled" -}}
{{- end -}}
{{- if and $l.allowRuntimeLoading (or (ne $l.source "pvc") $l.pvc.readOnly) -}}
{{- fail "lora.allowRuntimeLoading needs a writable shared adapter directory, so that every replica sees an adapter loaded at runtime: lora.source pvc on a ReadWriteMany claim with lora.pvc.readOnly false (an s3 sync would delete it)" -}}
{{- end -}}
{{- else if $l.allowRuntimeLoading -}}
{{- fail "lora.allowRuntimeLoading needs lora.enabled" -}}
{{- end -}}
{{- end -}}

{{/* The adapter directory's volumeMount; dict root, writable ("true" for the gateway with runtime loading). Empty
when LoRA is off. */}}
{{- define "triton-llm.loraMount" -}}
{{- $l := .root.Values.lora -}}
{{- if $l.enabled }}
- name: lora-adapters
  mountPath: {{ $l.dir }}
  {{- if and (eq $l.source "pvc") $l.pvc.subPath }}
  subPath: {{ $l.pvc.subPath }}
  {{- end }}
  readOnly: {{ not .writable }}
{{- end }}
{{- end -}}

{{- define "triton-llm.loraVolume" -}}
{{- $l := .Values.lora -}}
{{- if $l.enabled }}
- name: lora-adapters
  {{- if eq $l.source "pvc" }}
  persistentVolumeClaim:
    claimName: {{ $l.pvc.claimName }}
    readOnly: {{ $l.pvc.readOnly }}
  {{- else }}
  emptyDir:
    sizeLimit: {{ $l.s3.sizeLimit }}
  {{- end }}
{{- end }}
{{- end -}}

{{/* The S3 sync: once as an init container (name fetch-lora-adapters, before the repository check and Triton),
then as a sidecar (sync-lora-adapters, mode "loop"). dict root, name, mode. */}}
{{- define "triton-llm.loraSyncContainer" -}}
{{- $v := .root.Values -}}
{{- $l := $v.lora -}}
- name: {{ .name }}
  image: {{ $v.modelRepository.s3.image }}
  imagePullPolicy: IfNotPresent
  command:
    - /bin/sh
    - /opt/triton-llm/scripts/sync-lora-adapters.sh
    - {{ .mode }}
  env:
    - name: HOME
      value: /tmp
    - name: LORA_DIR
      value: {{ $l.dir | quote }}
    - name: SOURCE_URI
      value: {{ $l.s3.uri | quote }}
    - name: SYNC_INTERVAL_SECONDS
      value: {{ int $l.s3.syncIntervalSeconds | quote }}
    {{- with $l.s3.region }}
    - name: AWS_REGION
      value: {{ . | quote }}
    {{- end }}
    {{- with $l.s3.endpointUrl }}
    - name: AWS_ENDPOINT_URL
      value: {{ . | quote }}
    {{- end }}
  {{- with $l.s3.credentialsSecret }}
  envFrom:
    - secretRef:
        name: {{ . }}
        optional: false
  {{- end }}
  resources:
    {{- toYaml $l.s3.resources | nindent 4 }}
  securityContext:
    {{- toYaml $v.containerSecurityContext | nindent 4 }}
  volumeMounts:
    - name: lora-adapters
      mountPath: {{ $l.dir }}
    - name: tmp
      mountPath: /tmp
    - name: scripts
      mountPath: /opt/triton-llm/scripts
      readOnly: true
{{- end -}}

{{/* Init containers of LoRA: the first S3 sync, then the check that the repository's parameters pair with
lora.*. Empty when LoRA is off. */}}
{{- define "triton-llm.loraInitContainers" -}}
{{- $v := .Values -}}
{{- if $v.lora.enabled }}
{{- if eq $v.lora.source "s3" }}
{{ include "triton-llm.loraSyncContainer" (dict "root" . "name" "fetch-lora-adapters" "mode" "once") }}
{{- end }}
- name: check-lora
  image: {{ include "triton-llm.image" . }}
  imagePullPolicy: {{ $v.image.pullPolicy }}
  command:
    - python3
    - /opt/triton-llm/scripts/check-lora.py
  env:
    - name: MODEL_REPOSITORY
      value: {{ include "triton-llm.modelRepositoryPath" . | quote }}
    - name: LORA_DIR
      value: {{ $v.lora.dir | quote }}
    - name: MAX_LORAS
      value: {{ int $v.lora.maxLoras | quote }}
    - name: MAX_LORA_RANK
      value: {{ int $v.lora.maxLoraRank | quote }}
    - name: PYTHONDONTWRITEBYTECODE
      value: "1"
  resources:
    requests:
      cpu: 50m
      memory: 64Mi
    limits:
      memory: 128Mi
  securityContext:
    {{- toYaml $v.containerSecurityContext | nindent 4 }}
  volumeMounts:
    {{- include "triton-llm.modelMount" . | nindent 4 }}
    {{- include "triton-llm.loraMount" (dict "root" . "writable" false) | indent 4 }}
    - name: scripts
      mountPath: /opt/triton-llm/scripts
      readOnly: true
{{- end }}
{{- end -}}

{{/* The OpenAI gateway's LoRA flags (client/openai_gateway): the adapter directory it lists in /v1/models and,
with lora.allowRuntimeLoading, the one /v1/load_lora_adapter accepts paths under. */}}
{{- define "triton-llm.loraGatewayArgs" -}}
{{- $l := .Values.lora -}}
{{- if $l.enabled }}
- {{ printf "--lora-dir=%s" $l.dir }}
{{- if $l.allowRuntimeLoading }}
- --allow-runtime-lora
{{- end }}
{{- end }}
{{- end -}}

{{/* Scripts of LoRA, in the scripts ConfigMap (mounted at /opt/triton-llm/scripts). */}}
{{- define "triton-llm.loraScripts" -}}
{{- if .Values.lora.enabled }}
check-lora.py: |
{{ .Files.Get "files/check-lora.py" | indent 2 }}
{{- if eq .Values.lora.source "s3" }}
sync-lora-adapters.sh: |
  # once: the first sync, before Triton starts; loop: the sidecar, a sync every SYNC_INTERVAL_SECONDS. aws s3 sync
  # copies only what changed and --delete removes adapters removed from the bucket (the engine then answers
  # NOT_FOUND for them). Publish a changed adapter under a new name: a sync rewrites its two files one after the other.
  set -u
  mkdir -p "${LORA_DIR}"
  while :; do
    if aws s3 sync --only-show-errors --delete "${SOURCE_URI}" "${LORA_DIR}"; then
      [ "$1" = once ] && { echo "adapters synced from ${SOURCE_URI} into ${LORA_DIR}"; exit 0; }
    else
      [ "$1" = once ] && { echo "error: aws s3 sync of ${SOURCE_URI} failed" >&2; exit 1; }
      echo "warning: aws s3 sync of ${SOURCE_URI} failed; retrying in ${SYNC_INTERVAL_SECONDS} s" >&2
    fi
    sleep "${SYNC_INTERVAL_SECONDS}"
  done
{{- end }}
{{- end }}
{{- end -}}

{{/* lora.enabled with inferenceExtension: the picker's metrics extractor reads this server's LoRA gauge. The
built-in triton-tensorrt-llm engine config has an empty loraSpec (LoRA disabled) and a user-defined entry of the
same name replaces it, so this repeats the built-in's specs and adds loraSpec (llm-d/llm-d-router
pkg/epp/framework/plugins/datalayer/extractor/metrics/factories.go, commit 08cbacc83054c7dfbea810f1d9518e5c22632d60:
engineConfigs fields, defaultEngineConfigs). The gauge carries vLLM's lora_requests_info labels
(running_lora_adapters, waiting_lora_adapters, max_lora; docs/upstream/lora.md §4.3, §5); the lora-affinity-scorer
prefers a pod where the request's adapter (the OpenAI "model") is running, then one with a free slot. */}}
{{- define "triton-llm.loraEngineConfig" -}}
engineConfigs:
  - name: triton-tensorrt-llm
    queuedRequestsSpec: nv_trt_llm_request_metrics{request_type=waiting}
    runningRequestsSpec: nv_trt_llm_request_metrics{request_type=scheduled}
    kvUsageSpec: nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=fraction}
    cacheBlockSizeSpec: nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=tokens_per}
    cacheNumBlocksSpec: nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=max}
    loraSpec: triton_llm_lora_requests_info
{{- end -}}

{{/* "true" when the pods export triton_llm_lora_requests_info on Triton's metrics port: LoRA on the GPU path whose
engine model exports it (pytorch: python_backend/llmapi/metrics.py; the CPU engine does too, but the picker is GPU
only). The tensorrtllm C++ backend exports no LoRA metric, and a loraSpec naming a missing family fails every
scrape (docs/upstream/lora.md §5.2), so on the trt path the picker keeps the built-in config (LoRA not scraped). */}}
{{- define "triton-llm.loraGaugeServed" -}}
{{- if and .Values.lora.enabled (eq (include "triton-llm.gpuEngine" .) "pytorch") -}}true{{- end -}}
{{- end -}}
