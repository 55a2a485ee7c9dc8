{{/*
The pytorch engine path (gpu.engine pytorch): the `engine` model runs TensorRT-LLM's LLM API on its PyTorch backend,
which loads a Hugging Face (or ModelOpt) checkpoint at start instead of prebuilt engines. What differs from the trt
path lives here: the value checks, the multi-node launcher and the checkpoint (volume, mounts, download).

The checkpoint is where the engine model's model.yaml says (`model:`, written at assembly). With checkpoint.source
repository it is inside the repository (engine/1/checkpoint) and nothing here renders; otherwise a volume "checkpoint" at
checkpoint.mountPath (an existing claim, or an emptyDir an init container fills), mounted into every container that
reads it: the repository check, Triton and the multi-node workers.
*/}}

{{/* Value checks of the engine path that JSON schema cannot express; part of triton-llm.validate. */}}
{{- define "triton-llm.validateGpuEngine" -}}
{{- $pytorch := eq .Values.gpu.engine "pytorch" -}}
{{- $c := .Values.checkpoint -}}
{{- if and $pytorch (not .Values.gpu.enabled) -}}
{{- fail "gpu.engine pytorch needs gpu.enabled: true (the CPU repository has no engine path to choose)" -}}
{{- end -}}
{{- if and $pytorch .Values.engineBuild.enabled -}}
{{- fail "gpu.engine pytorch needs no engine build: TensorRT-LLM's LLM API loads the Hugging Face checkpoint at start (checkpoint.source), so set engineBuild.enabled false and assemble the repository with `make gpu-repo GPU_ENGINE=pytorch`" -}}
{{- end -}}
{{- if and (not $pytorch) (ne $c.source "repository") -}}
{{- fail (printf "checkpoint.source %s is read by the pytorch engine path only (gpu.engine pytorch); the trt path serves the engines inside the repository" $c.source) -}}
{{- end -}}
{{- if and (not $pytorch) (gt (int .Values.parallelism.instances) 1) -}}
{{- fail "parallelism.instances > 1 needs gpu.engine pytorch: several engine instances in one pod are the LLM API's gpu_device_ids; the tensorrtllm backend runs one engine per pod" -}}
{{- end -}}
{{- if and .Values.multiNode.enabled (gt (int .Values.parallelism.instances) 1) -}}
{{- fail "parallelism.instances > 1 with multiNode.enabled: trtllm-llmapi-launch runs one engine over the group's pods; serve several instances from single-node pods instead" -}}
{{- end -}}
{{- if $pytorch -}}
{{- if and (eq $c.source "pvc") (not $c.pvc.claimName) -}}
{{- fail "checkpoint.source is pvc but checkpoint.pvc.claimName is empty: name the existing claim holding the checkpoint" -}}
{{- end -}}
{{- if and (eq $c.source "s3") (not (hasPrefix "s3://" $c.s3.uri)) -}}
{{- fail (printf "checkpoint.source is s3 but checkpoint.s3.uri %q does not start with s3://" $c.s3.uri) -}}
{{- end -}}
{{- if and (eq $c.source "huggingface") (not $c.huggingface.model) -}}
{{- fail "checkpoint.source is huggingface but checkpoint.huggingface.model is empty: give the model id on the Hub" -}}
{{- end -}}
{{- if and (ne $c.source "repository") (hasPrefix (printf "%s/" (trimSuffix "/" .Values.modelRepository.mountPath)) (printf "%s/" (trimSuffix "/" $c.mountPath))) -}}
{{- fail (printf "checkpoint.mountPath %s is inside modelRepository.mountPath %s: mount it elsewhere (a mount inside the read-only repository volume cannot be created), or use checkpoint.source repository" $c.mountPath .Values.modelRepository.mountPath) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Multi-node pytorch: mpirun's part after its own flags, as a JSON list. One rank per GPU of the group, each
running upstream's launcher (tensorrt_llm/llmapi/trtllm-llmapi-launch, NVIDIA/TensorRT-LLM commit
020c89e64e49f24102f1b62be96a1a68283cdf7a): rank 0 runs the given command, tritonserver, with the MPI variables
removed, beside `python3 -m tensorrt_llm.llmapi.mgmn_leader_node`; every other rank runs `python3 -m
tensorrt_llm.llmapi.mgmn_worker_node`, the LLM API's MPI worker. So tritonserver runs on rank 0 only, as in
upstream's srun recipe (triton-inference-server/tensorrtllm_backend docs/llmapi.md, commit
0b9d7d5a195820d53abadfcf7208d0ccdbfd5332). The ranks mpirun starts over ssh do not see the worker container's
environment: the Hub stays off for them too. Needs dict world, serving (the serving rank's command line). */}}
{{- define "triton-llm.llmapiLaunch" -}}
{{- toJson (concat (list "-x" "HF_HUB_OFFLINE" "-x" "TRANSFORMERS_OFFLINE" "-n" (toString .world) "trtllm-llmapi-launch") .serving) -}}
{{- end -}}

{{/* "true" when the pods mount a checkpoint of their own (gpu.engine pytorch, checkpoint.source not repository). */}}
{{- define "triton-llm.checkpointMounted" -}}
{{- if and (eq (include "triton-llm.gpuEngine" .) "pytorch") (ne .Values.checkpoint.source "repository") -}}true{{- end -}}
{{- end -}}

{{/* Where the engine model must find the checkpoint: what model.yaml's `model:` has to say. */}}
{{- define "triton-llm.checkpointPath" -}}
{{- if include "triton-llm.checkpointMounted" . -}}
{{- .Values.checkpoint.mountPath -}}
{{- else -}}
{{- printf "%s/engine/1/checkpoint" (include "triton-llm.modelRepositoryPath" .) -}}
{{- end -}}
{{- end -}}

{{/* The checkpoint's volumeMount (read-only) in the containers that read it; empty when not mounted. */}}
{{- define "triton-llm.checkpointMount" -}}
{{- if include "triton-llm.checkpointMounted" . }}
{{- $c := .Values.checkpoint }}
- name: checkpoint
  mountPath: {{ $c.mountPath }}
  {{- if and (eq $c.source "pvc") $c.pvc.subPath }}
  subPath: {{ $c.pvc.subPath }}
  {{- end }}
  # Serving never writes to the checkpoint.
  readOnly: true
{{- end }}
{{- end -}}

{{- define "triton-llm.checkpointVolume" -}}
{{- if include "triton-llm.checkpointMounted" . }}
{{- $c := .Values.checkpoint }}
- name: checkpoint
  {{- if eq $c.source "pvc" }}
  persistentVolumeClaim:
    claimName: {{ $c.pvc.claimName }}
    readOnly: true
  {{- else }}
  emptyDir:
    sizeLimit: {{ $c.downloadSizeLimit }}
  {{- end }}
{{- end }}
{{- end -}}

{{/* Downloads the checkpoint before the repository check and Triton (sources s3, huggingface). Credentials only
come from existing Secrets, with envFrom. */}}
{{- define "triton-llm.fetchCheckpointContainer" -}}
{{- $v := .Values -}}
{{- $c := $v.checkpoint -}}
{{- if and (include "triton-llm.checkpointMounted" .) (has $c.source (list "s3" "huggingface")) }}
- name: fetch-checkpoint
  {{- if eq $c.source "s3" }}
  image: {{ $v.modelRepository.s3.image }}
  {{- else }}
  image: {{ default (include "triton-llm.image" .) $c.huggingface.image }}
  {{- end }}
  imagePullPolicy: IfNotPresent
  command:
    - /bin/sh
    - {{ printf "/opt/triton-llm/scripts/fetch-checkpoint-%s.sh" $c.source }}
  env:
    - name: HOME
      value: /tmp
    - name: CHECKPOINT_PATH
      value: {{ $c.mountPath | quote }}
    {{- if eq $c.source "s3" }}
    - name: SOURCE_URI
      value: {{ $c.s3.uri | quote }}
    {{- with $c.s3.region }}
    - name: AWS_REGION
      value: {{ . | quote }}
    {{- end }}
    {{- with $c.s3.endpointUrl }}
    - name: AWS_ENDPOINT_URL
      value: {{ . | quote }}
    {{- end }}
    {{- else }}
    - name: SOURCE_URI
      value: {{ printf "https://huggingface.co/%s (revision %s)" $c.huggingface.model $c.huggingface.revision | quote }}
    - name: HF_MODEL
      value: {{ $c.huggingface.model | quote }}
    - name: HF_REVISION
      value: {{ $c.huggingface.revision | quote }}
    {{- end }}
  {{- $secret := ternary $c.s3.credentialsSecret $c.huggingface.tokenSecret (eq $c.source "s3") }}
  {{- with $secret }}
  envFrom:
    - secretRef:
        name: {{ . }}
        optional: false
  {{- end }}
  resources:
    {{- toYaml $v.modelRepository.downloaderResources | nindent 4 }}
  securityContext:
    {{- toYaml $v.containerSecurityContext | nindent 4 }}
  volumeMounts:
    - name: checkpoint
      mountPath: {{ $c.mountPath }}
    - name: tmp
      mountPath: /tmp
    - name: scripts
      mountPath: /opt/triton-llm/scripts
      readOnly: true
{{- end }}
{{- end -}}

{{/* Scripts of the checkpoint download, in the scripts ConfigMap (mounted at /opt/triton-llm/scripts). */}}
{{- define "triton-llm.checkpointScripts" -}}
{{- if include "triton-llm.checkpointMounted" . }}
verify-checkpoint.sh: |
  # Fails with a clear message unless CHECKPOINT_PATH holds a Hugging Face checkpoint directory (ModelOpt exports
  # are one too): TensorRT-LLM's LLM API reads config.json first.
  if [ ! -f "${CHECKPOINT_PATH}/config.json" ]; then
    echo "error: ${CHECKPOINT_PATH}/config.json missing after download from ${SOURCE_URI};" \
      "point checkpoint.* at a Hugging Face checkpoint directory (config.json and the weights)" >&2
    exit 1
  fi
  echo "checkpoint ready at ${CHECKPOINT_PATH}"
{{- if eq .Values.checkpoint.source "s3" }}
fetch-checkpoint-s3.sh: |
  # aws s3 sync copies only what changed; an init container restarted in the same pod resumes.
  set -eu
  aws s3 sync --only-show-errors --delete "${SOURCE_URI}" "${CHECKPOINT_PATH}"
  . /opt/triton-llm/scripts/verify-checkpoint.sh
{{- else if eq .Values.checkpoint.source "huggingface" }}
fetch-checkpoint-huggingface.sh: |
  # snapshot_download(repo_id, revision, local_dir) skips files already complete in local_dir, so an init
  # container restarted in the same pod resumes. HF_TOKEN (checkpoint.huggingface.tokenSecret) is read from the
  # environment by huggingface_hub itself.
  set -eu
  python3 -c 'import os; from huggingface_hub import snapshot_download; snapshot_download(repo_id=os.environ["HF_MODEL"], revision=os.environ["HF_REVISION"], local_dir=os.environ["CHECKPOINT_PATH"])'
  . /opt/triton-llm/scripts/verify-checkpoint.sh
{{- end }}
{{- end }}
{{- end -}}
