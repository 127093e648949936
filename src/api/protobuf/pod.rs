//! Tables for the `core/v1` pod types: Pod, PodTemplate, ReplicationController and everything
//! inside a pod spec (containers, probes, security contexts, scheduling constraints).
//!
//! Contract: field numbers and types are those of the `generated.proto` files of k8s.io/api and
//! k8s.io/apimachinery; `keep` marks Go pointers and fields whose JSON tag lacks `omitempty`;
//! rows are in Go declaration order, which is the key order Go's JSON encoder produces.

use super::core::LOCAL_OBJECT_REFERENCE;
use super::meta::{LABEL_SELECTOR, OBJECT_META};
use super::table::{
    inline, keep, list, map, msg, val, Msg, BOOL, I32, I64, INT_OR_STRING, QUANTITY, STR,
};
use super::volume::VOLUME;

pub(super) static POD: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        val(2, "spec", msg(&POD_SPEC)),
    ],
};

pub(super) static POD_TEMPLATE: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        val(2, "template", msg(&POD_TEMPLATE_SPEC)),
    ],
};

pub(super) static POD_TEMPLATE_SPEC: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        val(2, "spec", msg(&POD_SPEC)),
    ],
};

pub(super) static REPLICATION_CONTROLLER: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        val(2, "spec", msg(&REPLICATION_CONTROLLER_SPEC)),
    ],
};

static REPLICATION_CONTROLLER_SPEC: Msg = Msg {
    fields: &[
        keep(1, "replicas", I32),
        val(4, "minReadySeconds", I32),
        map(2, "selector", STR),
        keep(3, "template", msg(&POD_TEMPLATE_SPEC)),
    ],
};

static POD_SPEC: Msg = Msg {
    fields: &[
        list(1, "volumes", msg(&VOLUME)),
        list(20, "initContainers", msg(&CONTAINER)),
        list(2, "containers", msg(&CONTAINER)),
        list(34, "ephemeralContainers", msg(&EPHEMERAL_CONTAINER)),
        val(3, "restartPolicy", STR),
        keep(4, "terminationGracePeriodSeconds", I64),
        keep(5, "activeDeadlineSeconds", I64),
        val(6, "dnsPolicy", STR),
        map(7, "nodeSelector", STR),
        val(8, "serviceAccountName", STR),
        val(9, "serviceAccount", STR),
        keep(21, "automountServiceAccountToken", BOOL),
        val(10, "nodeName", STR),
        val(11, "hostNetwork", BOOL),
        val(12, "hostPID", BOOL),
        val(13, "hostIPC", BOOL),
        keep(27, "shareProcessNamespace", BOOL),
        keep(14, "securityContext", msg(&POD_SECURITY_CONTEXT)),
        list(15, "imagePullSecrets", msg(&LOCAL_OBJECT_REFERENCE)),
        val(16, "hostname", STR),
        val(17, "subdomain", STR),
        keep(18, "affinity", msg(&AFFINITY)),
        val(19, "schedulerName", STR),
        list(22, "tolerations", msg(&TOLERATION)),
        list(23, "hostAliases", msg(&HOST_ALIAS)),
        val(24, "priorityClassName", STR),
        keep(25, "priority", I32),
        keep(26, "dnsConfig", msg(&POD_DNS_CONFIG)),
        list(28, "readinessGates", msg(&POD_READINESS_GATE)),
        keep(29, "runtimeClassName", STR),
        keep(30, "enableServiceLinks", BOOL),
        keep(31, "preemptionPolicy", STR),
        map(32, "overhead", QUANTITY),
        list(
            33,
            "topologySpreadConstraints",
            msg(&TOPOLOGY_SPREAD_CONSTRAINT),
        ),
        keep(35, "setHostnameAsFQDN", BOOL),
        keep(36, "os", msg(&POD_OS)),
        keep(37, "hostUsers", BOOL),
        list(38, "schedulingGates", msg(&POD_SCHEDULING_GATE)),
        list(39, "resourceClaims", msg(&POD_RESOURCE_CLAIM)),
        keep(40, "resources", msg(&RESOURCE_REQUIREMENTS)),
        keep(41, "hostnameOverride", STR),
        keep(42, "workloadRef", msg(&WORKLOAD_REFERENCE)),
    ],
};

static CONTAINER: Msg = Msg {
    fields: &[
        keep(1, "name", STR),
        val(2, "image", STR),
        list(3, "command", STR),
        list(4, "args", STR),
        val(5, "workingDir", STR),
        list(6, "ports", msg(&CONTAINER_PORT)),
        list(19, "envFrom", msg(&ENV_FROM_SOURCE)),
        list(7, "env", msg(&ENV_VAR)),
        val(8, "resources", msg(&RESOURCE_REQUIREMENTS)),
        list(23, "resizePolicy", msg(&CONTAINER_RESIZE_POLICY)),
        keep(24, "restartPolicy", STR),
        list(25, "restartPolicyRules", msg(&CONTAINER_RESTART_RULE)),
        list(9, "volumeMounts", msg(&VOLUME_MOUNT)),
        list(21, "volumeDevices", msg(&VOLUME_DEVICE)),
        keep(10, "livenessProbe", msg(&PROBE)),
        keep(11, "readinessProbe", msg(&PROBE)),
        keep(22, "startupProbe", msg(&PROBE)),
        keep(12, "lifecycle", msg(&LIFECYCLE)),
        val(13, "terminationMessagePath", STR),
        val(20, "terminationMessagePolicy", STR),
        val(14, "imagePullPolicy", STR),
        keep(15, "securityContext", msg(&SECURITY_CONTEXT)),
        val(16, "stdin", BOOL),
        val(17, "stdinOnce", BOOL),
        val(18, "tty", BOOL),
    ],
};

/// `EphemeralContainerCommon` repeats every `Container` field under the same number, so the
/// container table serves for the embedded part.
static EPHEMERAL_CONTAINER: Msg = Msg {
    fields: &[inline(1, &CONTAINER), val(2, "targetContainerName", STR)],
};

static CONTAINER_PORT: Msg = Msg {
    fields: &[
        val(1, "name", STR),
        val(2, "hostPort", I32),
        keep(3, "containerPort", I32),
        val(4, "protocol", STR),
        val(5, "hostIP", STR),
    ],
};

static CONTAINER_RESIZE_POLICY: Msg = Msg {
    fields: &[keep(1, "resourceName", STR), keep(2, "restartPolicy", STR)],
};

static CONTAINER_RESTART_RULE: Msg = Msg {
    fields: &[
        keep(1, "action", STR),
        keep(2, "exitCodes", msg(&CONTAINER_RESTART_RULE_ON_EXIT_CODES)),
    ],
};

static CONTAINER_RESTART_RULE_ON_EXIT_CODES: Msg = Msg {
    fields: &[keep(1, "operator", STR), list(2, "values", I32)],
};

static ENV_FROM_SOURCE: Msg = Msg {
    fields: &[
        val(1, "prefix", STR),
        keep(2, "configMapRef", msg(&OPTIONAL_LOCAL_REFERENCE)),
        keep(3, "secretRef", msg(&OPTIONAL_LOCAL_REFERENCE)),
    ],
};

/// `ConfigMapEnvSource` and `SecretEnvSource`: an embedded `LocalObjectReference` plus `optional`.
static OPTIONAL_LOCAL_REFERENCE: Msg = Msg {
    fields: &[
        inline(1, &LOCAL_OBJECT_REFERENCE),
        keep(2, "optional", BOOL),
    ],
};

static ENV_VAR: Msg = Msg {
    fields: &[
        keep(1, "name", STR),
        val(2, "value", STR),
        keep(3, "valueFrom", msg(&ENV_VAR_SOURCE)),
    ],
};

static ENV_VAR_SOURCE: Msg = Msg {
    fields: &[
        keep(1, "fieldRef", msg(&OBJECT_FIELD_SELECTOR)),
        keep(2, "resourceFieldRef", msg(&RESOURCE_FIELD_SELECTOR)),
        keep(3, "configMapKeyRef", msg(&KEY_SELECTOR)),
        keep(4, "secretKeyRef", msg(&KEY_SELECTOR)),
        keep(5, "fileKeyRef", msg(&FILE_KEY_SELECTOR)),
    ],
};

pub(super) static OBJECT_FIELD_SELECTOR: Msg = Msg {
    fields: &[val(1, "apiVersion", STR), keep(2, "fieldPath", STR)],
};

pub(super) static RESOURCE_FIELD_SELECTOR: Msg = Msg {
    fields: &[
        val(1, "containerName", STR),
        keep(2, "resource", STR),
        val(3, "divisor", QUANTITY),
    ],
};

/// `ConfigMapKeySelector` and `SecretKeySelector` share numbers and names.
static KEY_SELECTOR: Msg = Msg {
    fields: &[
        inline(1, &LOCAL_OBJECT_REFERENCE),
        keep(2, "key", STR),
        keep(3, "optional", BOOL),
    ],
};

static FILE_KEY_SELECTOR: Msg = Msg {
    fields: &[
        keep(1, "volumeName", STR),
        keep(2, "path", STR),
        keep(3, "key", STR),
        keep(4, "optional", BOOL),
    ],
};

static RESOURCE_REQUIREMENTS: Msg = Msg {
    fields: &[
        map(1, "limits", QUANTITY),
        map(2, "requests", QUANTITY),
        list(3, "claims", msg(&RESOURCE_CLAIM)),
    ],
};

static RESOURCE_CLAIM: Msg = Msg {
    fields: &[keep(1, "name", STR), val(2, "request", STR)],
};

static VOLUME_MOUNT: Msg = Msg {
    fields: &[
        keep(1, "name", STR),
        val(2, "readOnly", BOOL),
        keep(7, "recursiveReadOnly", STR),
        keep(3, "mountPath", STR),
        val(4, "subPath", STR),
        keep(5, "mountPropagation", STR),
        val(6, "subPathExpr", STR),
    ],
};

static VOLUME_DEVICE: Msg = Msg {
    fields: &[keep(1, "name", STR), keep(2, "devicePath", STR)],
};

static PROBE: Msg = Msg {
    fields: &[
        inline(1, &PROBE_HANDLER),
        val(2, "initialDelaySeconds", I32),
        val(3, "timeoutSeconds", I32),
        val(4, "periodSeconds", I32),
        val(5, "successThreshold", I32),
        val(6, "failureThreshold", I32),
        keep(7, "terminationGracePeriodSeconds", I64),
    ],
};

static PROBE_HANDLER: Msg = Msg {
    fields: &[
        keep(1, "exec", msg(&EXEC_ACTION)),
        keep(2, "httpGet", msg(&HTTP_GET_ACTION)),
        keep(3, "tcpSocket", msg(&TCP_SOCKET_ACTION)),
        keep(4, "grpc", msg(&GRPC_ACTION)),
    ],
};

static EXEC_ACTION: Msg = Msg {
    fields: &[list(1, "command", STR)],
};

static HTTP_GET_ACTION: Msg = Msg {
    fields: &[
        val(1, "path", STR),
        keep(2, "port", INT_OR_STRING),
        val(3, "host", STR),
        val(4, "scheme", STR),
        list(5, "httpHeaders", msg(&HTTP_HEADER)),
    ],
};

static HTTP_HEADER: Msg = Msg {
    fields: &[keep(1, "name", STR), keep(2, "value", STR)],
};

static TCP_SOCKET_ACTION: Msg = Msg {
    fields: &[keep(1, "port", INT_OR_STRING), val(2, "host", STR)],
};

static GRPC_ACTION: Msg = Msg {
    fields: &[keep(1, "port", I32), keep(2, "service", STR)],
};

static LIFECYCLE: Msg = Msg {
    fields: &[
        keep(1, "postStart", msg(&LIFECYCLE_HANDLER)),
        keep(2, "preStop", msg(&LIFECYCLE_HANDLER)),
        keep(3, "stopSignal", STR),
    ],
};

static LIFECYCLE_HANDLER: Msg = Msg {
    fields: &[
        keep(1, "exec", msg(&EXEC_ACTION)),
        keep(2, "httpGet", msg(&HTTP_GET_ACTION)),
        keep(3, "tcpSocket", msg(&TCP_SOCKET_ACTION)),
        keep(4, "sleep", msg(&SLEEP_ACTION)),
    ],
};

static SLEEP_ACTION: Msg = Msg {
    fields: &[keep(1, "seconds", I64)],
};

static SECURITY_CONTEXT: Msg = Msg {
    fields: &[
        keep(1, "capabilities", msg(&CAPABILITIES)),
        keep(2, "privileged", BOOL),
        keep(3, "seLinuxOptions", msg(&SE_LINUX_OPTIONS)),
        keep(10, "windowsOptions", msg(&WINDOWS_SECURITY_CONTEXT_OPTIONS)),
        keep(4, "runAsUser", I64),
        keep(8, "runAsGroup", I64),
        keep(5, "runAsNonRoot", BOOL),
        keep(6, "readOnlyRootFilesystem", BOOL),
        keep(7, "allowPrivilegeEscalation", BOOL),
        keep(9, "procMount", STR),
        keep(11, "seccompProfile", msg(&PROFILE)),
        keep(12, "appArmorProfile", msg(&PROFILE)),
        list(13, "ulimits", msg(&ULIMIT)),
    ],
};

static POD_SECURITY_CONTEXT: Msg = Msg {
    fields: &[
        keep(1, "seLinuxOptions", msg(&SE_LINUX_OPTIONS)),
        keep(8, "windowsOptions", msg(&WINDOWS_SECURITY_CONTEXT_OPTIONS)),
        keep(2, "runAsUser", I64),
        keep(6, "runAsGroup", I64),
        keep(3, "runAsNonRoot", BOOL),
        list(4, "supplementalGroups", I64),
        keep(12, "supplementalGroupsPolicy", STR),
        keep(5, "fsGroup", I64),
        list(7, "sysctls", msg(&SYSCTL)),
        keep(9, "fsGroupChangePolicy", STR),
        keep(10, "seccompProfile", msg(&PROFILE)),
        keep(11, "appArmorProfile", msg(&PROFILE)),
        keep(13, "seLinuxChangePolicy", STR),
    ],
};

static CAPABILITIES: Msg = Msg {
    fields: &[list(1, "add", STR), list(2, "drop", STR)],
};

static SE_LINUX_OPTIONS: Msg = Msg {
    fields: &[
        val(1, "user", STR),
        val(2, "role", STR),
        val(3, "type", STR),
        val(4, "level", STR),
    ],
};

static WINDOWS_SECURITY_CONTEXT_OPTIONS: Msg = Msg {
    fields: &[
        keep(1, "gmsaCredentialSpecName", STR),
        keep(2, "gmsaCredentialSpec", STR),
        keep(3, "runAsUserName", STR),
        keep(4, "hostProcess", BOOL),
    ],
};

/// `SeccompProfile` and `AppArmorProfile` share numbers and names.
static PROFILE: Msg = Msg {
    fields: &[keep(1, "type", STR), keep(2, "localhostProfile", STR)],
};

static ULIMIT: Msg = Msg {
    fields: &[
        keep(1, "name", STR),
        keep(2, "hard", I64),
        keep(3, "soft", I64),
    ],
};

static SYSCTL: Msg = Msg {
    fields: &[keep(1, "name", STR), keep(2, "value", STR)],
};

static TOLERATION: Msg = Msg {
    fields: &[
        val(1, "key", STR),
        val(2, "operator", STR),
        val(3, "value", STR),
        val(4, "effect", STR),
        keep(5, "tolerationSeconds", I64),
    ],
};

static HOST_ALIAS: Msg = Msg {
    fields: &[keep(1, "ip", STR), list(2, "hostnames", STR)],
};

static POD_DNS_CONFIG: Msg = Msg {
    fields: &[
        list(1, "nameservers", STR),
        list(2, "searches", STR),
        list(3, "options", msg(&POD_DNS_CONFIG_OPTION)),
    ],
};

static POD_DNS_CONFIG_OPTION: Msg = Msg {
    fields: &[val(1, "name", STR), keep(2, "value", STR)],
};

static POD_READINESS_GATE: Msg = Msg {
    fields: &[keep(1, "conditionType", STR)],
};

static POD_OS: Msg = Msg {
    fields: &[keep(1, "name", STR)],
};

static POD_SCHEDULING_GATE: Msg = Msg {
    fields: &[keep(1, "name", STR)],
};

static POD_RESOURCE_CLAIM: Msg = Msg {
    fields: &[
        keep(1, "name", STR),
        keep(3, "resourceClaimName", STR),
        keep(4, "resourceClaimTemplateName", STR),
    ],
};

static WORKLOAD_REFERENCE: Msg = Msg {
    fields: &[
        keep(1, "name", STR),
        keep(2, "podGroup", STR),
        val(3, "podGroupReplicaKey", STR),
    ],
};

static TOPOLOGY_SPREAD_CONSTRAINT: Msg = Msg {
    fields: &[
        keep(1, "maxSkew", I32),
        keep(2, "topologyKey", STR),
        keep(3, "whenUnsatisfiable", STR),
        keep(4, "labelSelector", msg(&LABEL_SELECTOR)),
        keep(5, "minDomains", I32),
        keep(6, "nodeAffinityPolicy", STR),
        keep(7, "nodeTaintsPolicy", STR),
        list(8, "matchLabelKeys", STR),
    ],
};

static AFFINITY: Msg = Msg {
    fields: &[
        keep(1, "nodeAffinity", msg(&NODE_AFFINITY)),
        keep(2, "podAffinity", msg(&POD_AFFINITY)),
        keep(3, "podAntiAffinity", msg(&POD_AFFINITY)),
    ],
};

static NODE_AFFINITY: Msg = Msg {
    fields: &[
        keep(
            1,
            "requiredDuringSchedulingIgnoredDuringExecution",
            msg(&NODE_SELECTOR),
        ),
        list(
            2,
            "preferredDuringSchedulingIgnoredDuringExecution",
            msg(&PREFERRED_SCHEDULING_TERM),
        ),
    ],
};

static NODE_SELECTOR: Msg = Msg {
    fields: &[list(1, "nodeSelectorTerms", msg(&NODE_SELECTOR_TERM))],
};

static NODE_SELECTOR_TERM: Msg = Msg {
    fields: &[
        list(1, "matchExpressions", msg(&NODE_SELECTOR_REQUIREMENT)),
        list(2, "matchFields", msg(&NODE_SELECTOR_REQUIREMENT)),
    ],
};

static NODE_SELECTOR_REQUIREMENT: Msg = Msg {
    fields: &[
        keep(1, "key", STR),
        keep(2, "operator", STR),
        list(3, "values", STR),
    ],
};

static PREFERRED_SCHEDULING_TERM: Msg = Msg {
    fields: &[
        keep(1, "weight", I32),
        keep(2, "preference", msg(&NODE_SELECTOR_TERM)),
    ],
};

/// `PodAffinity` and `PodAntiAffinity` share numbers and names.
static POD_AFFINITY: Msg = Msg {
    fields: &[
        list(
            1,
            "requiredDuringSchedulingIgnoredDuringExecution",
            msg(&POD_AFFINITY_TERM),
        ),
        list(
            2,
            "preferredDuringSchedulingIgnoredDuringExecution",
            msg(&WEIGHTED_POD_AFFINITY_TERM),
        ),
    ],
};

static POD_AFFINITY_TERM: Msg = Msg {
    fields: &[
        keep(1, "labelSelector", msg(&LABEL_SELECTOR)),
        list(2, "namespaces", STR),
        keep(3, "topologyKey", STR),
        keep(4, "namespaceSelector", msg(&LABEL_SELECTOR)),
        list(5, "matchLabelKeys", STR),
        list(6, "mismatchLabelKeys", STR),
    ],
};

static WEIGHTED_POD_AFFINITY_TERM: Msg = Msg {
    fields: &[
        keep(1, "weight", I32),
        keep(2, "podAffinityTerm", msg(&POD_AFFINITY_TERM)),
    ],
};
