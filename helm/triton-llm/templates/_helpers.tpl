{{/*
Names, labels, derived numbers, the tritonserver command line and the value checks shared by all templates.
*/}}

{{- define "triton-llm.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* <release>-<chart>, or just <release> when it already contains the chart name; 52 chars leave room for
suffixes such as "-headless" and the StatefulSet/LWS pod ordinals. */}}
{{- define "triton-llm.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "triton-llm.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "triton-llm.labels" -}}
helm.sh/chart: {{ include "triton-llm.chart" . }}
app.kubernetes.io/name: {{ include "triton-llm.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: triton-llm
{{- end -}}

{{/* Pods that belong to this release, whatever their role. */}}
{{- define "triton-llm.instanceSelectorLabels" -}}
app.kubernetes.io/name: {{ include "triton-llm.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Pods that serve (rank 0): Services, monitors and the PDB select these; multi-node workers are excluded. */}}
{{- define "triton-llm.selectorLabels" -}}
{{ include "triton-llm.instanceSelectorLabels" . }}
app.kubernetes.io/component: server
{{- end -}}

{{- define "triton-llm.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "triton-llm.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* inferenceExtension: the InferencePool the llm-d-router-gateway chart creates, named after its release. */}}
{{- define "triton-llm.inferencePoolName" -}}
{{- default (printf "%s-pool" (include "triton-llm.fullname" .)) .Values.inferenceExtension.poolName -}}
{{- end -}}

{{/* Labels of that chart's endpoint-picker pods (llm-d-router-gateway: <pool>-epp), unless overridden. */}}
{{- define "triton-llm.endpointPickerPodLabels" -}}
{{- with .Values.inferenceExtension.endpointPickerPodLabels -}}
{{- toYaml . -}}
{{- else -}}
llm-d-router-gateway: {{ include "triton-llm.inferencePoolName" . }}-epp
{{- end -}}
{{- end -}}

{{/* Values for the llm-d-router-gateway chart (llm-d/llm-d-router config/charts, v0.10.0 or later) that create
the InferencePool over this release's serving pods and an endpoint picker reading TensorRT-LLM's queue and KV-cache
metrics from Triton's metrics port. The picker scrapes the pool's target port (the gateway) unless its
metrics-data-source sets port (pkg/epp/framework/plugins/datalayer/source/metrics/datasource.go, commit
ebab687927f5331c1b39defcb579a07951bce56c); triton-tensorrt-llm maps nv_trt_llm_* (extractor/metrics/factories.go). */}}
{{- define "triton-llm.inferencePoolRouterValues" -}}
router:
  modelServers:
    type: triton-tensorrt-llm
    targetPorts:
      - number: {{ .Values.openaiGateway.port }}
    matchLabels:
      {{- include "triton-llm.selectorLabels" . | nindent 6 }}
  epp:
    pluginsConfigFile: triton-llm.yaml
    pluginsCustomConfig:
      triton-llm.yaml: |
        apiVersion: llm-d.ai/v1alpha1
        kind: EndpointPickerConfig
        plugins:
          - type: queue-scorer
          - type: kv-cache-utilization-scorer
          - type: prefix-cache-scorer
          - type: metrics-data-source
            parameters:
              port: {{ .Values.server.metricsPort }}
          - type: core-metrics-extractor
            parameters:
              defaultEngine: triton-tensorrt-llm
              {{- if include "triton-llm.loraGaugeServed" . }}
              {{- include "triton-llm.loraEngineConfig" . | nindent 14 }}
          - type: lora-affinity-scorer
              {{- end }}
        schedulingProfiles:
          - name: default
            plugins:
              - pluginRef: queue-scorer
                weight: 2
              - pluginRef: kv-cache-utilization-scorer
                weight: 2
              - pluginRef: prefix-cache-scorer
                weight: 3
              {{- if include "triton-llm.loraGaugeServed" . }}
              - pluginRef: lora-affinity-scorer
                weight: {{ .Values.lora.affinityScorerWeight }}
              {{- end }}
{{- end -}}

{{- define "triton-llm.adminKeySecretName" -}}
{{- default (printf "%s-admin-key" .Release.Name) .Values.security.adminKeySecret.name -}}
{{- end -}}

{{/* Existing claim with the assembled repository; default "<release>-model-repository". */}}
{{- define "triton-llm.modelClaimName" -}}
{{- default (printf "%s-model-repository" .Release.Name) .Values.modelRepository.pvc.claimName -}}
{{- end -}}

{{- define "triton-llm.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository .Values.image.tag -}}
{{- end -}}
{{- end -}}

{{/* ---------- derived numbers ---------- */}}

{{- define "triton-llm.worldSize" -}}
{{- mul (int .Values.parallelism.tensor) (int .Values.parallelism.pipeline) -}}
{{- end -}}

{{/* The GPU engine path the pods serve: "trt" or "pytorch" (gpu.engine), "cpu" without GPUs. */}}
{{- define "triton-llm.gpuEngine" -}}
{{- if .Values.gpu.enabled -}}{{ .Values.gpu.engine }}{{- else -}}cpu{{- end -}}
{{- end -}}

{{/* GPUs each pod requests: the whole world on one pod (times the pytorch engine's GPU sets,
parallelism.instances), or one node's share in multi-node mode. */}}
{{- define "triton-llm.gpusPerPod" -}}
{{- if not .Values.gpu.enabled -}}0
{{- else if .Values.multiNode.enabled -}}{{ int .Values.multiNode.gpusPerNode }}
{{- else -}}{{ mul (include "triton-llm.worldSize" .) (int .Values.parallelism.instances) }}
{{- end -}}
{{- end -}}

{{/* Pods per LeaderWorkerSet group (leader included). */}}
{{- define "triton-llm.groupSize" -}}
{{- div (int (include "triton-llm.worldSize" .)) (int .Values.multiNode.gpusPerNode) -}}
{{- end -}}

{{/* Triton's drain budget must end before the kubelet's SIGKILL. The grace period starts with the preStop hook,
so the sleep comes off it too. */}}
{{- define "triton-llm.exitTimeoutSeconds" -}}
{{- sub (int .Values.terminationGracePeriodSeconds) (add (int .Values.preStopSleepSeconds) (int .Values.server.exitTimeoutMarginSeconds)) -}}
{{- end -}}

{{/* Serving containers keep accepting connections for preStopSleepSeconds after the pod starts terminating, while
kube-proxy, gateways and ingress controllers remove its endpoint; only then does SIGTERM reach them. */}}
{{- define "triton-llm.preStop" -}}
{{- if gt (int .Values.preStopSleepSeconds) 0 }}
lifecycle:
  preStop:
    exec:
      command:
        - sleep
        - {{ .Values.preStopSleepSeconds | quote }}
{{- end }}
{{- end -}}

{{/* The startup probe's failureThreshold: the value, or when null the engine path's default (the pytorch path
loads a Hugging Face checkpoint and warms up at start, values.yaml says what it is based on). */}}
{{- define "triton-llm.startupFailureThreshold" -}}
{{- $startup := .Values.probes.startup -}}
{{- if kindIs "invalid" $startup.failureThreshold -}}
{{- int (ternary $startup.failureThresholdByEngine.pytorch $startup.failureThresholdByEngine.trt (eq (include "triton-llm.gpuEngine" .) "pytorch")) -}}
{{- else -}}
{{- int $startup.failureThreshold -}}
{{- end -}}
{{- end -}}

{{/* Seconds the startup probe allows for loading engines before the pod is restarted. */}}
{{- define "triton-llm.startupBudgetSeconds" -}}
{{- mul (int .Values.probes.startup.periodSeconds) (int (include "triton-llm.startupFailureThreshold" .)) -}}
{{- end -}}

{{/* Deployment progress deadline: rollout.progressDeadlineSeconds, or the startup budget plus 10 minutes for
scheduling, image pull and the repository download. */}}
{{- define "triton-llm.progressDeadlineSeconds" -}}
{{- if kindIs "invalid" .Values.rollout.progressDeadlineSeconds -}}
{{- add (include "triton-llm.startupBudgetSeconds" .) 600 -}}
{{- else -}}
{{- int .Values.rollout.progressDeadlineSeconds -}}
{{- end -}}
{{- end -}}

{{- define "triton-llm.modelRepositoryPath" -}}
{{- if .Values.modelRepository.path -}}
{{- printf "%s/%s" (trimSuffix "/" .Values.modelRepository.mountPath) (trimPrefix "/" .Values.modelRepository.path) -}}
{{- else -}}
{{- .Values.modelRepository.mountPath -}}
{{- end -}}
{{- end -}}

{{- define "triton-llm.workloadKind" -}}
{{- if .Values.multiNode.enabled -}}LeaderWorkerSet
{{- else if .Values.persistence.perPod.enabled -}}StatefulSet
{{- else -}}Deployment
{{- end -}}
{{- end -}}

{{/* persistence.perPod: the "model" claim every pod of a StatefulSet, or of each LeaderWorkerSet group, owns,
with its retention policy. Same fields in both APIs (LWS: kubernetes-sigs/lws
api/leaderworkerset/v1/leaderworkerset_types.go, commit 060ab4da17eea1f0865fcbd3236bb1075e2cea32). */}}
{{- define "triton-llm.perPodClaims" -}}
{{- $p := .Values.persistence.perPod -}}
persistentVolumeClaimRetentionPolicy:
  # Keep caches when scaling in (a later scale-out reuses them); drop them with the release.
  whenScaled: Retain
  whenDeleted: Delete
volumeClaimTemplates:
  - metadata:
      name: model
      labels:
        {{- include "triton-llm.instanceSelectorLabels" . | nindent 8 }}
    spec:
      accessModes:
        {{- toYaml $p.accessModes | nindent 8 }}
      {{- with $p.storageClassName }}
      storageClassName: {{ . }}
      {{- end }}
      resources:
        requests:
          storage: {{ $p.size }}
{{- end -}}

{{- define "triton-llm.workloadApiVersion" -}}
{{- if .Values.multiNode.enabled -}}leaderworkerset.x-k8s.io/v1
{{- else -}}apps/v1
{{- end -}}
{{- end -}}

{{/* ---------- value checks that JSON schema cannot express; every workload template includes this ---------- */}}

{{- define "triton-llm.validate" -}}
{{- $world := int (include "triton-llm.worldSize" .) -}}
{{- $source := .Values.modelRepository.source -}}
{{- if and .Values.autoscaling.enabled .Values.keda.enabled -}}
{{- fail "autoscaling.enabled and keda.enabled are both true: KEDA creates its own HPA, so enable only one of them" -}}
{{- end -}}
{{- if and .Values.keda.enabled (eq (int .Values.keda.minReplicaCount) 0) (not .Values.keda.scaleFromZero.query) -}}
{{- fail "keda.minReplicaCount 0 needs keda.scaleFromZero.query: the queue:compute ratio comes from the pods, so with none running nothing would ever scale the workload up again (set a query on requests reaching your ingress or gateway, or keep minReplicaCount >= 1)" -}}
{{- end -}}
{{- if le (int (include "triton-llm.exitTimeoutSeconds" .)) 0 -}}
{{- fail (printf "terminationGracePeriodSeconds (%d) must exceed preStopSleepSeconds (%d) + server.exitTimeoutMarginSeconds (%d): Triton's --exit-timeout-secs is what remains" (int .Values.terminationGracePeriodSeconds) (int .Values.preStopSleepSeconds) (int .Values.server.exitTimeoutMarginSeconds)) -}}
{{- end -}}
{{- $budget := int (include "triton-llm.startupBudgetSeconds" .) -}}
{{- if le (int (include "triton-llm.progressDeadlineSeconds" .)) $budget -}}
{{- fail (printf "rollout.progressDeadlineSeconds (%d) must exceed the startup probe budget (probes.startup.periodSeconds x failureThreshold = %d s), or rollouts are marked failed while engines still load" (int .Values.rollout.progressDeadlineSeconds) $budget) -}}
{{- end -}}
{{- if and (eq (toString .Values.rollout.maxSurge) "0") (eq (toString .Values.rollout.maxUnavailable) "0") -}}
{{- fail "rollout.maxSurge and rollout.maxUnavailable are both 0: a rolling update could never replace a pod" -}}
{{- end -}}
{{- if and (gt $world 1) (not .Values.gpu.enabled) -}}
{{- fail (printf "parallelism.tensor x parallelism.pipeline = %d needs gpu.enabled: true (the CPU repository runs on one process)" $world) -}}
{{- end -}}
{{- if .Values.multiNode.enabled -}}
{{- if not .Values.gpu.enabled -}}
{{- fail "multiNode.enabled needs gpu.enabled: true" -}}
{{- end -}}
{{- if ne (mod $world (int .Values.multiNode.gpusPerNode)) 0 -}}
{{- fail (printf "multiNode: world size %d (parallelism.tensor %d x parallelism.pipeline %d) is not divisible by multiNode.gpusPerNode %d" $world (int .Values.parallelism.tensor) (int .Values.parallelism.pipeline) (int .Values.multiNode.gpusPerNode)) -}}
{{- end -}}
{{- if le $world (int .Values.multiNode.gpusPerNode) -}}
{{- fail (printf "multiNode: world size %d fits on one node of multiNode.gpusPerNode %d GPUs; disable multiNode.enabled and serve it from one pod" $world (int .Values.multiNode.gpusPerNode)) -}}
{{- end -}}
{{- end -}}
{{- if eq $source "pvc" -}}
{{- if .Values.persistence.perPod.enabled -}}
{{- fail "persistence.perPod.enabled caches a downloaded repository; with modelRepository.source pvc there is nothing to download (use source s3, gcs or http)" -}}
{{- end -}}
{{- end -}}
{{- if and (eq $source "s3") (not (hasPrefix "s3://" .Values.modelRepository.s3.uri)) -}}
{{- fail (printf "modelRepository.source is s3 but modelRepository.s3.uri %q does not start with s3://" .Values.modelRepository.s3.uri) -}}
{{- end -}}
{{- if and (eq $source "gcs") (not (hasPrefix "gs://" .Values.modelRepository.gcs.uri)) -}}
{{- fail (printf "modelRepository.source is gcs but modelRepository.gcs.uri %q does not start with gs://" .Values.modelRepository.gcs.uri) -}}
{{- end -}}
{{- if and (eq $source "http") (not (regexMatch "^https?://" .Values.modelRepository.http.url)) -}}
{{- fail (printf "modelRepository.source is http but modelRepository.http.url %q is not an http(s) URL" .Values.modelRepository.http.url) -}}
{{- end -}}
{{- include "triton-llm.validateGpuEngine" . -}}
{{- include "triton-llm.validateLora" . -}}
{{- if and .Values.engineBuild.enabled (ne $source "pvc") -}}
{{- fail "engineBuild.enabled writes the repository into modelRepository.pvc.claimName: it needs modelRepository.source pvc" -}}
{{- end -}}
{{- if and (or .Values.gatewayApi.httpRoute.enabled .Values.gatewayApi.grpcRoute.enabled) (not .Values.gatewayApi.parentRefs) -}}
{{- fail "gatewayApi.httpRoute/grpcRoute need gatewayApi.parentRefs: name the Gateway the routes attach to" -}}
{{- end -}}
{{- if .Values.inferenceExtension.enabled -}}
{{- if not .Values.openaiGateway.enabled -}}
{{- fail "inferenceExtension.enabled needs openaiGateway.enabled: the endpoint picker reads OpenAI request bodies (model, prompt for prefix routing), which only the gateway sidecar speaks" -}}
{{- end -}}
{{- if not .Values.gpu.enabled -}}
{{- fail "inferenceExtension.enabled needs gpu.enabled: the endpoint picker knows TensorRT-LLM's metric names (nv_trt_llm_*), not the CPU engine's triton_llm_* ones" -}}
{{- end -}}
{{- if not .Values.gatewayApi.httpRoute.enabled -}}
{{- fail "inferenceExtension.enabled sends the HTTPRoute's /v1 to the InferencePool: enable gatewayApi.httpRoute" -}}
{{- end -}}
{{- end -}}
{{- if and .Values.ingress.enabled (eq .Values.ingress.servicePort "openai") (not .Values.openaiGateway.enabled) -}}
{{- fail "ingress.servicePort is openai but openaiGateway.enabled is false" -}}
{{- end -}}
{{- end -}}

{{/* ---------- tritonserver command lines (mirror server/tritonserver.py and build_engines/trtllm/launcher.py) ---------- */}}

{{/* Flags of the serving rank (rank 0, or the only process). JSON list. The admin key is substituted by
Kubernetes from the TRITON_ADMIN_KEY env var ($(VAR) expansion), so it never appears in the manifest. */}}
{{- define "triton-llm.servingRankArgs" -}}
{{- $world := int (include "triton-llm.worldSize" .) -}}
{{- $apis := join "," .Values.security.restrictedApis -}}
{{- $args := list "tritonserver" (printf "--model-repository=%s" (include "triton-llm.modelRepositoryPath" .)) -}}
{{- /* One tritonserver per rank (trt): its own shared-memory prefix, no auto-complete. The pytorch path runs one
tritonserver whatever the world size. */ -}}
{{- if and (gt $world 1) (ne (include "triton-llm.gpuEngine" .) "pytorch") -}}
{{- $args = concat $args (list "--disable-auto-complete-config" "--backend-config=python,shm-region-prefix-name=prefix0_") -}}
{{- end -}}
{{- $args = concat $args (list
    (printf "--http-port=%d" (int .Values.server.httpPort))
    (printf "--grpc-port=%d" (int .Values.server.grpcPort))
    (printf "--metrics-port=%d" (int .Values.server.metricsPort))
    "--model-control-mode=none"
    "--strict-readiness=true"
    (printf "--exit-timeout-secs=%s" (include "triton-llm.exitTimeoutSeconds" .))
    "--metrics-config=histogram_latencies=true") -}}
{{- if $apis -}}
{{- $args = concat $args (list
    (printf "--http-restricted-api=%s:triton-admin-key=$(TRITON_ADMIN_KEY)" $apis)
    (printf "--grpc-restricted-protocol=%s:triton-admin-key=$(TRITON_ADMIN_KEY)" $apis)) -}}
{{- end -}}
{{- $args = append $args (printf "--log-verbose=%d" (int .Values.server.logVerbose)) -}}
{{- $args = concat $args .Values.server.extraArgs -}}
{{- toJson $args -}}
{{- end -}}

{{/* Where the multi-node leader writes the MPI hostfile, and mpirun reads it. */}}
{{- define "triton-llm.mpiHostfile" -}}
/tmp/hostfile
{{- end -}}

{{/* Flags of a non-serving rank: no endpoints, engine only (launcher.rank_command). Needs dict root, rank. */}}
{{- define "triton-llm.workerRankArgs" -}}
{{- $root := .root -}}
{{- toJson (list "tritonserver"
    (printf "--model-repository=%s" (include "triton-llm.modelRepositoryPath" $root))
    "--disable-auto-complete-config"
    (printf "--backend-config=python,shm-region-prefix-name=prefix%d_" (int .rank))
    "--allow-http=false" "--allow-grpc=false" "--allow-metrics=false"
    "--model-control-mode=explicit" "--load-model=engine") -}}
{{- end -}}

{{/* The serving container's command+args as JSON {"command": [...], "args": [...]}:
     world size 1: tritonserver alone;
     world size > 1: mpirun's MPMD form `-n 1 <rank 0> : -n 1 <rank 1> : ...` (launcher.command);
     multi-node: the same under the leader script, which writes the hostfile from the LWS env first.
     gpu.engine pytorch: tritonserver alone on one pod, whatever the world size (the LLM API starts its own
     workers; upstream runs several instances with --no-mpi); multi-node: `mpirun -n <world> trtllm-llmapi-launch
     tritonserver ...` under the leader script (triton-llm.llmapiLaunch). */}}
{{- define "triton-llm.serverCommand" -}}
{{- $world := int (include "triton-llm.worldSize" .) -}}
{{- $serving := include "triton-llm.servingRankArgs" . | fromJsonArray -}}
{{- $pytorch := eq (include "triton-llm.gpuEngine" .) "pytorch" -}}
{{- if or (eq $world 1) (and $pytorch (not .Values.multiNode.enabled)) -}}
{{- toJson (dict "command" (list (first $serving)) "args" (rest $serving)) -}}
{{- else -}}
{{- $mpi := list "--allow-run-as-root" -}}
{{- if .Values.multiNode.enabled -}}
{{- $ssh := printf "-p %d -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null" (int .Values.multiNode.sshPort) -}}
{{- if .Values.multiNode.sshSecretName -}}
{{- $ssh = printf "%s -i /etc/triton-llm/ssh/id_ed25519" $ssh -}}
{{- end -}}
{{- /* ssh sessions do not inherit the container's environment. -x forwards it to the ranks, but the remote orted
daemon is started by a non-interactive ssh shell before that: --prefix puts <prefix>/bin and <prefix>/lib on its
PATH and LD_LIBRARY_PATH (open-mpi/ompi docs/launching-apps/prerequisites.rst, commit
b22e2992002b9779e85823a8576f33fcb884c73d). */ -}}
{{- $mpi = concat $mpi (list "--prefix" .Values.multiNode.mpiPrefix "--hostfile" (include "triton-llm.mpiHostfile" .) "--mca" "plm_rsh_args" $ssh "-x" "PATH" "-x" "LD_LIBRARY_PATH" "-x" "HOME") -}}
{{- end -}}
{{- if $pytorch -}}
{{- $mpi = concat $mpi (include "triton-llm.llmapiLaunch" (dict "world" $world "serving" $serving) | fromJsonArray) -}}
{{- else -}}
{{- $mpi = concat $mpi (list "-n" "1") $serving -}}
{{- range $rank := untilStep 1 $world 1 -}}
{{- $mpi = concat $mpi (list ":" "-n" "1") (include "triton-llm.workerRankArgs" (dict "root" $ "rank" $rank) | fromJsonArray) -}}
{{- end -}}
{{- end -}}
{{- if .Values.multiNode.enabled -}}
{{- toJson (dict "command" (list "/bin/bash" "/opt/triton-llm/scripts/mpi-leader.sh" "mpirun") "args" $mpi) -}}
{{- else -}}
{{- toJson (dict "command" (list "mpirun") "args" $mpi) -}}
{{- end -}}
{{- end -}}
{{- end -}}
