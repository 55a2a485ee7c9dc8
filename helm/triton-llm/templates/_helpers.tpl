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

{{/* GPUs each pod requests: the whole world on one pod, or one node's share in multi-node mode. */}}
{{- define "triton-llm.gpusPerPod" -}}
{{- if not .Values.gpu.enabled -}}0
{{- else if .Values.multiNode.enabled -}}{{ int .Values.multiNode.gpusPerNode }}
{{- else -}}{{ include "triton-llm.worldSize" . }}
{{- end -}}
{{- end -}}

{{/* Pods per LeaderWorkerSet group (leader included). */}}
{{- define "triton-llm.groupSize" -}}
{{- div (int (include "triton-llm.worldSize" .)) (int .Values.multiNode.gpusPerNode) -}}
{{- end -}}

{{/* Triton's drain budget must end before the kubelet's SIGKILL. */}}
{{- define "triton-llm.exitTimeoutSeconds" -}}
{{- sub (int .Values.terminationGracePeriodSeconds) (int .Values.server.exitTimeoutMarginSeconds) -}}
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
{{- if le (int .Values.terminationGracePeriodSeconds) (int .Values.server.exitTimeoutMarginSeconds) -}}
{{- fail (printf "terminationGracePeriodSeconds (%d) must exceed server.exitTimeoutMarginSeconds (%d): Triton's --exit-timeout-secs is their difference" (int .Values.terminationGracePeriodSeconds) (int .Values.server.exitTimeoutMarginSeconds)) -}}
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
{{- if .Values.persistence.perPod.enabled -}}
{{- fail "multiNode.enabled and persistence.perPod.enabled cannot be combined: LeaderWorkerSet has no volumeClaimTemplates here; use modelRepository.source pvc (ReadOnlyMany) or a download source" -}}
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
{{- if and .Values.engineBuild.enabled (ne $source "pvc") -}}
{{- fail "engineBuild.enabled writes the repository into modelRepository.pvc.claimName: it needs modelRepository.source pvc" -}}
{{- end -}}
{{- if and (or .Values.gatewayApi.httpRoute.enabled .Values.gatewayApi.grpcRoute.enabled) (not .Values.gatewayApi.parentRefs) -}}
{{- fail "gatewayApi.httpRoute/grpcRoute need gatewayApi.parentRefs: name the Gateway the routes attach to" -}}
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
{{- if gt $world 1 -}}
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
     multi-node: the same under the leader script, which writes the hostfile from the LWS env first. */}}
{{- define "triton-llm.serverCommand" -}}
{{- $world := int (include "triton-llm.worldSize" .) -}}
{{- $serving := include "triton-llm.servingRankArgs" . | fromJsonArray -}}
{{- if eq $world 1 -}}
{{- toJson (dict "command" (list (first $serving)) "args" (rest $serving)) -}}
{{- else -}}
{{- $mpi := list "--allow-run-as-root" -}}
{{- if .Values.multiNode.enabled -}}
{{- $ssh := printf "-p %d -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null" (int .Values.multiNode.sshPort) -}}
{{- if .Values.multiNode.sshSecretName -}}
{{- $ssh = printf "%s -i /etc/triton-llm/ssh/id_ed25519" $ssh -}}
{{- end -}}
{{- /* ssh sessions do not inherit the container's environment: forward what tritonserver needs. */ -}}
{{- $mpi = concat $mpi (list "--hostfile" "/tmp/hostfile" "--mca" "plm_rsh_args" $ssh "-x" "PATH" "-x" "LD_LIBRARY_PATH" "-x" "HOME") -}}
{{- end -}}
{{- $mpi = concat $mpi (list "-n" "1") $serving -}}
{{- range $rank := untilStep 1 $world 1 -}}
{{- $mpi = concat $mpi (list ":" "-n" "1") (include "triton-llm.workerRankArgs" (dict "root" $ "rank" $rank) | fromJsonArray) -}}
{{- end -}}
{{- if .Values.multiNode.enabled -}}
{{- toJson (dict "command" (list "/bin/bash" "/opt/triton-llm/scripts/mpi-leader.sh" "mpirun") "args" $mpi) -}}
{{- else -}}
{{- toJson (dict "command" (list "mpirun") "args" $mpi) -}}
{{- end -}}
{{- end -}}
{{- end -}}
