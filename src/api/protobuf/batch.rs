//! Tables for `batch/v1`: Job (with its failure and success policies) and CronJob.
//!
//! Contract: field numbers and types are those of the `generated.proto` files of k8s.io/api and
//! k8s.io/apimachinery; `keep` marks Go pointers and fields whose JSON tag lacks `omitempty`;
//! rows are in Go declaration order, which is the key order Go's JSON encoder produces.

use super::core::OBJECT_REFERENCE;
use super::meta::{LABEL_SELECTOR, OBJECT_META};
use super::pod::POD_TEMPLATE_SPEC;
use super::table::{keep, list, msg, val, Msg, BOOL, I32, I64, STR, TIME};

pub(super) static JOB: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        val(2, "spec", msg(&JOB_SPEC)),
        val(3, "status", msg(&JOB_STATUS)),
    ],
};

static JOB_SPEC: Msg = Msg {
    fields: &[
        keep(1, "parallelism", I32),
        keep(2, "completions", I32),
        keep(3, "activeDeadlineSeconds", I64),
        keep(11, "podFailurePolicy", msg(&POD_FAILURE_POLICY)),
        keep(16, "successPolicy", msg(&SUCCESS_POLICY)),
        keep(7, "backoffLimit", I32),
        keep(12, "backoffLimitPerIndex", I32),
        keep(13, "maxFailedIndexes", I32),
        keep(4, "selector", msg(&LABEL_SELECTOR)),
        keep(5, "manualSelector", BOOL),
        keep(6, "template", msg(&POD_TEMPLATE_SPEC)),
        keep(8, "ttlSecondsAfterFinished", I32),
        keep(9, "completionMode", STR),
        keep(10, "suspend", BOOL),
        keep(14, "podReplacementPolicy", STR),
        keep(15, "managedBy", STR),
    ],
};

static POD_FAILURE_POLICY: Msg = Msg {
    fields: &[list(1, "rules", msg(&POD_FAILURE_POLICY_RULE))],
};

static POD_FAILURE_POLICY_RULE: Msg = Msg {
    fields: &[
        keep(4, "name", STR),
        keep(1, "action", STR),
        keep(2, "onExitCodes", msg(&POD_FAILURE_POLICY_ON_EXIT_CODES)),
        list(
            3,
            "onPodConditions",
            msg(&POD_FAILURE_POLICY_ON_POD_CONDITIONS),
        ),
    ],
};

static POD_FAILURE_POLICY_ON_EXIT_CODES: Msg = Msg {
    fields: &[
        keep(1, "containerName", STR),
        keep(2, "operator", STR),
        list(3, "values", I32),
    ],
};

static POD_FAILURE_POLICY_ON_POD_CONDITIONS: Msg = Msg {
    fields: &[keep(1, "type", STR), keep(2, "status", STR)],
};

static SUCCESS_POLICY: Msg = Msg {
    fields: &[list(1, "rules", msg(&SUCCESS_POLICY_RULE))],
};

static SUCCESS_POLICY_RULE: Msg = Msg {
    fields: &[
        keep(1, "succeededIndexes", STR),
        keep(2, "succeededCount", I32),
    ],
};

static JOB_STATUS: Msg = Msg {
    fields: &[
        list(1, "conditions", msg(&JOB_CONDITION)),
        keep(2, "startTime", TIME),
        keep(3, "completionTime", TIME),
        val(4, "active", I32),
        val(5, "succeeded", I32),
        val(6, "failed", I32),
        keep(11, "terminating", I32),
        val(7, "completedIndexes", STR),
        keep(10, "failedIndexes", STR),
        keep(
            8,
            "uncountedTerminatedPods",
            msg(&UNCOUNTED_TERMINATED_PODS),
        ),
        keep(9, "ready", I32),
    ],
};

static JOB_CONDITION: Msg = Msg {
    fields: &[
        keep(1, "type", STR),
        keep(2, "status", STR),
        val(3, "lastProbeTime", TIME),
        val(4, "lastTransitionTime", TIME),
        val(5, "reason", STR),
        val(6, "message", STR),
    ],
};

static UNCOUNTED_TERMINATED_PODS: Msg = Msg {
    fields: &[list(1, "succeeded", STR), list(2, "failed", STR)],
};

static JOB_TEMPLATE_SPEC: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        val(2, "spec", msg(&JOB_SPEC)),
    ],
};

pub(super) static CRON_JOB: Msg = Msg {
    fields: &[
        val(1, "metadata", msg(&OBJECT_META)),
        val(2, "spec", msg(&CRON_JOB_SPEC)),
        val(3, "status", msg(&CRON_JOB_STATUS)),
    ],
};

static CRON_JOB_SPEC: Msg = Msg {
    fields: &[
        keep(1, "schedule", STR),
        keep(8, "timeZone", STR),
        keep(2, "startingDeadlineSeconds", I64),
        val(3, "concurrencyPolicy", STR),
        keep(4, "suspend", BOOL),
        keep(5, "jobTemplate", msg(&JOB_TEMPLATE_SPEC)),
        keep(6, "successfulJobsHistoryLimit", I32),
        keep(7, "failedJobsHistoryLimit", I32),
    ],
};

static CRON_JOB_STATUS: Msg = Msg {
    fields: &[
        list(1, "active", msg(&OBJECT_REFERENCE)),
        keep(4, "lastScheduleTime", TIME),
        keep(5, "lastSuccessfulTime", TIME),
    ],
};
