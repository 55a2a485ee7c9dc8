{{/* A `helm test` pod: one container from tests.image with the tests' security contexts and resources. Call with
dict root, name (pod name suffix and container name), container (dict of the container's other fields). */}}
{{- define "triton-llm.testPod" -}}
{{- $root := .root -}}
{{- $t := $root.Values.tests -}}
apiVersion: v1
kind: Pod
metadata:
  name: {{ include "triton-llm.fullname" $root }}-test-{{ .name }}
  labels:
    {{- include "triton-llm.labels" $root | nindent 4 }}
    app.kubernetes.io/component: test
  annotations:
    helm.sh/hook: test
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
spec:
  restartPolicy: Never
  automountServiceAccountToken: false
  securityContext:
    {{- toYaml $t.podSecurityContext | nindent 4 }}
  containers:
    - name: {{ .name }}
      image: {{ $t.image }}
      {{- toYaml .container | nindent 6 }}
      securityContext:
        {{- toYaml $t.containerSecurityContext | nindent 8 }}
      resources:
        {{- toYaml $t.resources | nindent 8 }}
{{- end -}}
