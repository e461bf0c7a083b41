//! Network manager (address 0x1E to the phone, 0x9E from it): connection, watchdog, server list,
//! resets and software download.
//!
//! Command ids and names from Wireshark's `network.h`; layouts from unistim.md §3.3 "Network manager",
//! checked against the startup capture (Resume frame 15, watchdog frame 23, server report frame 50,
//! recovery interval and transport parameters frame 52).

use std::net::Ipv4Addr;

use bytes::{BufMut, Bytes, BytesMut};

use crate::fields::{Fields, Value};
use crate::unistim::body::{Body, Empty, Field, Opaque, describe_trailing, fixed, manager};
use crate::wire::{DecodeError, Reader, bytes_of};

manager! {
    /// Network manager commands sent by the server (WS `network_switch_msgs`).
    NetworkSwitch => "network.switch" {
        /// 0x02: soft reset.
        0x02 => SoftReset(Empty) = "Soft Reset",
        /// 0x03: hard reset.
        0x03 => HardReset(Empty) = "Hard Reset",
        /// 0x04: ask for the items flagged (diagnostics, managers, attributes, server info ...).
        0x04 => QueryNetworkManager(QueryNetworkManager) = "Query Network Manager",
        /// 0x05: enable diagnostics / reliable UDP.
        0x05 => NetworkManagerOptions(NetworkManagerOptions) = "Network Manager Options",
        /// 0x06: QoS configuration (layout not published).
        0x06 => QosConfiguration(Opaque) = "QoS Configuration",
        /// 0x09: RTCP source description item (layout not published).
        0x09 => SetRtcpSourceDescriptionItem(Opaque) = "Set RTCP Source Description Item",
        /// 0x0B: one server entry of the phone's server list.
        0x0b => DownloadServerInformation(DownloadServerInformation) = "Download Server Information",
        /// 0x0C: switch to another server.
        0x0c => ServerSwitch(ServerId) = "Server Switch",
        /// 0x0D: ask for one network configuration element.
        0x0d => QueryNetworkConfigurationElement(QueryNetworkConfigurationElement) = "Query Network Configuration Element",
        /// 0x0E: download new software (TFTP or UFTP).
        0x0e => DownloadSoftwareUpgrade(DownloadSoftwareUpgrade) = "Download Software Upgrade",
        /// 0x0F: RTCP report interval (layout not published).
        0x0f => SetRtcpReportInterval(Opaque) = "Set RTCP Report Interval",
        /// 0x10: which server is primary.
        0x10 => SetPrimaryServer(ServerId) = "Set Primary Server",
        /// 0x12: the keep-alive: the phone restarts its watchdog with this timeout.
        0x12 => ResetWatchdog(ResetWatchdog) = "Reset Watchdog",
        /// 0x13: recovery procedure idle boundaries.
        0x13 => SetRecoveryProcedureTimeInterval(SetRecoveryProcedureTimeInterval) = "Set Recovery Procedure Time Interval",
        /// 0x14: transport reliability parameters (layout not published; CS2K sent `00 0a 01 0a`).
        0x14 => TransportReliabilityLayerParameters(Opaque) = "Transport Reliability Layer Parameters Download",
        /// 0xFF: reserved.
        0xff => Reserved(Opaque) = "Reserved",
    }
}

manager! {
    /// Network manager commands sent by the phone (WS `network_phone_msgs`).
    NetworkPhone => "network.phone" {
        /// 0x00: soft reset acknowledged.
        0x00 => SoftResetAck(Empty) = "Soft Reset Ack",
        /// 0x01: sanity check passed.
        0x01 => SanityOk(Empty) = "Sanity OK",
        /// 0x02: attributes (layout not published).
        0x02 => AttributesInfo(Opaque) = "Network Manager Attributes Info",
        /// 0x03: diagnostic flags.
        0x03 => DiagnosticInfo(NetworkDiagnosticInfo) = "Network Manager Diagnostic Info",
        /// 0x04: manager ids (layout not published).
        0x04 => ManagerIds(Opaque) = "Manager IDs",
        /// 0x05: options in force.
        0x05 => OptionsReport(NetworkOptionsReport) = "Network Manager Options Report",
        /// 0x08: the phone's hello: sent with sequence 0xFFFFFFFF to open a session (frame 15).
        0x08 => ResumeConnection(Empty) = "Resume Connection with Server",
        /// 0x09: the phone suspends its connection.
        0x09 => SuspendConnection(Empty) = "Suspend Connection with Server",
        /// 0x0B: one network configuration element (layout not published).
        0x0b => ConfigurationElementReport(Opaque) = "Network Configuration Element Report",
        /// 0x0C: the phone's server list (frame 50).
        0x0c => ServerInformationReport(ServerInformationReport) = "Server Information Report",
        /// 0xFF: reserved.
        0xff => Reserved(Empty) = "Reserved",
    }
}

fixed! {
    /// Query Network Manager (0x1E/0x04): flags 0x01 diagnostic, 0x02 managers, 0x04 attributes,
    /// 0x08 server information (CS2K, startup frame 48), 0x10 options, 0x80 sanity.
    QueryNetworkManager {
        /// The items asked for.
        flags: u8 => "bit.fields",
    }
}

fixed! {
    /// Network Manager Options (0x1E/0x05): 0x01 enable diagnostics, 0x02 enable reliable UDP.
    NetworkManagerOptions {
        /// The option bits.
        flags: u8 => "bit.fields",
    }
}

fixed! {
    /// Download Server Information (0x1E/0x0B): one entry of the server list.
    DownloadServerInformation {
        /// 0 = first server ... 9 = tenth.
        server_id: u8 => "download.id",
        /// UDP port.
        port: u16 => "download.port",
        /// 1 = establish a UNIStim connection.
        action: u8 => "download.action",
        /// Attempts before trying the fail-over server.
        retry_count: u8 => "download.retry",
        /// The fail-over server's id.
        failover_id: u8 => "download.failover",
        /// The server's address.
        address: Ipv4Addr => "download.address",
    }
}

fixed! {
    /// A server id (Server Switch 0x1E/0x0C, Set Primary Server 0x1E/0x10).
    ServerId {
        /// The server's id.
        server_id: u8 => "download.id",
    }
}

fixed! {
    /// Query Network Configuration Element (0x1E/0x0D): 0 phone IP, 1 netmask, 2 gateway, 3 S1 IP,
    /// 4 S1 port, 5 S2 IP, 6 S2 port, 7 S1 action, 8 S1 retry, 9 boot mode, 0x0B S2 action,
    /// 0x0C S2 retry, 0x0E user PIN.
    QueryNetworkConfigurationElement {
        /// The element asked for.
        element: u8 => "config.element",
    }
}

fixed! {
    /// Reset Watchdog (0x1E/0x12): the keep-alive; a 16-bit timeout in seconds (CS2K 120,
    /// `1e 05 12 00 78`).
    ResetWatchdog {
        /// Seconds until the phone considers the server gone.
        timeout: u16 => "watchdog.timeout",
    }
}

fixed! {
    /// Set Recovery Procedure Time Interval (0x1E/0x13): low and high boundaries (CS2K 5 and 10).
    SetRecoveryProcedureTimeInterval {
        /// Low boundary.
        low: u16 => "recovery.low",
        /// High boundary.
        high: u16 => "recovery.high",
    }
}

fixed! {
    /// Network Manager Diagnostic Info (0x9E/0x03): 0x01 rx overflow, 0x02 tx overflow, 0x08 rx
    /// unexpectedly empty, 0x20 invalid message, 0x40 EEPROM insane, 0x80 EEPROM unsafe.
    NetworkDiagnosticInfo {
        /// The diagnostic bits.
        flags: u8 => "bit.fields",
    }
}

fixed! {
    /// Network Manager Options Report (0x9E/0x05): 0x01 diagnostics enabled, 0x02 reliable UDP active.
    NetworkOptionsReport {
        /// The option bits.
        flags: u8 => "rudp.active",
    }
}

/// Download Software Upgrade (0x1E/0x0E): mode flags, one further byte, a NUL-terminated path and
/// file id, then file-server port, local port and file-server address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadSoftwareUpgrade {
    /// Transfer mode in bits 0x1F (0 TFTP, 1 TFTP with the UNIStim channel up, 2 UFTP, 3 UFTP with the
    /// channel up), 0x20 force, 0x40 use the file-server port, 0x80 use the local port.
    pub flags: u8,
    /// The byte after the flags (not described).
    pub reserved: u8,
    /// Full path name, without its NUL.
    pub path: Bytes,
    /// File identifier, without its NUL.
    pub file_id: Bytes,
    /// File server port.
    pub file_server_port: u16,
    /// Local transfer port.
    pub local_port: u16,
    /// File server address.
    pub file_server: Ipv4Addr,
    /// Bytes after the layout.
    pub trailing: Bytes,
}

fn nul_terminated(r: &mut Reader<'_>, field: &'static str) -> Result<Bytes, DecodeError> {
    let rest = r.remaining();
    let n = rest
        .iter()
        .position(|&b| b == 0)
        .ok_or_else(|| DecodeError::Short {
            field,
            needed: rest.len().saturating_add(1),
            left: rest.len(),
        })?;
    let s = r.take(field, n)?;
    r.u8(field)?;
    Ok(bytes_of(s))
}

impl Body for DownloadSoftwareUpgrade {
    fn decode(_command: u8, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            flags: r.u8("net.file.xfer.mode")?,
            reserved: r.u8("generic.data")?,
            path: nul_terminated(r, "net.full_pathname")?,
            file_id: nul_terminated(r, "net.file_identifier")?,
            file_server_port: r.u16_be("net.file.server.port")?,
            local_port: r.u16_be("net.local.xfer.port")?,
            file_server: Ipv4Addr::read(r, "net.file.server.address")?,
            trailing: bytes_of(r.rest()),
        })
    }
    fn encode(&self, out: &mut BytesMut) {
        out.put_u8(self.flags);
        out.put_u8(self.reserved);
        out.put_slice(&self.path);
        out.put_u8(0);
        out.put_slice(&self.file_id);
        out.put_u8(0);
        out.put_u16(self.file_server_port);
        out.put_u16(self.local_port);
        out.put_slice(&self.file_server.octets());
        out.put_slice(&self.trailing);
    }
    fn describe(&self, out: &mut Fields) {
        out.push("net.file.xfer.mode", self.flags & 0x1f)
            .push("net.force.download", u8::from(self.flags & 0x20 != 0))
            .push(
                "net.full_pathname",
                String::from_utf8_lossy(&self.path).into_owned(),
            )
            .push(
                "net.file_identifier",
                String::from_utf8_lossy(&self.file_id).into_owned(),
            )
            .push("net.file.server.port", self.file_server_port)
            .push("net.local.xfer.port", self.local_port)
            .push(
                "net.file.server.address",
                Value::Ip(self.file_server.into()),
            );
        describe_trailing(out, &self.trailing);
    }
}

/// One server of a [`ServerInformationReport`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerEntry {
    /// UDP port.
    pub port: u16,
    /// Action (1 = UNIStim connection).
    pub action: u8,
    /// Retry count.
    pub retry_count: u8,
    /// Fail-over server id.
    pub failover_id: u8,
    /// Address.
    pub address: Ipv4Addr,
}

/// Server Information Report (0x9E/0x0C): the primary server's id, then 9-byte entries. Startup frame 50
/// lists S1 = S2 = 131.253.0.203:5000, action 1, retry 3, then a third, all-zero entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInformationReport {
    /// Primary server id.
    pub primary_server_id: u8,
    /// The servers, in order (S1, S2, ...).
    pub servers: Vec<ServerEntry>,
    /// Bytes after the last whole entry (fewer than nine).
    pub trailing: Bytes,
}

impl Body for ServerInformationReport {
    fn decode(_command: u8, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let primary_server_id = r.u8("net.phone.primary.id")?;
        let mut servers = Vec::new();
        while r.left() >= 9 {
            servers.push(ServerEntry {
                port: r.u16_be("server.port")?,
                action: r.u8("server.action.byte")?,
                retry_count: r.u8("server.retry.count")?,
                failover_id: r.u8("server.failover.id")?,
                address: Ipv4Addr::read(r, "server.ip.address")?,
            });
        }
        Ok(Self {
            primary_server_id,
            servers,
            trailing: bytes_of(r.rest()),
        })
    }
    fn encode(&self, out: &mut BytesMut) {
        out.put_u8(self.primary_server_id);
        for s in &self.servers {
            out.put_u16(s.port);
            out.put_u8(s.action);
            out.put_u8(s.retry_count);
            out.put_u8(s.failover_id);
            out.put_slice(&s.address.octets());
        }
        out.put_slice(&self.trailing);
    }
    fn describe(&self, out: &mut Fields) {
        out.push("net.phone.primary.id", self.primary_server_id);
        let list = self
            .servers
            .iter()
            .map(|s| {
                let mut f = Fields::new();
                f.push("server.port", s.port)
                    .push("server.action.byte", s.action)
                    .push("server.retry.count", s.retry_count)
                    .push("server.failover.id", s.failover_id)
                    .push("server.ip.address", Value::Ip(s.address.into()));
                Value::Group(f)
            })
            .collect::<Vec<_>>();
        out.push("servers", list);
        describe_trailing(out, &self.trailing);
    }
}
