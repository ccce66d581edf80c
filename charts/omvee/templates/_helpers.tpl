{{/* Names. Cluster-scoped objects carry the release name, so two releases never collide. */}}
{{- define "omvee.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "omvee.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one component: operator or api. */}}
{{- define "omvee.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "omvee.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{- define "omvee.operatorName" -}}{{ include "omvee.fullname" . }}-operator{{- end -}}
{{- define "omvee.apiName" -}}{{ include "omvee.fullname" . }}-api{{- end -}}

{{/* Namespaces whose OmveeJobs run (job pods' RBAC goes into each). */}}
{{- define "omvee.jobNamespaces" -}}
{{- $namespaces := .Values.jobNamespaces | default (list .Release.Namespace) -}}
{{- $api := include "omvee.apiNamespace" . -}}
{{- if and .Values.api.enabled (not (has $api $namespaces)) -}}
{{- $namespaces = append $namespaces $api -}}
{{- end -}}
{{- toJson $namespaces -}}
{{- end -}}

{{- define "omvee.apiNamespace" -}}
{{- .Values.api.namespace | default .Release.Namespace -}}
{{- end -}}

{{/* Hardened defaults shared by the operator and API pods. */}}
{{- define "omvee.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "omvee.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: [ALL]
{{- end -}}

{{- define "omvee.apiAuthSecret" -}}
{{- .Values.api.auth.existingSecret | default (printf "%s-api-auth" (include "omvee.fullname" .)) -}}
{{- end -}}

{{/* Where saved pod logs are written (operator) and read (API). */}}
{{- define "omvee.logsEnv" -}}
- {name: OMVEE_LOGS, value: {{ .Values.logs.store | quote }}}
{{- if eq .Values.logs.store "supabase" }}
- {name: OMVEE_LOGS_BUCKET, value: {{ .Values.logs.bucket | quote }}}
- {name: SUPABASE_URL, value: {{ .Values.mirror.supabase.url | quote }}}
- name: SUPABASE_SERVICE_ROLE_KEY
  valueFrom:
    secretKeyRef: {name: {{ .Values.mirror.supabase.existingSecret }}, key: {{ .Values.mirror.supabase.serviceRoleKeyKey }}}
{{- end }}
{{- end -}}

{{/* The operator's results-store settings (controller.settings: OMVEE_RESULTS_*). */}}
{{- define "omvee.operatorResultsEnv" -}}
{{- $r := .Values.results -}}
- {name: OMVEE_RESULTS_STORE, value: {{ $r.store | quote }}}
{{- if eq $r.store "volume" }}
{{- if $r.claimName }}
- {name: OMVEE_RESULTS_CLAIM, value: {{ $r.claimName | quote }}}
{{- else }}
- {name: OMVEE_RESULTS_HOST_PATH, value: {{ $r.hostPath | quote }}}
{{- end }}
{{- else if eq $r.store "supabase" }}
- {name: OMVEE_RESULTS_SECRET, value: {{ $r.existingSecret | quote }}}
- {name: OMVEE_RESULTS_BUCKET, value: {{ $r.bucket | quote }}}
{{- end }}
{{- end -}}

{{/* The API's view of the results store (api.rest.settings: results_*). */}}
{{- define "omvee.apiResultsEnv" -}}
{{- $r := .Values.results -}}
{{- if eq $r.store "volume" }}
- {name: OMVEE_RESULTS_STORE, value: volume}
- {name: OMVEE_RESULTS_DIR, value: /var/lib/omvee/results}
{{- else if eq $r.store "supabase" }}
- {name: OMVEE_RESULTS_STORE, value: supabase}
- {name: OMVEE_RESULTS_BUCKET, value: {{ $r.bucket | quote }}}
{{- if ne .Values.logs.store "supabase" }}
- name: SUPABASE_URL
  valueFrom:
    secretKeyRef: {name: {{ $r.existingSecret }}, key: SUPABASE_URL}
- name: SUPABASE_SERVICE_ROLE_KEY
  valueFrom:
    secretKeyRef: {name: {{ $r.existingSecret }}, key: SUPABASE_SERVICE_ROLE_KEY}
{{- end }}
{{- end }}
{{- end -}}
