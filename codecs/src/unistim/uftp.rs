//! UFTP, the file transfer carried in RUDP payload type 3 (Wireshark `uftp.h` / `dissect_uftp_message`):
//! one command byte, then its data. Connection Details carries a 16-bit block size, the number of
//! blocks before flow control and the file name; File Data Block carries raw data.

use bytes::{BufMut, Bytes, BytesMut};

use crate::fields::{Describe, Fields};
use crate::unistim::body::open_u8;
use crate::wire::bytes_of;

open_u8! {
    /// A UFTP command (WS `uftp_commands`).
    UftpCommand {
        GRANTED = 0x00 => "Connection Granted",
        DENIED = 0x01 => "Connection Denied",
        DATA_BLOCK = 0x02 => "File Data Block",
        REQUEST = 0x80 => "Connection Request",
        DETAILS = 0x81 => "Connection Details",
        FLOW_CONTROL_OFF = 0x82 => "Flow Control Off",
    }
}

/// One UFTP command and the bytes after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uftp {
    /// The command.
    pub command: UftpCommand,
    /// Everything after the command byte.
    pub data: Bytes,
}

impl Uftp {
    /// Splits a non-empty UFTP payload into command and data (`None` for an empty payload).
    pub(crate) fn decode(bytes: &[u8]) -> Option<Self> {
        let (&command, data) = bytes.split_first()?;
        Some(Self {
            command: UftpCommand(command),
            data: bytes_of(data),
        })
    }

    pub(crate) fn encode(&self, out: &mut BytesMut) {
        out.put_u8(self.command.0);
        out.put_slice(&self.data);
    }

    /// For Connection Details: block size, blocks before flow control, file name.
    pub fn details(&self) -> Option<(u16, u8, &[u8])> {
        if self.command != UftpCommand::DETAILS {
            return None;
        }
        let size = self.data.get(..2)?;
        let limit = *self.data.get(2)?;
        Some((
            u16::from_be_bytes([*size.first()?, *size.get(1)?]),
            limit,
            self.data.get(3..)?,
        ))
    }
}

impl Describe for Uftp {
    fn describe(&self, out: &mut Fields) {
        out.push("uftp.cmd", self.command);
        match self.details() {
            Some((size, limit, name)) => {
                out.push("uftp.blocksize", size)
                    .push("uftp.limit", limit)
                    .push("uftp.filename", String::from_utf8_lossy(name).into_owned());
            }
            None if !self.data.is_empty() => {
                out.push("uftp.datablock", self.data.to_vec());
            }
            None => {}
        }
    }
}
