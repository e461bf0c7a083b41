//! A protocol-neutral description of a decoded message's fields, for `crossbar decode` and for tests that
//! compare our decoding with Wireshark's.
//!
//! Every typed message implements [`Describe`]; field names follow Wireshark's dissector field names where
//! it has one (`lineInstance`, `callReference`, `deviceName` for SCCP), so a decoded message can be compared
//! with `tshark -T fields` output key by key.

use std::fmt;
use std::net::IpAddr;

/// One field's value.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Value {
    /// An unsigned integer.
    U(u64),
    /// A signed integer.
    I(i64),
    /// A text (decoded leniently from the wire's bytes).
    Str(String),
    /// Raw bytes, shown as hex.
    Bytes(Vec<u8>),
    /// An IP address.
    Ip(IpAddr),
    /// A named value of an enumeration: the number and, where known, its name.
    Enum(u64, Option<&'static str>),
    /// A list of values.
    List(Vec<Self>),
    /// A nested group of fields.
    Group(Fields),
}

/// An ordered list of named fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields(Vec<(&'static str, Value)>);

impl Fields {
    /// No fields.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a field.
    pub fn push(&mut self, name: &'static str, value: impl Into<Value>) -> &mut Self {
        self.0.push((name, value.into()));
        self
    }

    /// Appends a field holding an enumeration value with its name.
    pub fn push_enum(
        &mut self,
        name: &'static str,
        value: u64,
        label: Option<&'static str>,
    ) -> &mut Self {
        self.push(name, Value::Enum(value, label))
    }

    /// The fields in order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &Value)> {
        self.0.iter().map(|(k, v)| (*k, v))
    }

    /// The first field of that name.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| *k == name).map(|(_, v)| v)
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The fields of a [`Describe`] value.
    pub fn of(value: &impl Describe) -> Self {
        let mut out = Self::new();
        value.describe(&mut out);
        out
    }
}

/// A value that can list its fields.
pub trait Describe {
    /// Appends this value's fields, in wire order.
    fn describe(&self, out: &mut Fields);
}

macro_rules! value_from {
    ($($t:ty => $v:ident),* $(,)?) => {
        $(impl From<$t> for Value {
            fn from(x: $t) -> Self {
                Self::$v(x.into())
            }
        })*
    };
}
value_from!(u8 => U, u16 => U, u32 => U, u64 => U, i8 => I, i16 => I, i32 => I, i64 => I, String => Str, &str => Str,
    IpAddr => Ip, Vec<u8> => Bytes, Fields => Group);

impl From<Vec<Self>> for Value {
    fn from(x: Vec<Self>) -> Self {
        Self::List(x)
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::U(n) => write!(f, "{n}"),
            Self::I(n) => write!(f, "{n}"),
            Self::Str(s) => write!(f, "{s:?}"),
            Self::Bytes(b) => {
                f.write_str("0x")?;
                b.iter().try_for_each(|x| write!(f, "{x:02x}"))
            }
            Self::Ip(ip) => write!(f, "{ip}"),
            Self::Enum(n, Some(name)) => write!(f, "{name}({n})"),
            Self::Enum(n, None) => write!(f, "{n}"),
            Self::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Self::Group(fields) => write!(f, "{{{fields}}}"),
        }
    }
}

impl fmt::Display for Fields {
    /// `name=value` pairs separated by spaces.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{k}={v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_compact_and_typed() {
        let mut inner = Fields::new();
        inner.push("a", 1u8);
        let mut f = Fields::new();
        f.push("n", 7u32)
            .push("s", "SEP00")
            .push_enum("tone", 0x21, Some("InsideDialTone"))
            .push("raw", vec![0xde, 0xad])
            .push("l", vec![Value::U(1), Value::U(2)])
            .push("g", inner);
        assert_eq!(
            f.to_string(),
            r#"n=7 s="SEP00" tone=InsideDialTone(33) raw=0xdead l=[1, 2] g={a=1}"#
        );
        assert_eq!(f.get("n"), Some(&Value::U(7)));
    }
}
