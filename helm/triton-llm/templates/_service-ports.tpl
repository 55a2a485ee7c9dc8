{{/* Ports shared by the ClusterIP and the headless Service. */}}
{{- define "triton-llm.servicePorts" -}}
- name: http
  port: {{ .Values.server.httpPort }}
  targetPort: http
  protocol: TCP
  appProtocol: http
# h2c: gRPC is HTTP/2 without TLS inside the cluster; lets meshes and gateways pick an HTTP/2 upstream.
- name: grpc
  port: {{ .Values.server.grpcPort }}
  targetPort: grpc
  protocol: TCP
  appProtocol: kubernetes.io/h2c
- name: metrics
  port: {{ .Values.server.metricsPort }}
  targetPort: metrics
  protocol: TCP
  appProtocol: http
{{- if .Values.openaiGateway.enabled }}
- name: openai
  port: {{ .Values.openaiGateway.port }}
  targetPort: openai
  protocol: TCP
  appProtocol: http
{{- end }}
{{- end -}}
