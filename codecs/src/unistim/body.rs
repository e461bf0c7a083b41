//! The machinery every UNIStim command body shares: the [`Body`] and [`Field`] traits, the helper body
//! types ([`Empty`], [`Opaque`], [`Text`]) and the declarative tables (`open_u8!`, `fixed!`,
//! `manager!`) that the per-manager files in `msg/` are written with.
//!
//! A body is the data after the command byte of one message (unistim.md §3.1). Decoding reads it
//! through the crate's bounds-checked [`Reader`] and must consume all of it: fixed layouts keep any
//! bytes after the documented fields in a `trailing` field, so re-encoding reproduces the message.

use std::borrow::Cow;
use std::net::Ipv4Addr;

use bytes::{BufMut, Bytes, BytesMut};

use crate::fields::{Fields, Value};
use crate::wire::{DecodeError, Reader, bytes_of};

/// A command body: decoded from the bytes after the command byte and encoded back to exactly them.
pub(crate) trait Body: Sized {
    /// Decodes the whole body (the reader holds exactly the message's data).
    fn decode(command: u8, r: &mut Reader<'_>) -> Result<Self, DecodeError>;
    /// Appends the body's bytes.
    fn encode(&self, out: &mut BytesMut);
    /// Appends the body's fields.
    fn describe(&self, out: &mut Fields);
    /// The command byte, for bodies whose command carries flags (Display Data Write 0x18-0x1F).
    fn command_override(&self) -> Option<u8> {
        None
    }
}

/// One field of a fixed layout.
pub(crate) trait Field: Sized {
    fn read(r: &mut Reader<'_>, name: &'static str) -> Result<Self, DecodeError>;
    fn write(&self, out: &mut BytesMut);
    fn value(&self) -> Value;
}

impl Field for u8 {
    fn read(r: &mut Reader<'_>, name: &'static str) -> Result<Self, DecodeError> {
        r.u8(name)
    }
    fn write(&self, out: &mut BytesMut) {
        out.put_u8(*self);
    }
    fn value(&self) -> Value {
        Value::U(u64::from(*self))
    }
}

impl Field for u16 {
    fn read(r: &mut Reader<'_>, name: &'static str) -> Result<Self, DecodeError> {
        r.u16_be(name)
    }
    fn write(&self, out: &mut BytesMut) {
        out.put_u16(*self);
    }
    fn value(&self) -> Value {
        Value::U(u64::from(*self))
    }
}

impl Field for u32 {
    fn read(r: &mut Reader<'_>, name: &'static str) -> Result<Self, DecodeError> {
        r.u32_be(name)
    }
    fn write(&self, out: &mut BytesMut) {
        out.put_u32(*self);
    }
    fn value(&self) -> Value {
        Value::U(u64::from(*self))
    }
}

impl Field for Ipv4Addr {
    fn read(r: &mut Reader<'_>, name: &'static str) -> Result<Self, DecodeError> {
        r.array::<4>(name).map(Self::from)
    }
    fn write(&self, out: &mut BytesMut) {
        out.put_slice(&self.octets());
    }
    fn value(&self) -> Value {
        Value::Ip((*self).into())
    }
}

impl<const N: usize> Field for [u8; N] {
    fn read(r: &mut Reader<'_>, name: &'static str) -> Result<Self, DecodeError> {
        r.array::<N>(name)
    }
    fn write(&self, out: &mut BytesMut) {
        out.put_slice(self);
    }
    fn value(&self) -> Value {
        Value::Bytes(self.to_vec())
    }
}

/// A `Bytes` field takes everything left in the body.
impl Field for Bytes {
    fn read(r: &mut Reader<'_>, _name: &'static str) -> Result<Self, DecodeError> {
        Ok(bytes_of(r.rest()))
    }
    fn write(&self, out: &mut BytesMut) {
        out.put_slice(self);
    }
    fn value(&self) -> Value {
        Value::Bytes(self.to_vec())
    }
}

/// Text as the phone shows it: the wire's bytes kept exactly (the phones use 8-bit character tables
/// selected by Set Default Character Table, so the bytes are not necessarily UTF-8). As a field of a
/// fixed layout it takes everything left in the body.
#[derive(Clone, PartialEq, Eq, Default, Hash)]
pub struct Text(pub Bytes);

impl Text {
    /// Text from a string's bytes.
    pub fn new(s: impl Into<Bytes>) -> Self {
        Self(s.into())
    }

    /// The text, with bytes that are not UTF-8 replaced.
    pub fn to_str_lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.to_str_lossy())
    }
}

impl From<&'static str> for Text {
    fn from(s: &'static str) -> Self {
        Self(Bytes::from_static(s.as_bytes()))
    }
}

impl Field for Text {
    fn read(r: &mut Reader<'_>, _name: &'static str) -> Result<Self, DecodeError> {
        Ok(Self(bytes_of(r.rest())))
    }
    fn write(&self, out: &mut BytesMut) {
        out.put_slice(&self.0);
    }
    fn value(&self) -> Value {
        Value::Str(self.to_str_lossy().into_owned())
    }
}

/// A command without data (WS marks these "length = 3"). Bytes that follow anyway are kept.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Empty {
    /// Bytes after the command byte, normally none.
    pub trailing: Bytes,
}

impl Body for Empty {
    fn decode(_command: u8, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            trailing: bytes_of(r.rest()),
        })
    }
    fn encode(&self, out: &mut BytesMut) {
        out.put_slice(&self.trailing);
    }
    fn describe(&self, out: &mut Fields) {
        if !self.trailing.is_empty() {
            out.push("generic.data", self.trailing.to_vec());
        }
    }
}

/// A command whose layout Wireshark does not break down (it shows the data as `generic.data`), kept as
/// its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Opaque {
    /// The data after the command byte.
    pub data: Bytes,
}

impl Opaque {
    /// An opaque body holding these bytes.
    pub fn new(data: impl Into<Bytes>) -> Self {
        Self { data: data.into() }
    }
}

impl Body for Opaque {
    fn decode(_command: u8, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            data: bytes_of(r.rest()),
        })
    }
    fn encode(&self, out: &mut BytesMut) {
        out.put_slice(&self.data);
    }
    fn describe(&self, out: &mut Fields) {
        out.push("generic.data", self.data.to_vec());
    }
}

impl Body for Text {
    fn decode(_command: u8, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self(bytes_of(r.rest())))
    }
    fn encode(&self, out: &mut BytesMut) {
        out.put_slice(&self.0);
    }
    fn describe(&self, out: &mut Fields) {
        out.push("generic.string_data", self.value());
    }
}

/// Appends `trailing` as a field if it is not empty.
pub(crate) fn describe_trailing(out: &mut Fields, trailing: &Bytes) {
    if !trailing.is_empty() {
        out.push("trailing", trailing.to_vec());
    }
}

/// An open enumeration of one-byte wire values: a newtype with named consts and a name table; any
/// other value is kept. `Debug` prints the name, or the number if unknown.
macro_rules! open_u8 {
    (
        $(#[$meta:meta])*
        $name:ident {
            $($konst:ident = $value:literal => $text:literal,)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub u8);

        impl $name {
            $(
                #[doc = concat!("\"", $text, "\" (", stringify!($value), ")")]
                pub const $konst: Self = Self($value);
            )*

            /// The value's name, if it is a known one.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($value => Some($text),)*
                    _ => None,
                }
            }
        }

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                match self.name() {
                    Some(name) => f.write_str(name),
                    None => write!(f, "{}({:#04x})", stringify!($name), self.0),
                }
            }
        }

        impl From<$name> for $crate::fields::Value {
            fn from(v: $name) -> Self {
                $crate::fields::Value::Enum(u64::from(v.0), v.name())
            }
        }

        impl $crate::unistim::body::Field for $name {
            fn read(
                r: &mut $crate::wire::Reader<'_>,
                name: &'static str,
            ) -> Result<Self, $crate::wire::DecodeError> {
                r.u8(name).map(Self)
            }
            fn write(&self, out: &mut ::bytes::BytesMut) {
                ::bytes::BufMut::put_u8(out, self.0);
            }
            fn value(&self) -> $crate::fields::Value {
                (*self).into()
            }
        }
    };
}
pub(crate) use open_u8;

/// A fixed layout: named fields read in order, then whatever is left kept as `trailing`. Generates the
/// struct, a `new` constructor (with empty `trailing`) and its [`Body`] impl; each field is given with
/// the Wireshark field name (minus `unistim.`) it is described under.
macro_rules! fixed {
    (
        $(#[$meta:meta])*
        $name:ident {
            $($(#[$fmeta:meta])* $field:ident: $ty:ty => $ws:literal,)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
            /// Bytes after the documented layout (later firmware may append fields), kept so that
            /// re-encoding reproduces the message.
            pub trailing: ::bytes::Bytes,
        }

        impl $name {
            /// The message with these fields and nothing trailing.
            #[allow(clippy::too_many_arguments)]
            pub fn new($($field: $ty),*) -> Self {
                Self { $($field,)* trailing: ::bytes::Bytes::new() }
            }
        }

        impl $crate::unistim::body::Body for $name {
            fn decode(
                _command: u8,
                r: &mut $crate::wire::Reader<'_>,
            ) -> Result<Self, $crate::wire::DecodeError> {
                Ok(Self {
                    $($field: <$ty as $crate::unistim::body::Field>::read(r, $ws)?,)*
                    trailing: $crate::wire::bytes_of(r.rest()),
                })
            }
            fn encode(&self, out: &mut ::bytes::BytesMut) {
                $($crate::unistim::body::Field::write(&self.$field, out);)*
                ::bytes::BufMut::put_slice(out, &self.trailing);
            }
            fn describe(&self, out: &mut $crate::fields::Fields) {
                $(out.push($ws, $crate::unistim::body::Field::value(&self.$field));)*
                $crate::unistim::body::describe_trailing(out, &self.trailing);
            }
        }
    };
}
pub(crate) use fixed;

/// One manager's command table in one direction: an enum with a variant per typed command plus
/// `Unknown { command, body }`, the command byte and Wireshark name of each, decode by command byte,
/// encode and [`Describe`](crate::Describe). An entry may cover a range of command bytes when the
/// command carries flags (its body then reports the exact byte through `command_override`).
macro_rules! manager {
    (
        $(#[$meta:meta])*
        $name:ident => $wsfield:literal {
            $($(#[$vmeta:meta])* $id:literal $(..= $hi:literal)? => $var:ident($ty:ty) = $label:literal,)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vmeta])* $var($ty),)*
            /// A command this table does not type, kept as its bytes.
            Unknown {
                /// The command byte.
                command: u8,
                /// The data after the command byte.
                body: ::bytes::Bytes,
            },
        }

        impl $name {
            /// The Wireshark field (minus `unistim.`) that carries this table's command byte.
            pub const COMMAND_FIELD: &'static str = $wsfield;

            /// The command byte.
            pub fn command(&self) -> u8 {
                match self {
                    $(Self::$var(b) => {
                        $crate::unistim::body::Body::command_override(b).unwrap_or($id)
                    })*
                    Self::Unknown { command, .. } => *command,
                }
            }

            /// Wireshark's name for a command byte of this table, if it has one.
            pub fn name_of(command: u8) -> Option<&'static str> {
                match command {
                    $($id $(..= $hi)? => Some($label),)*
                    _ => None,
                }
            }

            /// Wireshark's name for this command ("Unknown" for an untyped command).
            pub fn name(&self) -> &'static str {
                match self {
                    $(Self::$var(_) => $label,)*
                    Self::Unknown { command, .. } => Self::name_of(*command).unwrap_or("Unknown"),
                }
            }

            /// Decodes the body of `command`.
            pub(crate) fn decode(command: u8, body: &[u8]) -> Result<Self, $crate::wire::DecodeError> {
                let mut r = $crate::wire::Reader::new(body);
                Ok(match command {
                    $($id $(..= $hi)? => {
                        Self::$var(<$ty as $crate::unistim::body::Body>::decode(command, &mut r)?)
                    })*
                    _ => Self::Unknown { command, body: $crate::wire::bytes_of(body) },
                })
            }

            /// Appends the body (the bytes after the command byte).
            pub(crate) fn encode_body(&self, out: &mut ::bytes::BytesMut) {
                match self {
                    $(Self::$var(b) => $crate::unistim::body::Body::encode(b, out),)*
                    Self::Unknown { body, .. } => ::bytes::BufMut::put_slice(out, body),
                }
            }
        }

        impl $crate::fields::Describe for $name {
            fn describe(&self, out: &mut $crate::fields::Fields) {
                match self {
                    $(Self::$var(b) => $crate::unistim::body::Body::describe(b, out),)*
                    Self::Unknown { body, .. } => {
                        out.push("generic.data", body.to_vec());
                    }
                }
            }
        }
    };
}
pub(crate) use manager;
