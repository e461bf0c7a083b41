//! Request methods (RFC 3261 §7.1, §27.4): an open set, so extension methods such as RFC 4475's
//! `!interesting-Method0123456789_*+`.%indeed'~` survive parsing and can be answered 405/501.

use std::borrow::Cow;
use std::fmt;

use super::error::{ParseError, bad};
use super::lex::is_token;

/// A SIP method. Method names are case-sensitive (RFC 3261 §7.1), so `invite` is an extension
/// method, not INVITE. Well-known methods are constants and parsing maps to them without allocating.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Method(Cow<'static, str>);

macro_rules! methods {
    ($($name:ident => $text:literal, $doc:literal;)*) => {
        impl Method {
            $(#[doc = $doc] pub const $name: Self = Self(Cow::Borrowed($text));)*
        }
        const KNOWN: &[Method] = &[$(Method::$name),*];
    };
}

methods! {
    INVITE => "INVITE", "INVITE (RFC 3261 §13): establishes a session.";
    ACK => "ACK", "ACK (RFC 3261 §17.1.1.3, §13.2.2.4): acknowledges a final response to INVITE.";
    BYE => "BYE", "BYE (RFC 3261 §15.1): ends a dialog.";
    CANCEL => "CANCEL", "CANCEL (RFC 3261 §9): cancels a pending request.";
    REGISTER => "REGISTER", "REGISTER (RFC 3261 §10): binds contacts to an address of record.";
    OPTIONS => "OPTIONS", "OPTIONS (RFC 3261 §11): capability query.";
    INFO => "INFO", "INFO (RFC 6086): mid-dialog application information.";
    REFER => "REFER", "REFER (RFC 3515): asks the recipient to issue a request.";
    SUBSCRIBE => "SUBSCRIBE", "SUBSCRIBE (RFC 6665): requests event notifications.";
    NOTIFY => "NOTIFY", "NOTIFY (RFC 6665): delivers an event notification.";
    PUBLISH => "PUBLISH", "PUBLISH (RFC 3903): publishes event state.";
    MESSAGE => "MESSAGE", "MESSAGE (RFC 3428): instant message.";
    PRACK => "PRACK", "PRACK (RFC 3262): acknowledges a reliable provisional response.";
    UPDATE => "UPDATE", "UPDATE (RFC 3311): updates session parameters before the final response.";
}

impl Method {
    /// Parses a method token (RFC 3261 §25.1 `Method = INVITEm / ... / extension-method`).
    ///
    /// # Errors
    /// [`ParseError::Value`] if `s` is not a non-empty token.
    pub fn new(s: &str) -> Result<Self, ParseError> {
        if !is_token(s) {
            return Err(bad("method is not a token"));
        }
        Ok(KNOWN
            .iter()
            .find(|m| m.as_str() == s)
            .cloned()
            .unwrap_or_else(|| Self(Cow::Owned(s.to_owned()))))
    }

    /// The method name exactly as on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Method {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        Self::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_and_extension() {
        assert_eq!(Method::new("INVITE"), Ok(Method::INVITE));
        assert!(matches!(
            Method::new("INVITE").map(|m| m.0),
            Ok(Cow::Borrowed(_))
        ));
        assert_ne!(Method::new("invite"), Ok(Method::INVITE));
        let odd = "!interesting-Method0123456789_*+`.%indeed'~";
        assert_eq!(Method::new(odd).map(|m| m.to_string()), Ok(odd.to_owned()));
        assert!(Method::new("BAD METHOD").is_err());
        assert!(Method::new("").is_err());
    }
}
