{{/*
The pod template shared by the Deployment, the StatefulSet and both LeaderWorkerSet templates.
Call with (dict "root" $ "role" "server") for pods that serve (rank 0), or "worker" for multi-node worker pods.
*/}}

{{- define "triton-llm.podTemplate" -}}
{{- $root := .root -}}
{{- $v := $root.Values -}}
{{- $role := .role -}}
{{- $gpus := int (include "triton-llm.gpusPerPod" $root) -}}
{{- $source := $v.modelRepository.source -}}
metadata:
  labels:
    {{- include "triton-llm.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ ternary "server" "mpi-worker" (eq $role "server") }}
    {{- with $v.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    # Pods roll when the scripts or the settings they run with change, not only when the image does.
    checksum/config: {{ include "triton-llm.configChecksum" $root }}
    {{- with $v.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "triton-llm.serviceAccountName" $root }}
  # Triton never talks to the Kubernetes API.
  automountServiceAccountToken: false
  {{- if and $v.gpu.enabled $v.gpu.runtimeClassName }}
  runtimeClassName: {{ $v.gpu.runtimeClassName }}
  {{- end }}
  {{- with $v.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  {{- with $v.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml $v.podSecurityContext | nindent 4 }}
  terminationGracePeriodSeconds: {{ int $v.terminationGracePeriodSeconds }}
  {{- with $v.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with include "triton-llm.tolerations" (dict "root" $root "gpus" $gpus) }}
  tolerations:
    {{- . | nindent 4 }}
  {{- end }}
  {{- if and (eq $role "server") $v.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml $v.topologySpreadConstraints | nindent 4 }}
  {{- end }}
  {{- /* extra* values apply to every pod that runs Triton: serving pods and multi-node workers alike. */}}
  initContainers:
    {{- if ne $source "pvc" }}
    {{- include "triton-llm.fetchContainer" $root | nindent 4 }}
    {{- end }}
    {{- include "triton-llm.fetchCheckpointContainer" $root | indent 4 }}
    {{- include "triton-llm.checkRepositoryContainer" $root | nindent 4 }}
    {{- include "triton-llm.loraInitContainers" $root | indent 4 }}
    {{- with $v.extraInitContainers }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  containers:
    {{- if eq $role "server" }}
    {{- include "triton-llm.tritonContainer" $root | nindent 4 }}
    {{- if $v.openaiGateway.enabled }}
    {{- include "triton-llm.openaiGatewayContainer" $root | nindent 4 }}
    {{- end }}
    {{- else }}
    {{- include "triton-llm.mpiWorkerContainer" $root | nindent 4 }}
    {{- end }}
    {{- if and $v.lora.enabled (eq $v.lora.source "s3") }}
    {{- include "triton-llm.loraSyncContainer" (dict "root" $root "name" "sync-lora-adapters" "mode" "loop") | nindent 4 }}
    {{- end }}
    {{- with $v.extraContainers }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  volumes:
    {{- include "triton-llm.volumes" $root | trim | nindent 4 }}
    {{- with $v.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end -}}

{{/* Hash of everything the pods read at start besides their own spec: the scripts ConfigMap and the settings
that feed it. */}}
{{- define "triton-llm.configChecksum" -}}
{{- $settings := dict "modelRepository" .Values.modelRepository "server" .Values.server "multiNode" .Values.multiNode "parallelism" .Values.parallelism -}}
{{- /* The LoRA values feed the scripts' environment (check-lora, the S3 sync). */ -}}
{{- if .Values.lora.enabled -}}
{{- $_ := set $settings "lora" .Values.lora -}}
{{- end -}}
{{- /* A new engine build is served only by pods started after it: roll them. */ -}}
{{- if .Values.engineBuild.enabled -}}
{{- $_ := set $settings "engineBuild" (include "triton-llm.engineBuildKey" .) -}}
{{- end -}}
{{- printf "%s\n%s" (include (print .Template.BasePath "/configmap-scripts.yaml") .) (toJson $settings) | sha256sum -}}
{{- end -}}

{{/* tolerations plus, for pods that request GPUs, the usual GPU node taint (gpu.tolerateGpuTaint). Serving pods
and the build Job both use it. Needs dict root, gpus. */}}
{{- define "triton-llm.tolerations" -}}
{{- $v := .root.Values -}}
{{- $tolerations := $v.tolerations -}}
{{- if and (gt (int .gpus) 0) $v.gpu.tolerateGpuTaint -}}
{{- $tolerations = append $tolerations (dict "key" $v.gpu.resourceName "operator" "Exists" "effect" "NoSchedule") -}}
{{- end -}}
{{- with $tolerations -}}
{{- toYaml . -}}
{{- end -}}
{{- end -}}

{{- define "triton-llm.gpuResources" -}}
{{- $resources := deepCopy (default dict .resources) -}}
{{- if gt (int .gpus) 0 -}}
{{- $limits := deepCopy (default dict (get $resources "limits")) -}}
{{- $_ := set $limits .resourceName (int .gpus) -}}
{{- $_ := set $resources "limits" $limits -}}
{{- end -}}
{{- toYaml $resources -}}
{{- end -}}

{{- define "triton-llm.tritonContainer" -}}
{{- $v := .Values -}}
{{- $cmd := include "triton-llm.serverCommand" . | fromJson -}}
- name: triton
  image: {{ include "triton-llm.image" . }}
  imagePullPolicy: {{ $v.image.pullPolicy }}
  command:
    {{- toYaml $cmd.command | nindent 4 }}
  args:
    {{- toYaml $cmd.args | nindent 4 }}
  env:
    # Referenced as $(TRITON_ADMIN_KEY) in args: Kubernetes substitutes it, the manifest never holds it.
    - name: TRITON_ADMIN_KEY
      valueFrom:
        secretKeyRef:
          name: {{ include "triton-llm.adminKeySecretName" . }}
          key: {{ $v.security.adminKeySecret.key }}
          optional: false
    # Root filesystem is read-only: caches and MPI session files go to the /tmp emptyDir.
    - name: HOME
      value: /tmp
    - name: XDG_CACHE_HOME
      value: /tmp/.cache
    # The repository is self-contained (tokenizer inside); never reach the Hugging Face Hub.
    - name: HF_HUB_OFFLINE
      value: "1"
    - name: TRANSFORMERS_OFFLINE
      value: "1"
    {{- if $v.multiNode.enabled }}
    - name: GPUS_PER_POD
      value: {{ include "triton-llm.gpusPerPod" . | quote }}
    - name: SSH_PORT
      value: {{ $v.multiNode.sshPort | quote }}
    - name: WORKER_WAIT_SECONDS
      value: {{ $v.multiNode.workerWaitSeconds | quote }}
    - name: MPI_HOSTFILE
      value: {{ include "triton-llm.mpiHostfile" . }}
    {{- end }}
    {{- with $v.server.extraEnv }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with $v.extraEnvFrom }}
  envFrom:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  ports:
    - name: http
      containerPort: {{ $v.server.httpPort }}
      protocol: TCP
    - name: grpc
      containerPort: {{ $v.server.grpcPort }}
      protocol: TCP
    - name: metrics
      containerPort: {{ $v.server.metricsPort }}
      protocol: TCP
  # Loading engines (pytorch: loading the checkpoint and warming up) takes minutes: the startup probe holds
  # liveness off for its whole budget.
  startupProbe:
    httpGet:
      path: /v2/health/ready
      port: http
    periodSeconds: {{ $v.probes.startup.periodSeconds }}
    failureThreshold: {{ include "triton-llm.startupFailureThreshold" . }}
    timeoutSeconds: {{ $v.probes.startup.timeoutSeconds }}
  livenessProbe:
    httpGet:
      path: /v2/health/live
      port: http
    periodSeconds: {{ $v.probes.liveness.periodSeconds }}
    failureThreshold: {{ $v.probes.liveness.failureThreshold }}
    timeoutSeconds: {{ $v.probes.liveness.timeoutSeconds }}
  # --strict-readiness=true: ready only when every model is, so the Service only routes to loaded pods.
  readinessProbe:
    httpGet:
      path: /v2/health/ready
      port: http
    periodSeconds: {{ $v.probes.readiness.periodSeconds }}
    failureThreshold: {{ $v.probes.readiness.failureThreshold }}
    timeoutSeconds: {{ $v.probes.readiness.timeoutSeconds }}
  {{- include "triton-llm.preStop" . | indent 2 }}
  resources:
    {{- include "triton-llm.gpuResources" (dict "resources" $v.resources "gpus" (include "triton-llm.gpusPerPod" .) "resourceName" $v.gpu.resourceName) | nindent 4 }}
  securityContext:
    {{- toYaml $v.containerSecurityContext | nindent 4 }}
  volumeMounts:
    {{- include "triton-llm.modelMount" . | nindent 4 }}
    {{- include "triton-llm.checkpointMount" . | indent 4 }}
    {{- include "triton-llm.loraMount" (dict "root" . "writable" false) | indent 4 }}
    {{- include "triton-llm.commonMounts" . | nindent 4 }}
    {{- if $v.multiNode.enabled }}
    - name: scripts
      mountPath: /opt/triton-llm/scripts
      readOnly: true
    {{- end }}
{{- end -}}

{{/* Before Triton starts: every path a model config names exists (the engine and the xgrammar tokenizer-info
file are absolute paths, written for the path gpu-repo was told with --repo-mount-path); else the pod stops
here naming the config, the path and the flag, instead of the backend's misleading "Both encoder and decoder
model paths are empty". The serving image does not hold the project, but every Python model of the repository
carries python_backend/ (standard library only), so the check runs from there with the image's python3. */}}
{{- define "triton-llm.checkRepositoryContainer" -}}
{{- $v := .Values -}}
- name: check-model-repository
  image: {{ include "triton-llm.image" . }}
  imagePullPolicy: {{ $v.image.pullPolicy }}
  command:
    - /bin/sh
    - -c
    # A repository assembled before the check existed lacks the module: said, not refused.
    - >-
      cd "$MODEL_REPOSITORY/preprocessing/1" || exit 1;
      if [ ! -f python_backend/contract/repo_paths.py ]; then
      echo "$MODEL_REPOSITORY predates python_backend/contract/repo_paths.py: paths not checked"; exit 0; fi;
      exec python3 -m python_backend.contract.repo_paths "$MODEL_REPOSITORY"
  env:
    - name: MODEL_REPOSITORY
      value: {{ include "triton-llm.modelRepositoryPath" . | quote }}
    # The repository is mounted read-only.
    - name: PYTHONDONTWRITEBYTECODE
      value: "1"
  # A few config files read by the standard library: seconds of one core at most.
  resources:
    requests:
      cpu: 50m
      memory: 64Mi
    limits:
      memory: 256Mi
  securityContext:
    {{- toYaml $v.containerSecurityContext | nindent 4 }}
  volumeMounts:
    {{- include "triton-llm.modelMount" . | nindent 4 }}
    {{- /* The pytorch engine's model.yaml names the checkpoint: the check needs to see it where Triton will. */}}
    {{- include "triton-llm.checkpointMount" . | indent 4 }}
{{- end -}}

{{- define "triton-llm.mpiWorkerContainer" -}}
{{- $v := .Values -}}
- name: mpi-worker
  image: {{ include "triton-llm.image" . }}
  imagePullPolicy: {{ $v.image.pullPolicy }}
  # The leader's mpirun starts this pod's ranks over ssh; the container only has to keep sshd (or the
  # override) running. See multiNode.workerCommand.
  command:
    {{- if $v.multiNode.workerCommand }}
    {{- toYaml $v.multiNode.workerCommand | nindent 4 }}
    {{- else }}
    - /usr/sbin/sshd
    - -D
    - -e
    - -p
    - {{ $v.multiNode.sshPort | quote }}
    {{- end }}
  env:
    - name: HOME
      value: /tmp
    - name: XDG_CACHE_HOME
      value: /tmp/.cache
    - name: HF_HUB_OFFLINE
      value: "1"
    - name: TRANSFORMERS_OFFLINE
      value: "1"
  {{- with $v.extraEnvFrom }}
  envFrom:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  ports:
    - name: ssh
      containerPort: {{ $v.multiNode.sshPort }}
      protocol: TCP
  resources:
    {{- include "triton-llm.gpuResources" (dict "resources" $v.resources "gpus" (include "triton-llm.gpusPerPod" .) "resourceName" $v.gpu.resourceName) | nindent 4 }}
  securityContext:
    {{- toYaml $v.containerSecurityContext | nindent 4 }}
  volumeMounts:
    {{- include "triton-llm.modelMount" . | nindent 4 }}
    {{- /* pytorch: the LLM API's MPI workers on this pod load their share of the weights from it. */}}
    {{- include "triton-llm.checkpointMount" . | indent 4 }}
    {{- include "triton-llm.loraMount" (dict "root" . "writable" false) | indent 4 }}
    {{- include "triton-llm.commonMounts" . | nindent 4 }}
{{- end -}}

{{- define "triton-llm.openaiGatewayContainer" -}}
{{- $v := .Values -}}
{{- $g := $v.openaiGateway -}}
- name: openai-gateway
  image: {{ printf "%s:%s" $g.image.repository $g.image.tag }}
  imagePullPolicy: {{ $g.image.pullPolicy }}
  command:
    - python
    - -m
    - client.openai_gateway
  args:
    # The gateway binds localhost unless told; in a pod it must listen on all interfaces.
    - --host=0.0.0.0
    - {{ printf "--port=%d" (int $g.port) }}
    - {{ printf "--triton-grpc=localhost:%d" (int $v.server.grpcPort) }}
    - {{ printf "--tokenizer-dir=%s/preprocessing/1/tokenizer" (include "triton-llm.modelRepositoryPath" .) }}
    - {{ printf "--timeout=%d" (int $g.timeoutSeconds) }}
    {{- with $g.servedModelName }}
    - {{ printf "--served-model-name=%s" . }}
    {{- end }}
    {{- include "triton-llm.loraGatewayArgs" . | indent 4 }}
  env:
    - name: HOME
      value: /tmp
    - name: HF_HUB_OFFLINE
      value: "1"
  ports:
    - name: openai
      containerPort: {{ $g.port }}
      protocol: TCP
  # 200 only when Triton behind it is ready too; an open port alone said nothing.
  readinessProbe:
    httpGet:
      path: /health/ready
      port: openai
    periodSeconds: {{ $g.readinessProbe.periodSeconds }}
    failureThreshold: {{ $g.readinessProbe.failureThreshold }}
    timeoutSeconds: {{ $g.readinessProbe.timeoutSeconds }}
  {{- include "triton-llm.preStop" . | indent 2 }}
  resources:
    {{- toYaml $g.resources | nindent 4 }}
  securityContext:
    {{- toYaml $v.containerSecurityContext | nindent 4 }}
  volumeMounts:
    {{- include "triton-llm.modelMount" . | nindent 4 }}
    {{- /* /v1/load_lora_adapter checks an adapter the operator wrote under the directory before serving it. */}}
    {{- include "triton-llm.loraMount" (dict "root" . "writable" $v.lora.allowRuntimeLoading) | indent 4 }}
    - name: tmp
      mountPath: /tmp
{{- end -}}

{{/* Downloads the assembled repository before Triton starts (sources s3, gcs, http). Credentials only come from
existing Secrets: envFrom for s3/http, a mounted key file for gcs. */}}
{{- define "triton-llm.fetchContainer" -}}
{{- $v := .Values -}}
{{- $m := $v.modelRepository -}}
{{- $source := $m.source -}}
- name: fetch-model-repository
  image: {{ (get $m $source).image }}
  imagePullPolicy: IfNotPresent
  command:
    - /bin/sh
    - {{ printf "/opt/triton-llm/scripts/fetch-%s.sh" $source }}
  env:
    - name: HOME
      value: /tmp
    - name: MODEL_VOLUME
      value: {{ $m.mountPath | quote }}
    - name: MODEL_REPOSITORY_PATH
      value: {{ include "triton-llm.modelRepositoryPath" . | quote }}
    {{- if eq $source "s3" }}
    - name: SOURCE_URI
      value: {{ $m.s3.uri | quote }}
    {{- with $m.s3.region }}
    - name: AWS_REGION
      value: {{ . | quote }}
    {{- end }}
    {{- with $m.s3.endpointUrl }}
    - name: AWS_ENDPOINT_URL
      value: {{ . | quote }}
    {{- end }}
    {{- else if eq $source "gcs" }}
    - name: SOURCE_URI
      value: {{ $m.gcs.uri | quote }}
    - name: CLOUDSDK_CONFIG
      value: /tmp/gcloud
    {{- if $m.gcs.credentialsSecret }}
    - name: CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE
      value: {{ printf "/var/run/secrets/triton-llm/gcs/%s" $m.gcs.credentialsKey | quote }}
    {{- end }}
    {{- else if eq $source "http" }}
    - name: SOURCE_URI
      value: {{ $m.http.url | quote }}
    {{- end }}
  {{- if and (has $source (list "s3" "http")) (get $m $source).credentialsSecret }}
  envFrom:
    - secretRef:
        name: {{ (get $m $source).credentialsSecret }}
        optional: false
  {{- end }}
  resources:
    {{- toYaml $m.downloaderResources | nindent 4 }}
  securityContext:
    {{- toYaml $v.containerSecurityContext | nindent 4 }}
  volumeMounts:
    - name: model
      mountPath: {{ $m.mountPath }}
    - name: tmp
      mountPath: /tmp
    - name: scripts
      mountPath: /opt/triton-llm/scripts
      readOnly: true
    {{- if and (eq $source "gcs") $m.gcs.credentialsSecret }}
    - name: gcs-credentials
      mountPath: /var/run/secrets/triton-llm/gcs
      readOnly: true
    {{- end }}
{{- end -}}

{{- define "triton-llm.modelMount" -}}
{{- $m := .Values.modelRepository -}}
- name: model
  mountPath: {{ $m.mountPath }}
  {{- if and (eq $m.source "pvc") $m.pvc.subPath }}
  subPath: {{ $m.pvc.subPath }}
  {{- end }}
  # Serving never writes to the repository.
  readOnly: true
{{- end -}}

{{/* Mounts of the containers that run Triton ranks (serving and multi-node worker), extraVolumeMounts included. */}}
{{- define "triton-llm.commonMounts" -}}
- name: dshm
  mountPath: /dev/shm
- name: tmp
  mountPath: /tmp
{{- if and .Values.multiNode.enabled .Values.multiNode.sshSecretName }}
- name: mpi-ssh
  mountPath: /etc/triton-llm/ssh
  readOnly: true
{{- end }}
{{- with .Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "triton-llm.volumes" -}}
{{- $v := .Values -}}
{{- $m := $v.modelRepository -}}
{{- if eq $m.source "pvc" }}
- name: model
  persistentVolumeClaim:
    claimName: {{ include "triton-llm.modelClaimName" . }}
    readOnly: {{ $m.pvc.readOnly }}
{{- else if not $v.persistence.perPod.enabled }}
{{- /* With persistence.perPod the "model" volume comes from the StatefulSet's volumeClaimTemplates. */}}
- name: model
  emptyDir:
    sizeLimit: {{ $m.downloadSizeLimit }}
{{- end }}
# Python-backend stubs and MPI ranks share memory through /dev/shm; the container default (64Mi) is far too small.
- name: dshm
  emptyDir:
    medium: Memory
    sizeLimit: {{ $v.shm.sizeLimit }}
- name: tmp
  emptyDir:
    sizeLimit: {{ $v.tmpSizeLimit }}
{{- include "triton-llm.checkpointVolume" . }}
{{- include "triton-llm.loraVolume" . }}
- name: scripts
  configMap:
    name: {{ include "triton-llm.fullname" . }}-scripts
    defaultMode: 0555
{{- if and (eq $m.source "gcs") $m.gcs.credentialsSecret }}
- name: gcs-credentials
  secret:
    secretName: {{ $m.gcs.credentialsSecret }}
    defaultMode: 0440
{{- end }}
{{- if and $v.multiNode.enabled $v.multiNode.sshSecretName }}
- name: mpi-ssh
  secret:
    secretName: {{ $v.multiNode.sshSecretName }}
    # ssh refuses private keys readable by others.
    defaultMode: 0400
{{- end }}
{{- end -}}
