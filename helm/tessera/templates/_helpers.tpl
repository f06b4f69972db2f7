{{/*
Names, labels and the per-service view of the values. Every per-service template ranges over
`tessera.services` and reads one merged block, so a service added to values needs no template.
*/}}

{{- define "tessera.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "tessera.chartLabel" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object. Call with (dict "root" $ "name" <component name> "component" <role>). */}}
{{- define "tessera.labels" -}}
helm.sh/chart: {{ include "tessera.chartLabel" .root }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: tessera
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
{{ include "tessera.selectorLabels" . }}
{{- end -}}

{{- define "tessera.selectorLabels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Resource name of one component: <fullname>-<name>[-<suffix>]. */}}
{{- define "tessera.componentName" -}}
{{- $base := printf "%s-%s" (include "tessera.fullname" .root) .name -}}
{{- if .suffix -}}{{- $base = printf "%s-%s" $base .suffix -}}{{- end -}}
{{- $base | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "tessera.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "tessera.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
The enabled services as a JSON map name -> merged block (serviceDefaults overlaid by services.<name>),
with derived fields: name, consumerGroup, imageRef, allTopics. Use: fromJson (include "tessera.services" $).
*/}}
{{- define "tessera.services" -}}
{{- $root := . -}}
{{- $out := dict -}}
{{- range $name, $block := .Values.services -}}
{{- $svc := mergeOverwrite (deepCopy $root.Values.serviceDefaults) (deepCopy (default dict $block)) -}}
{{- if $svc.enabled -}}
{{- $_ := set $svc "name" $name -}}
{{- $_ := set $svc "consumerGroup" (default $name $svc.consumerGroup) -}}
{{- $repo := default (printf "tessera-%s" $name) $svc.image.repository -}}
{{- $img := dict "repository" (printf "%s/%s" $root.Values.global.imageRegistry $repo) "tag" (default (default $root.Chart.AppVersion $root.Values.global.imageTag) $svc.image.tag) "digest" $svc.image.digest -}}
{{- $_ := set $svc "imageRef" (include "tessera.imageRef" $img) -}}
{{- $_ := set $out $name $svc -}}
{{- end -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/* repository:tag[@digest] from (dict repository tag digest). */}}
{{- define "tessera.imageRef" -}}
{{- if eq (toString .tag) "latest" -}}{{- fail "image tags must be pinned: 'latest' is not allowed" -}}{{- end -}}
{{- printf "%s:%s" .repository (toString .tag) -}}{{- if .digest -}}@{{ .digest }}{{- end -}}
{{- end -}}

{{- define "tessera.trialKafkaName" -}}{{ include "tessera.componentName" (dict "root" . "name" "kafka") }}{{- end -}}
{{- define "tessera.trialMinioName" -}}{{ include "tessera.componentName" (dict "root" . "name" "minio") }}{{- end -}}
{{- define "tessera.tritonName" -}}{{ include "tessera.componentName" (dict "root" . "name" "triton") }}{{- end -}}

{{/* The broker address: the trial broker when it is enabled (a same-namespace name, so kustomize may
change the namespace), else kafka.bootstrap. */}}
{{- define "tessera.kafkaBootstrap" -}}
{{- if .Values.trial.kafka.enabled -}}
{{- printf "%s:9092" (include "tessera.trialKafkaName" .) -}}
{{- else -}}
{{- .Values.kafka.bootstrap -}}
{{- end -}}
{{- end -}}

{{/* host:port of S3: the trial MinIO when it is enabled, else s3.endpoint. */}}
{{- define "tessera.s3Endpoint" -}}
{{- if .Values.trial.minio.enabled -}}
{{- printf "%s:9000" (include "tessera.trialMinioName" .) -}}
{{- else -}}
{{- .Values.s3.endpoint -}}
{{- end -}}
{{- end -}}

{{- define "tessera.artifactsUri" -}}
{{- $prefix := trimAll "/" .Values.s3.prefix -}}
{{- if $prefix -}}s3://{{ .Values.s3.bucket }}/{{ $prefix }}{{- else -}}s3://{{ .Values.s3.bucket }}{{- end -}}
{{- end -}}

{{/* Triton's repository: s3://[https://]host:port/bucket[/prefix]/<modelRepositoryPrefix>. */}}
{{- define "tessera.tritonModelRepository" -}}
{{- $scheme := ternary "https://" "" .Values.s3.secure -}}
{{- $parts := compact (list .Values.s3.bucket (trimAll "/" .Values.s3.prefix) (trimAll "/" .Values.config.modelRepositoryPrefix)) -}}
{{- printf "s3://%s%s/%s" $scheme (include "tessera.s3Endpoint" .) (join "/" $parts) -}}
{{- end -}}

{{/* Every topic: consumed and produced topics, their retry and DLQ topics, and tessera.jobs. */}}
{{- define "tessera.topics" -}}
{{- $topics := list "tessera.jobs" -}}
{{- range $name, $svc := (fromJson (include "tessera.services" .)) -}}
{{- range $t := concat $svc.consumes $svc.produces -}}
{{- $topics = concat $topics (list $t) -}}
{{- end -}}
{{- range $t := $svc.consumes -}}
{{- $topics = concat $topics (list (printf "%s.retry" $t) (printf "%s.dlq" $t)) -}}
{{- end -}}
{{- end -}}
{{- toJson (dict "topics" ($topics | uniq | sortAlpha)) -}}
{{- end -}}

{{/* Secret-backed environment shared by services (values never appear in a manifest). */}}
{{- define "tessera.secretEnv" -}}
- name: TESSERA_S3_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.s3.credentials.existingSecret }}
      key: {{ .Values.s3.credentials.accessKeyKey }}
- name: TESSERA_S3_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.s3.credentials.existingSecret }}
      key: {{ .Values.s3.credentials.secretKeyKey }}
{{- if .Values.auth.existingSecret }}
- name: TESSERA_AUTH_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ .Values.auth.existingSecret }}
      key: {{ .Values.auth.tokenKey }}
{{- end }}
{{- end -}}

{{/* NetworkPolicy egress peers+ports from a block with `to` and `ports`. */}}
{{- define "tessera.egressRule" -}}
- ports:
  {{- range .ports }}
    - protocol: TCP
      port: {{ . }}
  {{- end }}
  {{- with .to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{/* A settings value as text: whole numbers without an exponent (values may arrive as float64). */}}
{{- define "tessera.scalar" -}}
{{- if and (kindIs "float64" .) (eq . (floor .)) -}}{{ . | int64 }}{{- else -}}{{ toString . }}{{- end -}}
{{- end -}}

{{/* Egress to DNS (kube-dns). */}}
{{- define "tessera.dnsEgress" -}}
- ports:
    - protocol: UDP
      port: 53
    - protocol: TCP
      port: 53
  {{- with .Values.networkPolicy.dnsTo }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{/* Egress to the broker (the trial one when enabled). */}}
{{- define "tessera.kafkaEgress" -}}
{{- if .Values.trial.kafka.enabled -}}
- ports:
    - protocol: TCP
      port: 9092
  to:
    - podSelector:
        matchLabels:
          {{- include "tessera.selectorLabels" (dict "root" . "name" "kafka" "component" "trial") | nindent 10 }}
{{- else -}}
{{ include "tessera.egressRule" .Values.kafka.networkPolicy }}
{{- end -}}
{{- end -}}

{{/* Egress to S3 (the trial MinIO when enabled). */}}
{{- define "tessera.s3Egress" -}}
{{- if .Values.trial.minio.enabled -}}
- ports:
    - protocol: TCP
      port: 9000
  to:
    - podSelector:
        matchLabels:
          {{- include "tessera.selectorLabels" (dict "root" . "name" "minio" "component" "trial") | nindent 10 }}
{{- else -}}
{{ include "tessera.egressRule" .Values.s3.networkPolicy }}
{{- end -}}
{{- end -}}

{{/* Peers that may call Tessera services: the release's own pods and the configured clients. */}}
{{- define "tessera.releasePods" -}}
- podSelector:
    matchLabels:
      app.kubernetes.io/part-of: tessera
      app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
