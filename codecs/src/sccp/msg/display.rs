//! Display: prompts, notifications and XML application data (`docs/protocols/sccp.md` §3.2, §3.4, §3.5).
//! Texts may embed the phone's own localised labels: byte 0x80 followed by a label index
//! ([`label`]).

use bytes::{BufMut, Bytes, BytesMut};

use crate::fields::{Describe, Fields};
use crate::sccp::Ctx;
use crate::sccp::macros::body;
use crate::sccp::types::{Text, VarText};
use crate::wire::{DecodeError, Reader, bytes_of};

/// Phone-resident labels, used as `0x80, index` inside display and soft-key texts so the phone shows
/// them in its own language (Wireshark's `DisplayLabels_200` table; values from that table).
pub mod label {
    /// The two-byte text that shows label `index`.
    pub const fn code(index: u8) -> [u8; 2] {
        [0x80, index]
    }
    /// "Redial".
    pub const REDIAL: u8 = 0o01;
    /// "NewCall".
    pub const NEW_CALL: u8 = 0o02;
    /// "Hold".
    pub const HOLD: u8 = 0o03;
    /// "Transfer".
    pub const TRANSFER: u8 = 0o04;
    /// "CFwdAll".
    pub const CFWD_ALL: u8 = 0o05;
    /// "CFwdBusy".
    pub const CFWD_BUSY: u8 = 0o06;
    /// "CFwdNoAnswer".
    pub const CFWD_NO_ANSWER: u8 = 0o07;
    /// "<<" (backspace).
    pub const BACKSPACE: u8 = 0o10;
    /// "EndCall".
    pub const END_CALL: u8 = 0o11;
    /// "Resume".
    pub const RESUME: u8 = 0o12;
    /// "Answer".
    pub const ANSWER: u8 = 0o13;
    /// "Your current options".
    pub const YOUR_CURRENT_OPTIONS: u8 = 0o23;
    /// "Off Hook".
    pub const OFF_HOOK: u8 = 0o24;
    /// "On Hook".
    pub const ON_HOOK: u8 = 0o25;
    /// "Ring out".
    pub const RING_OUT: u8 = 0o26;
    /// "From".
    pub const FROM: u8 = 0o27;
    /// "Connected".
    pub const CONNECTED: u8 = 0o30;
    /// "Busy".
    pub const BUSY: u8 = 0o31;
    /// "Line In Use".
    pub const LINE_IN_USE: u8 = 0o32;
    /// "Call Waiting".
    pub const CALL_WAITING: u8 = 0o33;
    /// "Call Transfer".
    pub const CALL_TRANSFER: u8 = 0o34;
    /// "Call Proceed".
    pub const CALL_PROCEED: u8 = 0o36;
    /// "Enter number".
    pub const ENTER_NUMBER: u8 = 0o40;
    /// "Temp Fail".
    pub const TEMP_FAIL: u8 = 0o43;
    /// "You Have VoiceMail".
    pub const YOU_HAVE_VOICEMAIL: u8 = 0o44;
    /// "Forwarded to".
    pub const FORWARDED_TO: u8 = 0o45;
    /// "Unknown Number".
    pub const UNKNOWN_NUMBER: u8 = 0o70;
    /// "DND".
    pub const DND: u8 = 0o77;
}

body! {
    /// 0x0099, Crossbar → phone: a line of text (legacy).
    DisplayText {
        /// The text.
        text: Text<32> => "text",
    }
}

body! {
    /// 0x0112, Crossbar → phone: the prompt line (protocols before 8; later phones take the V2 form).
    DisplayPromptStatus {
        /// Seconds to show it, 0 until replaced.
        time_out_value: u32 => "timeOutValue",
        /// The prompt.
        prompt_status: Text<32> => "promptStatus",
        /// The line.
        line_instance: u32 => "lineInstance",
        /// The call.
        call_reference: u32 => "callReference",
    }
}

body! {
    /// 0x0145, Crossbar → phone: the prompt line as a variable string (at most 97 bytes with its NUL;
    /// senders pad the body to a multiple of 4).
    DisplayPromptStatusV2 {
        /// Seconds to show it, 0 until replaced.
        time_out_value: u32 => "timeOutValue",
        /// The line.
        line_instance: u32 => "lineInstance",
        /// The call.
        call_reference: u32 => "callReference",
        /// The prompt.
        prompt_status: Option<VarText> => "promptStatus",
    }
}

body! {
    /// 0x0113, Crossbar → phone: clear the prompt line.
    ClearPromptStatus {
        /// The line.
        line_instance: u32 => "lineInstance",
        /// The call.
        call_reference: u32 => "callReference",
    }
}

body! {
    /// 0x0114, Crossbar → phone: a notification (fixed 32-byte text).
    DisplayNotify {
        /// Seconds to show it.
        time_out_value: u32 => "timeOutValue",
        /// The text.
        notify: Text<32> => "notify",
    }
}

body! {
    /// 0x0143, Crossbar → phone: a notification as a variable string.
    DisplayNotifyV2 {
        /// Seconds to show it.
        time_out_value: u32 => "timeOutValue",
        /// The text.
        notify: Option<VarText> => "notify",
    }
}

body! {
    /// 0x0120, Crossbar → phone: a notification with a priority (fixed 32-byte text).
    DisplayPriNotify {
        /// Seconds to show it.
        time_out_value: u32 => "timeOutValue",
        /// Priority (CUCM: 5 for ring-in).
        priority: u32 => "priority",
        /// The text.
        notify: Text<32> => "notify",
    }
}

body! {
    /// 0x0144, Crossbar → phone: a notification with a priority, as a variable string.
    DisplayPriNotifyV2 {
        /// Seconds to show it.
        time_out_value: u32 => "timeOutValue",
        /// Priority.
        priority: u32 => "priority",
        /// The text.
        notify: Option<VarText> => "notify",
    }
}

body! {
    /// 0x0121, Crossbar → phone: clear the notification of this priority.
    ClearPriNotify {
        /// The priority.
        priority: u32 => "priority",
    }
}

/// 0x011E UserToDeviceData (Crossbar → phone) and 0x002E/0x002F DeviceToUserData(Response) (phone →
/// Crossbar): data, usually XML, for a phone application.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserToDeviceData {
    /// The application.
    pub application_id: u32,
    /// The line.
    pub line_instance: u32,
    /// The call.
    pub call_reference: u32,
    /// The transaction.
    pub transaction_id: u32,
    /// The data length field as sent.
    pub data_length: u32,
    /// The data.
    pub data: Bytes,
    /// Bytes after the data.
    pub trailing: Bytes,
}

/// 0x013F UserToDeviceDataVersion1 (Crossbar → phone) and 0x0041/0x0042 (phone → Crossbar): as
/// [`UserToDeviceData`] with sequencing, priority and routing fields (CUCM's `<getDeviceCaps/>` probe).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserToDeviceDataVersion1 {
    /// The application.
    pub application_id: u32,
    /// The line.
    pub line_instance: u32,
    /// The call.
    pub call_reference: u32,
    /// The transaction.
    pub transaction_id: u32,
    /// The data length field as sent.
    pub data_length: u32,
    /// 0 first, 1 more, 2 last.
    pub sequence_flag: u32,
    /// Display priority.
    pub display_priority: u32,
    /// Conference.
    pub conference_id: u32,
    /// Application instance.
    pub app_instance_id: u32,
    /// Routing.
    pub routing_id: u32,
    /// The data.
    pub data: Bytes,
    /// Bytes after the data.
    pub trailing: Bytes,
}

fn read_data(r: &mut Reader<'_>, length: u32) -> Bytes {
    let n = usize::try_from(length).unwrap_or(usize::MAX).min(r.left());
    r.take("xmldata", n).map(bytes_of).unwrap_or_default()
}

impl UserToDeviceData {
    pub(crate) fn decode_body(r: &mut Reader<'_>, _: Ctx) -> Result<Self, DecodeError> {
        let application_id = r.u32_le("applicationId")?;
        let line_instance = r.u32_le("lineInstance")?;
        let call_reference = r.u32_le("callReference")?;
        let transaction_id = r.u32_le("transactionId")?;
        let data_length = r.u32_le("dataLength")?;
        let data = read_data(r, data_length);
        Ok(Self {
            application_id,
            line_instance,
            call_reference,
            transaction_id,
            data_length,
            data,
            trailing: bytes_of(r.rest()),
        })
    }

    pub(crate) fn encode_body(&self, out: &mut BytesMut, _: Ctx) {
        for v in [
            self.application_id,
            self.line_instance,
            self.call_reference,
            self.transaction_id,
            self.data_length,
        ] {
            out.put_u32_le(v);
        }
        out.put_slice(&self.data);
        out.put_slice(&self.trailing);
    }
}

impl Describe for UserToDeviceData {
    fn describe(&self, out: &mut Fields) {
        out.push("applicationId", self.application_id)
            .push("lineInstance", self.line_instance)
            .push("callReference", self.call_reference)
            .push("transactionId", self.transaction_id)
            .push("dataLength", self.data_length)
            .push("xmldata", String::from_utf8_lossy(&self.data).into_owned());
    }
}

impl UserToDeviceDataVersion1 {
    pub(crate) fn decode_body(r: &mut Reader<'_>, _: Ctx) -> Result<Self, DecodeError> {
        let application_id = r.u32_le("applicationId")?;
        let line_instance = r.u32_le("lineInstance")?;
        let call_reference = r.u32_le("callReference")?;
        let transaction_id = r.u32_le("transactionId")?;
        let data_length = r.u32_le("dataLength")?;
        let sequence_flag = r.u32_le("sequenceFlag")?;
        let display_priority = r.u32_le("displayPriority")?;
        let conference_id = r.u32_le("conferenceId")?;
        let app_instance_id = r.u32_le("appInstanceID")?;
        let routing_id = r.u32_le("routingID")?;
        let data = read_data(r, data_length);
        Ok(Self {
            application_id,
            line_instance,
            call_reference,
            transaction_id,
            data_length,
            sequence_flag,
            display_priority,
            conference_id,
            app_instance_id,
            routing_id,
            data,
            trailing: bytes_of(r.rest()),
        })
    }

    pub(crate) fn encode_body(&self, out: &mut BytesMut, _: Ctx) {
        for v in [
            self.application_id,
            self.line_instance,
            self.call_reference,
            self.transaction_id,
            self.data_length,
            self.sequence_flag,
            self.display_priority,
            self.conference_id,
            self.app_instance_id,
            self.routing_id,
        ] {
            out.put_u32_le(v);
        }
        out.put_slice(&self.data);
        out.put_slice(&self.trailing);
    }
}

impl Describe for UserToDeviceDataVersion1 {
    fn describe(&self, out: &mut Fields) {
        out.push("applicationId", self.application_id)
            .push("lineInstance", self.line_instance)
            .push("callReference", self.call_reference)
            .push("transactionId", self.transaction_id)
            .push("dataLength", self.data_length)
            .push("sequenceFlag", self.sequence_flag)
            .push("displayPriority", self.display_priority)
            .push("conferenceId", self.conference_id)
            .push("appInstanceID", self.app_instance_id)
            .push("routingID", self.routing_id)
            .push("xmldata", String::from_utf8_lossy(&self.data).into_owned());
    }
}
