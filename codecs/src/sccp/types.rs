//! The field types SCCP bodies are built from, and the [`Wire`] trait that reads, writes and describes
//! each of them under a [`Ctx`].
//!
//! Integers are little-endian. Texts are NUL-padded fixed-width byte arrays ([`Text`], [`DirNum`] whose
//! width depends on the protocol version) or NUL-terminated variable strings ([`VarText`], in the
//! "dynamic" V2 messages). IP addresses are raw network-order bytes: four of them before protocol 17, a
//! 4-byte address type and 16 bytes from 17 on ([`IpField`]); `docs/protocols/sccp.md` §2.1 and §3.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::{BufMut, Bytes, BytesMut};

use super::Ctx;
use crate::fields::{Fields, Value};
use crate::wire::{DecodeError, Reader, put_padded};

/// A field type of SCCP bodies.
pub(crate) trait Wire: Sized {
    /// Whether a value could start with the bytes left: an optional tail is read only if so.
    fn fits(r: &Reader<'_>, ctx: Ctx) -> bool;
    /// Reads the field.
    fn read(r: &mut Reader<'_>, ctx: Ctx, field: &'static str) -> Result<Self, DecodeError>;
    /// Writes the field.
    fn write(&self, out: &mut BytesMut, ctx: Ctx);
    /// Appends the field's description under `name`.
    fn describe(&self, name: &'static str, out: &mut Fields);
}

impl Wire for u32 {
    fn fits(r: &Reader<'_>, _: Ctx) -> bool {
        r.left() >= 4
    }
    fn read(r: &mut Reader<'_>, _: Ctx, field: &'static str) -> Result<Self, DecodeError> {
        r.u32_le(field)
    }
    fn write(&self, out: &mut BytesMut, _: Ctx) {
        out.put_u32_le(*self);
    }
    fn describe(&self, name: &'static str, out: &mut Fields) {
        out.push(name, *self);
    }
}

impl Wire for i32 {
    fn fits(r: &Reader<'_>, _: Ctx) -> bool {
        r.left() >= 4
    }
    fn read(r: &mut Reader<'_>, _: Ctx, field: &'static str) -> Result<Self, DecodeError> {
        r.i32_le(field)
    }
    fn write(&self, out: &mut BytesMut, _: Ctx) {
        out.put_i32_le(*self);
    }
    fn describe(&self, name: &'static str, out: &mut Fields) {
        out.push(name, *self);
    }
}

impl Wire for u16 {
    fn fits(r: &Reader<'_>, _: Ctx) -> bool {
        r.left() >= 2
    }
    fn read(r: &mut Reader<'_>, _: Ctx, field: &'static str) -> Result<Self, DecodeError> {
        r.u16_le(field)
    }
    fn write(&self, out: &mut BytesMut, _: Ctx) {
        out.put_u16_le(*self);
    }
    fn describe(&self, name: &'static str, out: &mut Fields) {
        out.push(name, *self);
    }
}

impl Wire for u8 {
    fn fits(r: &Reader<'_>, _: Ctx) -> bool {
        r.left() >= 1
    }
    fn read(r: &mut Reader<'_>, _: Ctx, field: &'static str) -> Result<Self, DecodeError> {
        r.u8(field)
    }
    fn write(&self, out: &mut BytesMut, _: Ctx) {
        out.put_u8(*self);
    }
    fn describe(&self, name: &'static str, out: &mut Fields) {
        out.push(name, *self);
    }
}

/// An optional tail: read only if the body has bytes left for it, written only if present.
impl<T: Wire> Wire for Option<T> {
    fn fits(r: &Reader<'_>, ctx: Ctx) -> bool {
        T::fits(r, ctx)
    }
    fn read(r: &mut Reader<'_>, ctx: Ctx, field: &'static str) -> Result<Self, DecodeError> {
        if T::fits(r, ctx) {
            T::read(r, ctx, field).map(Some)
        } else {
            Ok(None)
        }
    }
    fn write(&self, out: &mut BytesMut, ctx: Ctx) {
        if let Some(v) = self {
            v.write(out, ctx);
        }
    }
    fn describe(&self, name: &'static str, out: &mut Fields) {
        if let Some(v) = self {
            v.describe(name, out);
        }
    }
}

/// A fixed number of raw bytes (keys, reserved areas), shown as hex.
impl<const N: usize> Wire for [u8; N] {
    fn fits(r: &Reader<'_>, _: Ctx) -> bool {
        r.left() >= N
    }
    fn read(r: &mut Reader<'_>, _: Ctx, field: &'static str) -> Result<Self, DecodeError> {
        r.array(field)
    }
    fn write(&self, out: &mut BytesMut, _: Ctx) {
        out.put_slice(self);
    }
    fn describe(&self, name: &'static str, out: &mut Fields) {
        out.push(name, self.to_vec());
    }
}

/// Text as the phone has it: bytes in the phone's code page (ISO-8859-1 unless it announced UTF-8), kept
/// exactly as received.
///
/// In a fixed-width field the text is what comes before the trailing NUL padding; anything after an
/// earlier NUL is kept too, so re-encoding reproduces the field. Encoding truncates to the field width.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Bytes0(Bytes);

impl Bytes0 {
    /// The text's bytes up to its first NUL.
    pub fn as_bytes(&self) -> &[u8] {
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(self.0.len());
        self.0.get(..end).unwrap_or_default()
    }

    /// All bytes kept, including any after a NUL.
    pub fn raw(&self) -> &[u8] {
        &self.0
    }

    /// The text: UTF-8 if it is valid UTF-8, else read as ISO-8859-1 (every byte a character).
    pub fn to_string_lossy(&self) -> String {
        let bytes = self.as_bytes();
        match std::str::from_utf8(bytes) {
            Ok(s) => s.to_owned(),
            Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
        }
    }

    fn from_field(raw: &[u8]) -> Self {
        let end = raw
            .iter()
            .rposition(|&b| b != 0)
            .map_or(0, |i| i.saturating_add(1));
        Self(Bytes::copy_from_slice(raw.get(..end).unwrap_or_default()))
    }
}

impl From<&str> for Bytes0 {
    fn from(s: &str) -> Self {
        Self(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl From<&[u8]> for Bytes0 {
    fn from(s: &[u8]) -> Self {
        Self(Bytes::copy_from_slice(s))
    }
}

impl std::fmt::Debug for Bytes0 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.to_string_lossy())
    }
}

/// A NUL-padded text in a field of exactly `N` bytes.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Text<const N: usize>(pub Bytes0);

impl<const N: usize> Text<N> {
    /// The text of a field as read from the wire (trailing NUL padding dropped).
    pub fn from_raw(raw: &[u8]) -> Self {
        Self(Bytes0::from_field(raw))
    }
    /// The text (see [`Bytes0::to_string_lossy`]).
    pub fn to_string_lossy(&self) -> String {
        self.0.to_string_lossy()
    }
    /// The text's bytes up to its first NUL.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl<const N: usize> From<&str> for Text<N> {
    fn from(s: &str) -> Self {
        Self(Bytes0::from(s))
    }
}

impl<const N: usize> std::fmt::Debug for Text<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<const N: usize> Wire for Text<N> {
    fn fits(r: &Reader<'_>, _: Ctx) -> bool {
        r.left() >= N
    }
    fn read(r: &mut Reader<'_>, _: Ctx, field: &'static str) -> Result<Self, DecodeError> {
        r.take(field, N).map(|raw| Self(Bytes0::from_field(raw)))
    }
    fn write(&self, out: &mut BytesMut, _: Ctx) {
        put_padded(out, self.0.raw(), N);
    }
    fn describe(&self, name: &'static str, out: &mut Fields) {
        out.push(name, self.to_string_lossy());
    }
}

/// A directory number: a NUL-padded text of 24 bytes before protocol 18 and 25 bytes from 18 on
/// (Wireshark's `VariableDirnumSize`).
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct DirNum(pub Bytes0);

impl DirNum {
    /// The field width under `ctx`.
    pub fn width(ctx: Ctx) -> usize {
        if ctx.version >= 18 { 25 } else { 24 }
    }
    /// The number (see [`Bytes0::to_string_lossy`]).
    pub fn to_string_lossy(&self) -> String {
        self.0.to_string_lossy()
    }
}

impl From<&str> for DirNum {
    fn from(s: &str) -> Self {
        Self(Bytes0::from(s))
    }
}

impl std::fmt::Debug for DirNum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl Wire for DirNum {
    fn fits(r: &Reader<'_>, ctx: Ctx) -> bool {
        r.left() >= Self::width(ctx)
    }
    fn read(r: &mut Reader<'_>, ctx: Ctx, field: &'static str) -> Result<Self, DecodeError> {
        r.take(field, Self::width(ctx))
            .map(|raw| Self(Bytes0::from_field(raw)))
    }
    fn write(&self, out: &mut BytesMut, ctx: Ctx) {
        put_padded(out, self.0.raw(), Self::width(ctx));
    }
    fn describe(&self, name: &'static str, out: &mut Fields) {
        out.push(name, self.to_string_lossy());
    }
}

/// A NUL-terminated text of variable length, as in the dynamic (V2) messages. A body that ends without
/// the NUL is read up to its end and re-encoded the same way.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct VarText {
    text: Bytes,
    unterminated: bool,
}

impl VarText {
    /// The text's bytes, without the terminating NUL.
    pub fn as_bytes(&self) -> &[u8] {
        &self.text
    }
    /// The text (UTF-8 if valid, else ISO-8859-1).
    pub fn to_string_lossy(&self) -> String {
        match std::str::from_utf8(&self.text) {
            Ok(s) => s.to_owned(),
            Err(_) => self.text.iter().map(|&b| char::from(b)).collect(),
        }
    }
    /// The bytes this text takes on the wire.
    pub fn wire_len(&self) -> usize {
        self.text
            .len()
            .saturating_add(usize::from(!self.unterminated))
    }
}

impl VarText {
    /// A text of these bytes (in the phone's code page; label codes such as `[0x80, 0x16]` included),
    /// up to any NUL.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        Self {
            text: Bytes::copy_from_slice(bytes.get(..end).unwrap_or_default()),
            unterminated: false,
        }
    }
}

impl From<&str> for VarText {
    fn from(s: &str) -> Self {
        // A NUL inside would end the text on the wire; keep what comes before it.
        let end = s.bytes().position(|b| b == 0).unwrap_or(s.len());
        Self {
            text: Bytes::copy_from_slice(s.as_bytes().get(..end).unwrap_or_default()),
            unterminated: false,
        }
    }
}

impl std::fmt::Debug for VarText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.to_string_lossy())
    }
}

impl Wire for VarText {
    fn fits(r: &Reader<'_>, _: Ctx) -> bool {
        !r.is_empty()
    }
    fn read(r: &mut Reader<'_>, _: Ctx, field: &'static str) -> Result<Self, DecodeError> {
        let rest = r.remaining();
        match rest.iter().position(|&b| b == 0) {
            Some(n) => {
                let text = r.take(field, n)?;
                r.take(field, 1)?;
                Ok(Self {
                    text: Bytes::copy_from_slice(text),
                    unterminated: false,
                })
            }
            None => Ok(Self {
                text: Bytes::copy_from_slice(r.rest()),
                unterminated: true,
            }),
        }
    }
    fn write(&self, out: &mut BytesMut, _: Ctx) {
        out.put_slice(&self.text);
        if !self.unterminated {
            out.put_u8(0);
        }
    }
    fn describe(&self, name: &'static str, out: &mut Fields) {
        out.push(name, self.to_string_lossy());
    }
}

/// An IP address field. Before protocol 17 it is four raw bytes (IPv4); from 17 on a little-endian
/// address type (0 IPv4, 1 IPv6, 2 both) and 16 raw bytes, an IPv4 address in the first four.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct IpField {
    /// The address type (0 from protocols before 17).
    pub kind: u32,
    /// The address bytes; only the first four exist before protocol 17.
    pub bytes: [u8; 16],
}

impl IpField {
    /// The address, as IPv6 when the type says so and IPv4 otherwise.
    pub fn ip(&self) -> IpAddr {
        if self.kind == 1 {
            IpAddr::V6(Ipv6Addr::from(self.bytes))
        } else {
            let [a, b, c, d, ..] = self.bytes;
            IpAddr::V4(Ipv4Addr::new(a, b, c, d))
        }
    }

    fn width(ctx: Ctx) -> usize {
        if ctx.version >= 17 { 20 } else { 4 }
    }
}

impl From<IpAddr> for IpField {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => {
                let mut bytes = [0; 16];
                for (dst, src) in bytes.iter_mut().zip(v4.octets()) {
                    *dst = src;
                }
                Self { kind: 0, bytes }
            }
            IpAddr::V6(v6) => Self {
                kind: 1,
                bytes: v6.octets(),
            },
        }
    }
}

impl std::fmt::Debug for IpField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.ip())
    }
}

impl Wire for IpField {
    fn fits(r: &Reader<'_>, ctx: Ctx) -> bool {
        r.left() >= Self::width(ctx)
    }
    fn read(r: &mut Reader<'_>, ctx: Ctx, field: &'static str) -> Result<Self, DecodeError> {
        let mut bytes = [0; 16];
        if ctx.version >= 17 {
            let kind = r.u32_le(field)?;
            bytes = r.array(field)?;
            Ok(Self { kind, bytes })
        } else {
            let v4: [u8; 4] = r.array(field)?;
            for (dst, src) in bytes.iter_mut().zip(v4) {
                *dst = src;
            }
            Ok(Self { kind: 0, bytes })
        }
    }
    fn write(&self, out: &mut BytesMut, ctx: Ctx) {
        if ctx.version >= 17 {
            out.put_u32_le(self.kind);
            out.put_slice(&self.bytes);
        } else {
            out.put_slice(self.bytes.get(..4).unwrap_or_default());
        }
    }
    fn describe(&self, name: &'static str, out: &mut Fields) {
        out.push(name, self.ip());
    }
}

/// A plain IPv4 address of four raw bytes, whatever the protocol version (RegisterReq stationIpAddr).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Ip4(pub [u8; 4]);

impl std::fmt::Debug for Ip4 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", Ipv4Addr::from(self.0))
    }
}

impl Wire for Ip4 {
    fn fits(r: &Reader<'_>, _: Ctx) -> bool {
        r.left() >= 4
    }
    fn read(r: &mut Reader<'_>, _: Ctx, field: &'static str) -> Result<Self, DecodeError> {
        r.array(field).map(Self)
    }
    fn write(&self, out: &mut BytesMut, _: Ctx) {
        out.put_slice(&self.0);
    }
    fn describe(&self, name: &'static str, out: &mut Fields) {
        out.push(name, IpAddr::V4(Ipv4Addr::from(self.0)));
    }
}

/// Describes a list of wire values as one field holding a list.
pub(crate) fn describe_list<T: Wire>(items: &[T], name: &'static str, out: &mut Fields) {
    let list = items
        .iter()
        .map(|item| {
            let mut f = Fields::new();
            item.describe(name, &mut f);
            let single = match f.iter().next() {
                Some((_, v)) if f.iter().count() == 1 => Some(v.clone()),
                _ => None,
            };
            single.unwrap_or(Value::Group(f))
        })
        .collect::<Vec<_>>();
    out.push(name, list);
}

/// Up to `MAX` entries read one after another for as long as the body has room (button, soft-key and
/// soft-key-set definitions, whose arrays are the last field of their message and may be sent short).
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Slots<T, const MAX: usize>(pub Vec<T>);

impl<T: std::fmt::Debug, const MAX: usize> std::fmt::Debug for Slots<T, MAX> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<T: Wire, const MAX: usize> Wire for Slots<T, MAX> {
    fn fits(_: &Reader<'_>, _: Ctx) -> bool {
        true
    }
    fn read(r: &mut Reader<'_>, ctx: Ctx, field: &'static str) -> Result<Self, DecodeError> {
        let mut items = Vec::new();
        while items.len() < MAX && T::fits(r, ctx) {
            items.push(T::read(r, ctx, field)?);
        }
        Ok(Self(items))
    }
    fn write(&self, out: &mut BytesMut, ctx: Ctx) {
        for item in self.0.iter().take(MAX) {
            item.write(out, ctx);
        }
    }
    fn describe(&self, name: &'static str, out: &mut Fields) {
        describe_list(&self.0, name, out);
    }
}

/// Exactly `count` entries (at most `MAX`, and no more than the body holds), for arrays whose count is
/// an earlier field (CapabilitiesRes caps).
pub(crate) fn read_counted<T: Wire>(
    r: &mut Reader<'_>,
    ctx: Ctx,
    field: &'static str,
    count: u32,
    max: usize,
) -> Result<Vec<T>, DecodeError> {
    let n = usize::try_from(count).unwrap_or(usize::MAX).min(max);
    let mut items = Vec::with_capacity(n);
    while items.len() < n && T::fits(r, ctx) {
        items.push(T::read(r, ctx, field)?);
    }
    Ok(items)
}
