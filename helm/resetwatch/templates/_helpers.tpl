{{/*
Names and labels of the chart's own objects.
*/}}
{{- define "resetwatch.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "resetwatch.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "resetwatch.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object (selectorLabels are the stable subset used in selectors). */}}
{{- define "resetwatch.labels" -}}
helm.sh/chart: {{ include "resetwatch.chart" . }}
{{ include "resetwatch.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: resetwatch
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "resetwatch.selectorLabels" -}}
app.kubernetes.io/name: {{ include "resetwatch.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The namespace of an object: its own setting, else the release namespace. */}}
{{- define "resetwatch.namespace" -}}
{{- default .root.Release.Namespace .namespace }}
{{- end }}

{{/*
The scrape endpoint shared by the PodMonitor and the ServiceMonitor. Argument: (dict "root" $
"monitor" .Values.podMonitor).
*/}}
{{- define "resetwatch.scrapeEndpoint" -}}
{{- $v := .root.Values -}}
port: {{ $v.agent.portName }}
path: {{ .monitor.path }}
scheme: {{ .monitor.scheme }}
interval: {{ .monitor.interval }}
scrapeTimeout: {{ .monitor.scrapeTimeout }}
{{- with $v.agent.metricsToken.existingSecret }}
authorization:
  type: Bearer
  credentials:
    name: {{ . }}
    key: {{ $v.agent.metricsToken.key }}
{{- end }}
{{- with .monitor.relabelings }}
relabelings:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .monitor.metricRelabelings }}
metricRelabelings:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
The labels of one object: the chart's labels, then `extra` (additionalLabels, a sidecar label) on
top, as one map (a key set twice would be a duplicate YAML key). Argument: (dict "root" $ "extra" map).
*/}}
{{- define "resetwatch.objectLabels" -}}
{{- $labels := include "resetwatch.labels" .root | fromYaml }}
{{- toYaml (merge (deepCopy (.extra | default dict)) $labels) }}
{{- end }}
