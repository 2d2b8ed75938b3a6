{{/*
swissai chart helpers. These templates are static files shipped by swissai; `swissai render
--helm` generates Chart.yaml, values.yaml, values.schema.json and files/layout.json next to them.
Names follow Helm's `fullname` convention and the namespace is the release's: files/layout.json
spells them (and the image) as sentinels that swissai.layout replaces (swissai/rendering/helm.py).
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "swissai.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{/*
The full object name, as `helm create` derives it: fullnameOverride, else the release name when
it contains the chart name, else <release>-<name>. 40 characters at most, because object names
derive from it with suffixes of up to 23 characters (DNS labels end at 63).
*/}}
{{- define "swissai.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "swissai.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
What the templates lay out (JSON): swissai's computed layout with the release's name, namespace
and image in place of the sentinels, and the per-release values applied.
*/}}
{{- define "swissai.layout" -}}
{{- $text := .Files.Get "files/layout.json" -}}
{{- if not $text -}}
{{- fail "files/layout.json is missing: render the chart again with `swissai render --helm`" -}}
{{- end -}}
{{- $text = $text | replace "swissai-sentinel.invalid/sentinel/image@sha256:0000000000000000000000000000000000000000000000000000000000000000" .Values.image -}}
{{- $text = $text | replace "swissai-sentinel-namespace" .Release.Namespace -}}
{{- $text = $text | replace "swissai-sentinel-fullname" (include "swissai.fullname" .) -}}
{{- $v := fromJson $text -}}
{{- $_ := set $v "createNamespace" .Values.namespace.create -}}
{{- $_ = set $v "replicas" .Values.replicas -}}
{{- toJson $v -}}
{{- end -}}

{{- define "swissai.metadata" -}}
metadata:
  name: {{ .name | quote }}
  namespace: {{ .v.namespace | quote }}
  labels:
    {{- toYaml (merge (dict) (.extraLabels | default (dict)) .v.labels) | nindent 4 }}
  annotations:
    {{- toYaml .v.annotations | nindent 4 }}
{{- end -}}

{{- define "swissai.podSpec" -}}
{{- $v := .v -}}
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
