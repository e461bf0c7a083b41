//! Declarative tables for open wire enumerations (rustls `enum_builder!`, quinn `frame_types!`).

/// An open enumeration of `u32` wire values: a newtype with one named const per known value and a name
/// table; any other value is kept as it is. `Debug` prints the name, or the number if it is unknown.
macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        $name:ident {
            $($konst:ident = $value:literal => $text:literal,)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub u32);

        impl $name {
            $(
                #[doc = concat!("`", $text, "` (", stringify!($value), ")")]
                pub const $konst: Self = Self($value);
            )*

            /// Every named value, in table order.
            pub const ALL: &'static [Self] = &[$(Self::$konst),*];

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
                    None => write!(f, "{}({})", stringify!($name), self.0),
                }
            }
        }

        impl From<u32> for $name {
            fn from(v: u32) -> Self {
                Self(v)
            }
        }

        impl From<$name> for u32 {
            fn from(v: $name) -> Self {
                v.0
            }
        }

        impl From<$name> for $crate::fields::Value {
            fn from(v: $name) -> Self {
                $crate::fields::Value::Enum(u64::from(v.0), v.name())
            }
        }
    };
}

pub(crate) use open_enum;
