{{/*
Agent injection for an app's own chart, after the pattern of the OpenTelemetry Operator: an init
container copies the installed agent into an emptyDir, and the app container gets
`--require <mountPath>/node_modules/resetwatch` appended to its NODE_OPTIONS.

Add resetwatch as a dependency of the app's chart (helm/examples/app shows all of it) and include,
each with (dict "values" .Values.resetwatch):
  pod labels:        {{- include "resetwatch.injection.podLabels" (dict "values" .Values.resetwatch) | nindent 8 }}
  volumes:           - {{- include "resetwatch.injection.volume" ... | nindent 10 }}
  initContainers:    - {{- include "resetwatch.injection.initContainer" ... | nindent 10 }}
  the app container:
    env:             {{- include "resetwatch.injection.env" (dict "values" .Values.resetwatch "env" <the container's own env list> "container" <its name>) | nindent 12 }}
    volumeMounts:    - {{- include "resetwatch.injection.volumeMount" ... | nindent 14 }}
    ports:           - {{- include "resetwatch.injection.containerPort" ... | nindent 14 }}
  a Service (only for the ServiceMonitor): resetwatch.injection.servicePort.
*/}}

{{- define "resetwatch.injection.podLabels" -}}
{{ .values.injection.podLabel }}: "true"
{{- end }}

{{- define "resetwatch.injection.image" -}}
{{- $i := .values.image }}
{{- if $i.digest }}
{{- printf "%s@%s" $i.repository $i.digest }}
{{- else }}
{{- printf "%s:%s" $i.repository $i.tag }}
{{- end }}
{{- end }}

{{- define "resetwatch.injection.volume" -}}
name: {{ .values.injection.volumeName }}
emptyDir:
  sizeLimit: {{ .values.injection.sizeLimit }}
{{- end }}

{{/*
The agent image holds the installed package in /resetwatch (helm/agent-image/Dockerfile); `cp -R`
copies it as the image's non-root user into the emptyDir.
*/}}
{{- define "resetwatch.injection.initContainer" -}}
name: {{ .values.injection.volumeName }}
image: {{ include "resetwatch.injection.image" . }}
imagePullPolicy: {{ .values.image.pullPolicy }}
command:
  - cp
  - -R
  - /resetwatch/.
  - {{ printf "%s/" .values.injection.mountPath }}
volumeMounts:
  - name: {{ .values.injection.volumeName }}
    mountPath: {{ .values.injection.mountPath }}
resources:
  {{- toYaml .values.injection.resources | nindent 2 }}
securityContext:
  {{- include "resetwatch.securityContext" . | nindent 2 }}
{{- end }}

{{/* Secure defaults for every container the chart renders. */}}
{{- define "resetwatch.securityContext" -}}
runAsNonRoot: true
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "resetwatch.injection.volumeMount" -}}
name: {{ .values.injection.volumeName }}
mountPath: {{ .values.injection.mountPath }}
readOnly: true
{{- end }}

{{- define "resetwatch.injection.containerPort" -}}
name: {{ .values.agent.portName }}
containerPort: {{ .values.agent.port }}
protocol: TCP
{{- end }}

{{- define "resetwatch.injection.servicePort" -}}
name: {{ .values.agent.portName }}
port: {{ .values.agent.port }}
targetPort: {{ .values.agent.portName }}
protocol: TCP
{{- end }}

{{/*
The app container's whole env list: its own entries, NODE_OPTIONS with the agent's --require
appended (never replaced: an OTel or dd-trace --require stays in front; not twice when the app's
value has it already), then the agent's settings
for every variable the app does not set itself, among them the pod's name, namespace and node
(Downward API) and the container's name (`container`, when given) for the OpenTelemetry resource
(k8s.pod.name, k8s.namespace.name, k8s.node.name, k8s.container.name). A NODE_OPTIONS taken from a Secret or ConfigMap
(valueFrom) cannot be appended to at render time: the render fails and says what to do.
*/}}
{{- define "resetwatch.injection.env" -}}
{{- $v := .values }}
{{- $require := printf "--require %s/node_modules/resetwatch" $v.injection.mountPath }}
{{- $own := list }}
{{- $names := dict }}
{{- $found := false }}
{{- range $e := (.env | default list) }}
{{- $_ := set $names $e.name true }}
{{- if eq $e.name "NODE_OPTIONS" }}
{{- if hasKey $e "valueFrom" }}
{{- fail "resetwatch: this container takes NODE_OPTIONS from valueFrom, so the agent's --require cannot be appended to it at render time. Set NODE_OPTIONS as a plain value in the chart, or inject with helm/patch/resetwatch.yaml and node-options-append.json (Kubernetes expands $(NODE_OPTIONS) at pod start)." }}
{{- end }}
{{- $found = true }}
{{- $value := $e.value | default "" }}
{{- if not (has (printf "%s/node_modules/resetwatch" $v.injection.mountPath) (splitList " " $value)) }}
{{- $value = trim (printf "%s %s" $value $require) }}
{{- end }}
{{- $own = append $own (dict "name" "NODE_OPTIONS" "value" $value) }}
{{- else }}
{{- $own = append $own $e }}
{{- end }}
{{- end }}
{{- if not $found }}
{{- $own = append $own (dict "name" "NODE_OPTIONS" "value" $require) }}
{{- end }}
{{- $agent := list
  (dict "name" "RESETWATCH_HOST" "value" $v.agent.host)
  (dict "name" "RESETWATCH_PORT" "value" (toString $v.agent.port))
  (dict "name" "RESETWATCH_MAX_PEERS" "value" (toString $v.agent.maxPeers))
  (dict "name" "RESETWATCH_SERVER_PEERS" "value" (toString $v.agent.serverPeers))
  (dict "name" "RESETWATCH_REQUEST_PATHS" "value" (toString $v.agent.requestPaths))
  (dict "name" "RESETWATCH_LOG" "value" $v.agent.log)
  (dict "name" "RESETWATCH_LOG_LEVEL" "value" $v.agent.logLevel)
  (dict "name" "RESETWATCH_RECENT" "value" (toString $v.agent.recent))
  (dict "name" "RESETWATCH_K8S_POD_NAME" "valueFrom" (dict "fieldRef" (dict "fieldPath" "metadata.name")))
  (dict "name" "RESETWATCH_K8S_NAMESPACE_NAME" "valueFrom" (dict "fieldRef" (dict "fieldPath" "metadata.namespace")))
  (dict "name" "RESETWATCH_K8S_NODE_NAME" "valueFrom" (dict "fieldRef" (dict "fieldPath" "spec.nodeName"))) }}
{{- with .container }}
{{- $agent = append $agent (dict "name" "RESETWATCH_K8S_CONTAINER_NAME" "value" .) }}
{{- end }}
{{- with $v.agent.metricsToken.existingSecret }}
{{- $agent = append $agent (dict "name" "RESETWATCH_METRICS_TOKEN" "valueFrom" (dict "secretKeyRef" (dict "name" . "key" $v.agent.metricsToken.key))) }}
{{- end }}
{{- with $v.otel.serviceName }}
{{- $agent = append $agent (dict "name" "OTEL_SERVICE_NAME" "value" .) }}
{{- end }}
{{- with $v.otel.endpoint }}
{{- $agent = append $agent (dict "name" "OTEL_EXPORTER_OTLP_ENDPOINT" "value" .) }}
{{- $agent = append $agent (dict "name" "OTEL_EXPORTER_OTLP_PROTOCOL" "value" $v.otel.protocol) }}
{{- end }}
{{- with $v.otel.resourceAttributes }}
{{- $agent = append $agent (dict "name" "OTEL_RESOURCE_ATTRIBUTES" "value" .) }}
{{- end }}
{{- range $k := keys $v.otel.extraEnv | sortAlpha }}
{{- $agent = append $agent (dict "name" $k "value" (toString (get $v.otel.extraEnv $k))) }}
{{- end }}
{{- range $e := $agent }}
{{- if not (hasKey $names $e.name) }}
{{- $own = append $own $e }}
{{- end }}
{{- end }}
{{- toYaml $own }}
{{- end }}
