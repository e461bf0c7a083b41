//! `crossbar decode FILE [--json]`: every SCCP and UNIStim message of a capture, reassembled, with the
//! frame it completes in (numbered as tshark numbers frames), its time, endpoints, id, name and fields.
//!
//! SCCP is looked for on TCP port 2000 and on any other TCP stream whose first bytes frame as SCCP;
//! UNIStim on the UDP ports given (5000 by default). Text output is one line per message; `--json` one
//! object per line with the keys `frame, ts, src, dst, proto, id, name, fields` (SCCP `id` is the numeric
//! message id, UNIStim's is `"0xAA/0xCC"`, address and command, or null for a bare ACK or NAK).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write;
use std::net::SocketAddr;

use codecs::sccp::stream::{self, Conversation, Event, Side};
use codecs::{Describe, Fields, Value, unistim};

/// The well-known SCCP port.
pub const SCCP_PORT: u16 = 2000;

/// What to decode and how to print it.
#[derive(Debug, Clone)]
pub struct Options {
    /// One JSON object per line instead of text.
    pub json: bool,
    /// UDP ports carrying UNIStim.
    pub unistim_ports: Vec<u16>,
}

/// Counts of what was printed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// SCCP messages.
    pub sccp: usize,
    /// UNIStim messages (and bare ACK/NAK datagrams).
    pub unistim: usize,
    /// Messages or datagrams that did not decode.
    pub malformed: usize,
    /// Streams that stopped framing (after an impossible length).
    pub unframeable: usize,
}

/// One decoded record, before printing.
#[derive(Debug, Clone)]
struct Record {
    frame: u64,
    ts: captures::Timestamp,
    src: SocketAddr,
    dst: SocketAddr,
    proto: &'static str,
    id: Id,
    name: String,
    fields: Fields,
}

#[derive(Debug, Clone)]
enum Id {
    Number(u32),
    Text(String),
    None,
}

#[derive(Default)]
struct TcpStreams {
    /// Connections known to carry SCCP, keyed by (client, server).
    sccp: HashMap<(SocketAddr, SocketAddr), Conversation>,
    /// Connections looked at and found not to be SCCP.
    other: std::collections::HashSet<(SocketAddr, SocketAddr)>,
}

impl TcpStreams {
    /// The conversation and side for a payload, deciding on first sight whether a stream is SCCP.
    fn classify(
        &mut self,
        src: SocketAddr,
        dst: SocketAddr,
        data: &[u8],
    ) -> Option<(&mut Conversation, Side)> {
        let (key, side) = if dst.port() == SCCP_PORT {
            ((src, dst), Side::Client)
        } else if src.port() == SCCP_PORT {
            ((dst, src), Side::Server)
        } else if self.sccp.contains_key(&(src, dst)) {
            ((src, dst), Side::Client)
        } else if self.sccp.contains_key(&(dst, src)) {
            ((dst, src), Side::Server)
        } else {
            // Another port: SCCP only if its first bytes frame as SCCP; the first sender is the client.
            if self.other.contains(&(src, dst)) || self.other.contains(&(dst, src)) {
                return None;
            }
            if !stream::looks_like_sccp(data) {
                self.other.insert((src, dst));
                return None;
            }
            ((src, dst), Side::Client)
        };
        Some((self.sccp.entry(key).or_default(), side))
    }
}

/// Decodes a capture and writes every message to `out`.
///
/// # Errors
///
/// An I/O error writing `out`.
pub fn decode(
    capture: &captures::Capture,
    options: &Options,
    out: &mut impl Write,
) -> std::io::Result<Summary> {
    let mut summary = Summary::default();
    let mut tcp = TcpStreams::default();
    let mut line = String::new();
    for payload in captures::payloads(capture) {
        let mut records = Vec::new();
        match payload.proto {
            captures::Proto::Tcp => {
                let Some((conv, side)) = tcp.classify(payload.src, payload.dst, &payload.data)
                else {
                    continue;
                };
                for event in conv.push(side, &payload.data, payload.gap > 0) {
                    match event {
                        Event::Message(d) => {
                            summary.sccp += 1;
                            let (name, fields) = match &d.message {
                                Ok(m) => (m.name().to_owned(), Fields::of(m)),
                                Err(e) => {
                                    summary.malformed += 1;
                                    let mut f = Fields::new();
                                    f.push("error", e.error.to_string())
                                        .push("body", d.raw.body.to_vec());
                                    (d.raw.id.name().unwrap_or("Unknown").to_owned(), f)
                                }
                            };
                            let mut fields_with_header = Fields::new();
                            fields_with_header.push("hdr_version", d.raw.header_version);
                            for (k, v) in fields.iter() {
                                fields_with_header.push(k, v.clone());
                            }
                            records.push(Record {
                                frame: payload.frame,
                                ts: payload.ts,
                                src: payload.src,
                                dst: payload.dst,
                                proto: "sccp",
                                id: Id::Number(d.raw.id.0),
                                name,
                                fields: fields_with_header,
                            });
                        }
                        Event::Unframeable { .. } => summary.unframeable += 1,
                    }
                }
            }
            captures::Proto::Udp => {
                let is_unistim = options
                    .unistim_ports
                    .iter()
                    .any(|p| *p == payload.src.port() || *p == payload.dst.port());
                if !is_unistim {
                    continue;
                }
                unistim_records(&payload, &mut records, &mut summary);
            }
            _ => continue,
        }
        for record in records {
            line.clear();
            if options.json {
                write_json(&record, &mut line);
            } else {
                write_text(&record, &mut line);
            }
            line.push('\n');
            out.write_all(line.as_bytes())?;
        }
    }
    Ok(summary)
}

fn unistim_records(payload: &captures::Payload, records: &mut Vec<Record>, summary: &mut Summary) {
    let base = |id: Id, name: String, fields: Fields| Record {
        frame: payload.frame,
        ts: payload.ts,
        src: payload.src,
        dst: payload.dst,
        proto: "unistim",
        id,
        name,
        fields,
    };
    let datagram = match unistim::Datagram::decode(&payload.data) {
        Ok(d) => d,
        Err(e) => {
            summary.unistim += 1;
            summary.malformed += 1;
            let mut f = Fields::new();
            f.push("error", e.to_string())
                .push("data", payload.data.clone());
            records.push(base(Id::None, "Malformed".to_owned(), f));
            return;
        }
    };
    let mut rudp = Fields::new();
    datagram.header.describe(&mut rudp);
    if datagram.messages.is_empty() {
        summary.unistim += 1;
        let mut f = rudp;
        if let Some(u) = &datagram.uftp {
            u.describe(&mut f);
        }
        let name = format!("RUDP {:?}", datagram.header.packet_type());
        records.push(base(Id::None, name, f));
        return;
    }
    for message in &datagram.messages {
        summary.unistim += 1;
        if datagram.has_malformed() {
            summary.malformed += usize::from(matches!(message, unistim::Message::Malformed { .. }));
        }
        let mut fields = rudp.clone();
        for (k, v) in Fields::of(message).iter() {
            fields.push(k, v.clone());
        }
        let id = Id::Text(format!(
            "{:#04x}/{:#04x}",
            message.address(),
            message.command()
        ));
        records.push(base(id, message.name().to_owned(), fields));
    }
}

fn write_text(r: &Record, out: &mut String) {
    let id = match &r.id {
        Id::Number(n) => format!("{n:#06x}"),
        Id::Text(t) => t.clone(),
        Id::None => "-".to_owned(),
    };
    let _ = write!(
        out,
        "{} {} {} -> {} {} {id} {} {}",
        r.frame, r.ts, r.src, r.dst, r.proto, r.name, r.fields
    );
}

fn write_json(r: &Record, out: &mut String) {
    let _ = write!(out, "{{\"frame\":{},\"ts\":{},\"src\":", r.frame, r.ts);
    json_str(&r.src.to_string(), out);
    out.push_str(",\"dst\":");
    json_str(&r.dst.to_string(), out);
    let _ = write!(out, ",\"proto\":\"{}\",\"id\":", r.proto);
    match &r.id {
        Id::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Id::Text(t) => json_str(t, out),
        Id::None => out.push_str("null"),
    }
    out.push_str(",\"name\":");
    json_str(&r.name, out);
    out.push_str(",\"fields\":");
    json_fields(&r.fields, out);
    out.push('}');
}

fn json_fields(fields: &Fields, out: &mut String) {
    out.push('{');
    // A name seen twice in one group gets a numeric suffix, so no key is lost.
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let n = seen.entry(k).or_insert(0);
        *n += 1;
        if *n == 1 {
            json_str(k, out);
        } else {
            json_str(&format!("{k}_{n}"), out);
        }
        out.push(':');
        json_value(v, out);
    }
    out.push('}');
}

fn json_value(v: &Value, out: &mut String) {
    match v {
        Value::U(n) => {
            let _ = write!(out, "{n}");
        }
        Value::I(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Enum(n, _) => {
            let _ = write!(out, "{n}");
        }
        Value::Str(s) => json_str(s, out),
        Value::Bytes(b) => {
            out.push('"');
            b.iter().for_each(|x| {
                let _ = write!(out, "{x:02x}");
            });
            out.push('"');
        }
        Value::Ip(ip) => json_str(&ip.to_string(), out),
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_value(item, out);
            }
            out.push(']');
        }
        Value::Group(g) => json_fields(g, out),
        other => json_str(&other.to_string(), out),
    }
}

fn json_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || ('\u{7f}'..='\u{9f}').contains(&c) => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_escapes_control_and_label_bytes() {
        let mut s = String::new();
        json_str("a\"b\\\n\u{80}\u{16}é", &mut s);
        assert_eq!(s, r#""a\"b\\\n\u0080\u0016é""#);
    }
}
