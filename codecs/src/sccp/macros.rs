//! The declarative shapes SCCP message bodies are written in.

/// A message body as a sequence of [`Wire`](super::types::Wire) fields in wire order, with the bytes after
/// them kept in `trailing`. Each field names its Wireshark field (`"lineInstance"`), which is also the
/// name [`Describe`](crate::Describe) gives it. `Option<T>` fields are optional tails: read only if the
/// body has room, so they must come after every required field.
macro_rules! body {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty => $wire:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
            /// Bytes after the fields this layout knows, kept so that re-encoding reproduces the body.
            pub trailing: ::bytes::Bytes,
        }

        impl $name {
            #[allow(unused_variables)]
            pub(crate) fn decode_body(
                r: &mut $crate::wire::Reader<'_>,
                ctx: $crate::sccp::Ctx,
            ) -> Result<Self, $crate::wire::DecodeError> {
                Ok(Self {
                    $( $field: $crate::sccp::types::Wire::read(r, ctx, $wire)?, )*
                    trailing: $crate::wire::bytes_of(r.rest()),
                })
            }

            #[allow(unused_variables)]
            pub(crate) fn encode_body(&self, out: &mut ::bytes::BytesMut, ctx: $crate::sccp::Ctx) {
                $( $crate::sccp::types::Wire::write(&self.$field, out, ctx); )*
                ::bytes::BufMut::put_slice(out, &self.trailing);
            }
        }

        impl $crate::fields::Describe for $name {
            #[allow(unused_variables)]
            fn describe(&self, out: &mut $crate::fields::Fields) {
                $( $crate::sccp::types::Wire::describe(&self.$field, $wire, out); )*
                if !self.trailing.is_empty() {
                    out.push("trailing", self.trailing.to_vec());
                }
            }
        }
    };
}

/// `Wire` for open enumerations carried as little-endian u32.
macro_rules! wire_u32_enum {
    ($($t:ty),* $(,)?) => {
        $(impl $crate::sccp::types::Wire for $t {
            fn fits(r: &$crate::wire::Reader<'_>, _: $crate::sccp::Ctx) -> bool {
                r.left() >= 4
            }
            fn read(
                r: &mut $crate::wire::Reader<'_>,
                _: $crate::sccp::Ctx,
                field: &'static str,
            ) -> Result<Self, $crate::wire::DecodeError> {
                r.u32_le(field).map(Self)
            }
            fn write(&self, out: &mut ::bytes::BytesMut, _: $crate::sccp::Ctx) {
                ::bytes::BufMut::put_u32_le(out, self.0);
            }
            fn describe(&self, name: &'static str, out: &mut $crate::fields::Fields) {
                out.push(name, *self);
            }
        })*
    };
}

/// A fixed-size record nested in a body (an array entry such as a capability or a button definition):
/// [`Wire`](super::types::Wire) fields in order, `$size` bytes in all, described as one group.
macro_rules! record {
    (
        $(#[$meta:meta])*
        $name:ident [$size:expr] {
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty => $wire:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl $crate::sccp::types::Wire for $name {
            fn fits(r: &$crate::wire::Reader<'_>, _: $crate::sccp::Ctx) -> bool {
                r.left() >= $size
            }
            fn read(
                r: &mut $crate::wire::Reader<'_>,
                ctx: $crate::sccp::Ctx,
                _: &'static str,
            ) -> Result<Self, $crate::wire::DecodeError> {
                Ok(Self { $( $field: $crate::sccp::types::Wire::read(r, ctx, $wire)?, )* })
            }
            fn write(&self, out: &mut ::bytes::BytesMut, ctx: $crate::sccp::Ctx) {
                $( $crate::sccp::types::Wire::write(&self.$field, out, ctx); )*
            }
            fn describe(&self, name: &'static str, out: &mut $crate::fields::Fields) {
                let mut group = $crate::fields::Fields::new();
                $( $crate::sccp::types::Wire::describe(&self.$field, $wire, &mut group); )*
                out.push(name, group);
            }
        }
    };
}

pub(crate) use {body, record, wire_u32_enum};
