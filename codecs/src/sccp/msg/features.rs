//! Features: feature buttons and busy-lamp fields, service URLs, message waiting, presence
//! subscriptions and line call counts (`docs/protocols/sccp.md` §3.4).

use crate::sccp::ButtonType;
use crate::sccp::macros::{body, record};
use crate::sccp::types::{Slots, Text, VarText};

body! {
    /// 0x0034, phone → Crossbar: asks about feature button `feature_index`. A 7960 on protocol 11 sends
    /// only the index.
    FeatureStatReq {
        /// The button.
        feature_index: u32 => "featureIndex",
        /// 1 when the phone takes dynamic (V2) answers.
        feature_capabilities: Option<u32> => "featureCapabilities",
    }
}

body! {
    /// 0x011F, Crossbar → phone: a feature button's kind, label and state (52 bytes).
    FeatureStatRes {
        /// The button.
        feature_index: u32 => "featureIndex",
        /// Its kind.
        feature_id: ButtonType => "featureID",
        /// Its label.
        feature_text_label: Text<40> => "featureTextLabel",
        /// Its state.
        feature_status: u32 => "featureStatus",
    }
}

body! {
    /// 0x0146, Crossbar → phone: a feature button with a variable label; for busy-lamp fields
    /// (`feature_id` 0x15) the status is 0 unknown, 1 idle, 2 in use, 3 DND, 4 alerting.
    FeatureStatV2Res {
        /// The button.
        feature_index: u32 => "featureIndex",
        /// Its kind.
        feature_id: ButtonType => "featureID",
        /// Its state.
        feature_status: u32 => "featureStatus",
        /// Its label.
        feature_text_label: Option<VarText> => "featureTextLabel",
    }
}

body! {
    /// 0x0033, phone → Crossbar: asks about service URL button `service_url_index`.
    ServiceUrlStatReq {
        /// The button.
        service_url_index: u32 => "serviceURLIndex",
    }
}

body! {
    /// 0x012F, Crossbar → phone: a service URL button (300 bytes).
    ServiceUrlStatRes {
        /// The button.
        service_url_index: u32 => "serviceURLIndex",
        /// The URL.
        service_url: Text<256> => "serviceURL",
        /// Its label.
        service_url_display_name: Text<40> => "serviceURLDisplayName",
    }
}

body! {
    /// 0x0148, Crossbar → phone: a service URL button with variable strings (Wireshark decodes only the
    /// index; the URL and label follow as NUL-terminated strings).
    ServiceUrlStatV2Res {
        /// The button.
        service_url_index: u32 => "serviceURLIndex",
        /// The URL.
        service_url: Option<VarText> => "serviceURL",
        /// Its label.
        service_url_display_name: Option<VarText> => "serviceURLDisplayName",
    }
}

record! {
    /// New and old message counts.
    VmCounts [8] {
        /// New messages.
        num_new_msgs: u32 => "numNewMsgs",
        /// Old messages.
        num_old_msgs: u32 => "numOldMsgs",
    }
}

body! {
    /// 0x004C, voicemail → call manager: messages waiting for a number (86 bytes, unaligned).
    MwiNotification {
        /// The mailbox's number.
        mwi_target_number: Text<25> => "mwiTargetNumber",
        /// The controlling number.
        mwi_control_number: Text<25> => "mwiControlNumber",
        /// Non-zero if messages wait.
        are_messages_waiting: u32 => "areMessagesWaiting",
        /// Voice counts.
        total_vm_counts: VmCounts => "totalVmCounts",
        /// Urgent voice counts.
        priority_vm_counts: VmCounts => "priorityVmCounts",
        /// Fax counts.
        total_fax_counts: VmCounts => "totalFaxCounts",
        /// Urgent fax counts.
        priority_fax_counts: VmCounts => "priorityFaxCounts",
    }
}

body! {
    /// 0x0158, call manager → voicemail: the result of an MwiNotification.
    MwiRes {
        /// The mailbox's number.
        mwi_target_number: Text<25> => "mwiTargetNumber",
        /// The result.
        mwi_notification_result: u32 => "mwi.notification.result",
    }
}

body! {
    /// 0x0048, phone → Crossbar: subscribe to a feature's state (1 = busy-lamp field).
    SubscriptionStatReq {
        /// The transaction.
        transaction_id: u32 => "transactionId",
        /// The feature.
        subscription_feature_id: u32 => "subscriptionFeatureID",
        /// Timer.
        timer: u32 => "timer",
        /// What to subscribe to.
        subscription_id: Text<64> => "subscriptionID",
    }
}

body! {
    /// 0x0152, Crossbar → phone: the subscription's result (0 OK ... 6 throttled).
    SubscriptionStatRes {
        /// The transaction.
        transaction_id: u32 => "transactionId",
        /// The feature.
        subscription_feature_id: u32 => "subscriptionFeatureID",
        /// Timer.
        timer: u32 => "timer",
        /// The cause.
        cause: u32 => "cause",
    }
}

body! {
    /// 0x0153, Crossbar → phone: a subscribed feature changed (97-byte text).
    Notification {
        /// The transaction.
        transaction_id: u32 => "transactionId",
        /// The feature.
        subscription_feature_id: u32 => "subscriptionFeatureID",
        /// The new status.
        notification_status: u32 => "notificationStatus",
        /// A text.
        text: Text<97> => "text",
    }
}

body! {
    /// 0x015E, Crossbar → phone: asks for the line call counts.
    CallCountReq {}
}

record! {
    /// Calls a line may have, and after how many it counts as busy.
    LineCallCount [4] {
        /// Calls.
        max_num_calls: u16 => "maxNumCalls",
        /// Busy trigger.
        busy_trigger: u16 => "busyTrigger",
    }
}

body! {
    /// 0x015F, phone → Crossbar: line call counts.
    CallCountResp {
        /// Configured lines.
        total_num_of_configured_lines: u32 => "totalNumOfConfiguredLines",
        /// The first line described.
        starting_line_instance: u32 => "startingLineInstance",
        /// Entries.
        line_data_entries: u32 => "lineDataEntries",
        /// The entries.
        line_data: Slots<LineCallCount, 42> => "lineData",
    }
}
