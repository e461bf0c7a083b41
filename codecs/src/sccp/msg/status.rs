//! Line, speed-dial, forward and configuration status: the questions a phone asks while it registers,
//! one per button, and their answers (`docs/protocols/sccp.md` §3.1, §5.4). The V2 answers are "dynamic":
//! NUL-terminated strings one after another, which CUCM and CME use from protocol 17 on.

use crate::sccp::macros::body;
use crate::sccp::types::{DirNum, Text, VarText};

body! {
    /// 0x000B, phone → Crossbar: asks about line `line_number`.
    LineStatReq {
        /// The line (1-based).
        line_number: u32 => "lineNumber",
    }
}

body! {
    /// 0x0092, Crossbar → phone: a line's number and labels (fixed layout, 112 bytes).
    LineStatRes {
        /// The line.
        line_number: u32 => "lineNumber",
        /// Its directory number.
        line_dir_number: Text<24> => "lineDirNumber",
        /// The name shown for calls from this line.
        line_fully_qualified_display_name: Text<40> => "lineFullyQualifiedDisplayName",
        /// The label beside the line key.
        line_text_label: Text<40> => "lineTextLabel",
        /// Display options.
        line_display_options: u32 => "lineDisplayOptions",
    }
}

body! {
    /// 0x0147, Crossbar → phone: a line's number and labels as variable strings.
    LineStatV2Res {
        /// The line.
        line_number: u32 => "lineNumber",
        /// Bits: 1 originally dialed, 2 redirected dialed, 4 calling number, 8 calling name shown.
        line_type: u32 => "lineType",
        /// Its directory number.
        line_dir_number: Option<VarText> => "lineDirNumber",
        /// The name shown for calls from this line.
        line_fully_qualified_display_name: Option<VarText> => "lineFullyQualifiedDisplayName",
        /// The label beside the line key.
        line_text_label: Option<VarText> => "lineTextLabel",
    }
}

body! {
    /// 0x000A, phone → Crossbar: asks about speed dial `speed_dial_number`.
    SpeedDialStatReq {
        /// The speed dial (1-based).
        speed_dial_number: u32 => "speedDialNumber",
    }
}

body! {
    /// 0x0091, Crossbar → phone: a speed dial's number and label (68 bytes).
    SpeedDialStatRes {
        /// The speed dial.
        speed_dial_number: u32 => "speedDialNumber",
        /// The number it dials.
        speed_dial_dir_number: Text<24> => "speedDialDirNumber",
        /// Its label.
        speed_dial_display_name: Text<40> => "speedDialDisplayName",
    }
}

body! {
    /// 0x0149, Crossbar → phone: a speed dial as variable strings.
    SpeedDialStatV2Res {
        /// The speed dial.
        speed_dial_number: u32 => "speedDialNumber",
        /// The number it dials.
        speed_dial_dir_number: Option<VarText> => "speedDialDirNumber",
        /// Its label.
        speed_dial_display_name: Option<VarText> => "speedDialDisplayName",
    }
}

body! {
    /// 0x0009, phone → Crossbar: asks about forwarding on line `line_number`.
    ForwardStatReq {
        /// The line.
        line_number: u32 => "lineNumber",
    }
}

body! {
    /// 0x0090, Crossbar → phone: a line's forwarding. Directory numbers are 24 bytes before protocol 18 and
    /// 25 from 18 on (96 or 99 bytes; CUCM pads the latter to 100).
    ForwardStatRes {
        /// Non-zero if any forward is active.
        active_forward: u32 => "activeForward",
        /// The line.
        line_number: u32 => "lineNumber",
        /// Forward all active.
        forward_all_active: u32 => "forwardAllActive",
        /// Forward-all target.
        forward_all_dirnum: DirNum => "forwardAllDirnum",
        /// Forward on busy active.
        forward_busy_active: u32 => "forwardBusyActive",
        /// Forward-on-busy target.
        forward_busy_dirnum: DirNum => "forwardBusyDirnum",
        /// Forward on no answer active.
        forward_no_answer_active: u32 => "forwardNoAnswerActive",
        /// Forward-on-no-answer target (Wireshark's field name has the typo).
        forward_no_answer_dirnum: DirNum => "forwardNoAnswerlDirnum",
    }
}

body! {
    /// 0x0093, Crossbar → phone: the device's configuration (112 bytes).
    ConfigStatRes {
        /// "SEP" + MAC.
        device_name: Text<16> => "DeviceName",
        /// Reserved.
        reserved_for_future_use: u32 => "reserved_for_future_use",
        /// Instance.
        instance: u32 => "instance",
        /// The user's name.
        user_name: Text<40> => "userName",
        /// The server's name.
        server_name: Text<40> => "serverName",
        /// Lines.
        number_of_lines: u32 => "numberOfLines",
        /// Speed dials.
        number_of_speed_dials: u32 => "numberOfSpeedDials",
    }
}

body! {
    /// 0x0142, Crossbar → phone: the device's configuration with variable strings (the layout tshark
    /// 4.0.17 decodes and CUCM sends).
    ConfigStatV2Res {
        /// "SEP" + MAC.
        device_name: VarText => "DeviceName",
        /// Reserved.
        reserved_for_future_use: u32 => "reserved_for_future_use",
        /// Instance.
        instance: u32 => "instance",
        /// Lines.
        number_of_lines: u32 => "numberOfLines",
        /// Speed dials.
        number_of_speed_dials: u32 => "numberOfSpeedDials",
        /// The user's name.
        user_name: Option<VarText> => "userName",
        /// The server's name.
        server_name: Option<VarText> => "serverName",
    }
}
