{{/* The release's name for its objects, at most 63 characters. */}}
{{- define "hiclaw.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "hiclaw.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "hiclaw.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "hiclaw.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The labels a component's pods are selected by: web, worker, beat, watch, migration. */}}
{{- define "hiclaw.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "hiclaw.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/* The Secret every process reads its credentials from: the operator's, or the chart's. */}}
{{- define "hiclaw.secretName" -}}
{{- .Values.existingSecret | default (include "hiclaw.fullname" .) -}}
{{- end -}}

{{/* The namespace agent pods run in (HICLAW_NAMESPACE). */}}
{{- define "hiclaw.agentNamespace" -}}
{{- .Values.backend.namespace | default .Release.Namespace -}}
{{- end -}}

{{/* The web Service's in-cluster host name, and the URL agents use by default. */}}
{{- define "hiclaw.serviceHost" -}}
{{- printf "%s.%s.svc" (include "hiclaw.fullname" .) .Release.Namespace -}}
{{- end -}}

{{- define "hiclaw.controllerUrl" -}}
{{- if .Values.controllerUrl -}}
{{- .Values.controllerUrl -}}
{{- else if eq (int .Values.service.port) 80 -}}
{{- printf "http://%s" (include "hiclaw.serviceHost" .) -}}
{{- else -}}
{{- printf "http://%s:%d" (include "hiclaw.serviceHost" .) (int .Values.service.port) -}}
{{- end -}}
{{- end -}}

{{/* Host names Django answers: the probes' (localhost), the Service's, the ingress hosts, the
controller URL's and the operator's extra ones. A request naming any other host gets a 400. */}}
{{- define "hiclaw.allowedHosts" -}}
{{- $name := include "hiclaw.fullname" . -}}
{{- $hosts := list "localhost" "127.0.0.1" $name (printf "%s.%s" $name .Release.Namespace) (include "hiclaw.serviceHost" .) (printf "%s.%s" (include "hiclaw.serviceHost" .) .Values.clusterDomain) -}}
{{- if .Values.ingress.enabled -}}
{{- range .Values.ingress.hosts -}}
{{- $hosts = append $hosts .host -}}
{{- end -}}
{{- end -}}
{{- $hosts = append $hosts (regexReplaceAll ":[0-9]+$" (urlParse (include "hiclaw.controllerUrl" .)).host "") -}}
{{- concat $hosts .Values.allowedHosts | uniq | join "," -}}
{{- end -}}

{{/* Variable names the chart keeps in its Secret, never in the ConfigMap. */}}
{{- define "hiclaw.secretNames" -}}
DATABASE_URL REDIS_URL HICLAW_STORAGE_URL DJANGO_SECRET_KEY DJANGO_SECRET_KEY_FALLBACKS HICLAW_ADMIN_PASSWORD HICLAW_METRICS_TOKEN HICLAW_MATRIX_ADMIN_PASSWORD HICLAW_MATRIX_REGISTRATION_SECRET HICLAW_MATRIX_REGISTRATION_TOKEN HICLAW_GATEWAY_PASSWORD DJANGO_EMAIL_HOST_PASSWORD
{{- end -}}

{{/* Annotations that make helm run an object before the install/upgrade/rollback proper:
the migration Job needs the ConfigMap and the Secret before any regular object exists. */}}
{{- define "hiclaw.configHookAnnotations" -}}
helm.sh/hook: pre-install,pre-upgrade,pre-rollback
helm.sh/hook-weight: "-10"
helm.sh/hook-delete-policy: before-hook-creation
{{- end -}}

{{/*
A pod spec of one of the controller's processes. Arguments (a dict):
  root: the chart's context; component: its name; command: the container's command (a list);
  automount: whether the pod gets a Kubernetes API token; resources; defaultServiceAccount: true
  to run as the namespace's default account (the migration Job, which runs before ours exists);
  ports, probes: optional YAML for the container.
*/}}
{{- define "hiclaw.podSpec" -}}
{{- $root := .root -}}
{{- if not .defaultServiceAccount }}
serviceAccountName: {{ include "hiclaw.serviceAccountName" $root }}
{{- end }}
automountServiceAccountToken: {{ .automount }}
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml $root.Values.podSecurityContext | nindent 2 }}
containers:
  - name: {{ .component }}
    image: {{ include "hiclaw.image" $root }}
    imagePullPolicy: {{ $root.Values.image.pullPolicy }}
    workingDir: /app
    command:
      {{- toYaml .command | nindent 6 }}
    envFrom:
      - configMapRef:
          name: {{ include "hiclaw.fullname" $root }}
      - secretRef:
          name: {{ include "hiclaw.secretName" $root }}
    {{- with .env }}
    env:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with .ports }}
    ports:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with .probes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
    resources:
      {{- toYaml .resources | nindent 6 }}
    securityContext:
      {{- toYaml $root.Values.securityContext | nindent 6 }}
    volumeMounts:
      # The root filesystem is read-only: /var/lib/hiclaw (beat's schedule; the data dir
      # HICLAW_DATA_DIR=/var/lib/hiclaw/data, made by the process itself so it may make it
      # private) and /tmp are emptyDirs. Nothing lasting is kept in them.
      - name: data
        mountPath: /var/lib/hiclaw
      - name: tmp
        mountPath: /tmp
volumes:
  - name: data
    emptyDir: {}
  - name: tmp
    emptyDir: {}
{{- with $root.Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Pod annotations: a change of the ConfigMap or the Secret rolls every Deployment on upgrade. */}}
{{- define "hiclaw.podAnnotations" -}}
checksum/config: {{ include (print .root.Template.BasePath "/configmap.yaml") .root | sha256sum }}
checksum/secret: {{ include (print .root.Template.BasePath "/secret.yaml") .root | sha256sum }}
{{- range $name, $value := .extra }}
{{ $name }}: {{ $value | toString | quote }}
{{- end }}
{{- end -}}

{{/* A single-replica Deployment (beat, watch): Recreate, so two never run at once during a rollout. */}}
{{- define "hiclaw.singletonDeployment" -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "hiclaw.fullname" .root }}-{{ .component }}
  labels:
    {{- include "hiclaw.labels" .root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
spec:
  replicas: 1
  strategy:
    type: Recreate
  selector:
    matchLabels:
      {{- include "hiclaw.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "hiclaw.selectorLabels" . | nindent 8 }}
      annotations:
        {{- include "hiclaw.podAnnotations" (dict "root" .root "extra" .values.podAnnotations) | nindent 8 }}
    spec:
      {{- include "hiclaw.podSpec" (dict "root" .root "component" .component "command" .command "automount" .values.automountServiceAccountToken "resources" .values.resources) | trim | nindent 6 }}
{{- end -}}
