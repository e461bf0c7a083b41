//! Integration tests of the captures crate: real captures against tshark, synthetic captures made
//! with `captures::write`, and robustness against damaged input.

mod pcapng;
mod real;
mod robustness;
mod synthetic;
mod util;
