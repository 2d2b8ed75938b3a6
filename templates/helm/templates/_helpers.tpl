{{/*
swissai chart helpers. These templates are static files shipped by swissai; `swissai render
--helm` generates Chart.yaml, values.yaml and values.schema.json next to them. Object names and
the namespace come from values (never from .Release), so a release of any name renders the same
objects as `swissai render`.
*/}}

{{- define "swissai.metadata" -}}
metadata:
  name: {{ .name | quote }}
  namespace: {{ .root.Values.namespace | quote }}
  labels:
    {{- toYaml (merge (dict) (.extraLabels | default (dict)) .root.Values.labels) | nindent 4 }}
  annotations:
    {{- toYaml .root.Values.annotations | nindent 4 }}
{{- end -}}

{{- define "swissai.podSpec" -}}
{{- $v := .root.Values -}}
serviceAccountName: {{ $v.serviceAccountName | quote }}
automountServiceAccountToken: false
enableServiceLinks: false
terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds | int }}
securityContext:
  {{- toYaml $v.podSecurityContext | nindent 2 }}
{{- with $v.runtimeClassName }}
runtimeClassName: {{ . | quote }}
{{- end }}
{{- with $v.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
nodeSelector:
  {{- toYaml $v.nodeSelector | nindent 2 }}
affinity:
  {{- toYaml $v.affinity | nindent 2 }}
tolerations:
  {{- toYaml $v.tolerations | nindent 2 }}
{{- if ne .role "worker" }}
topologySpreadConstraints:
  {{- toYaml $v.topologySpreadConstraints | nindent 2 }}
{{- end }}
initContainers:
  {{- toYaml $v.initContainers | nindent 2 }}
containers:
  - name: "vllm"
    image: {{ $v.image | quote }}
    imagePullPolicy: {{ $v.imagePullPolicy | quote }}
    {{- if ne .role "worker" }}
    command:
      {{- toYaml $v.vllm.command | nindent 6 }}
    args:
      {{- toYaml $v.vllm.args | nindent 6 }}
    env:
      {{- toYaml $v.vllm.env | nindent 6 }}
    ports:
      - name: {{ $v.vllm.portName | quote }}
        containerPort: {{ $v.vllm.port | int }}
        protocol: "TCP"
    startupProbe:
      {{- toYaml $v.vllm.startupProbe | nindent 6 }}
    readinessProbe:
      {{- toYaml $v.vllm.readinessProbe | nindent 6 }}
    livenessProbe:
      {{- toYaml $v.vllm.livenessProbe | nindent 6 }}
    {{- else }}
    command:
      {{- toYaml $v.worker.command | nindent 6 }}
    env:
      {{- toYaml $v.worker.env | nindent 6 }}
    startupProbe:
      {{- toYaml $v.worker.startupProbe | nindent 6 }}
    livenessProbe:
      {{- toYaml $v.worker.livenessProbe | nindent 6 }}
    {{- end }}
    lifecycle:
      preStop:
        sleep:
          seconds: {{ $v.vllm.preStopSleepSeconds | int }}
    resources:
      {{- toYaml $v.vllm.resources | nindent 6 }}
    securityContext:
      {{- toYaml $v.containerSecurityContext | nindent 6 }}
    terminationMessagePolicy: "FallbackToLogsOnError"
    volumeMounts:
      {{- toYaml $v.vllm.volumeMounts | nindent 6 }}
volumes:
  {{- toYaml $v.volumes | nindent 2 }}
{{- end -}}
