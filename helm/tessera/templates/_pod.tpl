{{/*
The pod of one Tessera service, shared by its API Deployment, its worker Deployment and its KEDA
ScaledJob. Call with (dict "root" $ "svc" <merged block> "component" "api"|"worker" "command" <list>
"resources" <map> "restartPolicy" <string or "">).
*/}}
{{- define "tessera.servicePod" -}}
{{- $root := .root -}}
{{- $svc := .svc -}}
metadata:
  labels:
    {{- include "tessera.labels" (dict "root" $root "name" $svc.name "component" .component) | nindent 4 }}
    tessera.io/service: {{ $svc.name }}
  annotations:
    checksum/config: {{ include (print $root.Template.BasePath "/configmaps.yaml") $root | sha256sum }}
spec:
  serviceAccountName: {{ include "tessera.serviceAccountName" $root }}
  automountServiceAccountToken: false
  {{- with .restartPolicy }}
  restartPolicy: {{ . }}
  {{- end }}
  terminationGracePeriodSeconds: {{ $svc.terminationGracePeriodSeconds }}
  securityContext:
    {{- toYaml $root.Values.global.podSecurityContext | nindent 4 }}
  {{- with $root.Values.global.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $svc.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $svc.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $svc.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  containers:
    - name: {{ $svc.name }}
      image: {{ $svc.imageRef | quote }}
      imagePullPolicy: {{ $root.Values.global.imagePullPolicy }}
      {{- with .command }}
      command:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      ports:
        - name: grpc
          containerPort: {{ $svc.grpcPort }}
          protocol: TCP
        - name: metrics
          containerPort: {{ $svc.metricsPort }}
          protocol: TCP
      envFrom:
        - configMapRef:
            name: {{ include "tessera.fullname" $root }}-common
        - configMapRef:
            name: {{ include "tessera.componentName" (dict "root" $root "name" $svc.name) }}
      env:
        {{- include "tessera.secretEnv" $root | nindent 8 }}
        {{- if and (eq .component "api") $svc.workers.enabled }}
        # The KEDA-scaled workers consume this service's events; API replicas only serve calls.
        - name: TESSERA_KAFKA_CONSUME
          value: "false"
        {{- end }}
        {{- with $svc.env }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      # Native gRPC probes ask grpc.health.v1 on the serving port (no auth on health).
      startupProbe:
        grpc:
          port: {{ $svc.grpcPort }}
        periodSeconds: {{ $svc.probes.periodSeconds }}
        failureThreshold: {{ $svc.probes.startupFailureThreshold }}
      livenessProbe:
        grpc:
          port: {{ $svc.grpcPort }}
        periodSeconds: {{ $svc.probes.periodSeconds }}
        failureThreshold: 3
      readinessProbe:
        grpc:
          port: {{ $svc.grpcPort }}
        periodSeconds: {{ $svc.probes.periodSeconds }}
        failureThreshold: 2
      resources:
        {{- toYaml .resources | nindent 8 }}
      securityContext:
        {{- toYaml $root.Values.global.containerSecurityContext | nindent 8 }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
  volumes:
    - name: tmp
      emptyDir:
        sizeLimit: {{ $svc.tmpSizeLimit }}
{{- end -}}
