//! End-to-end tests of the built `crossbar` binary.

mod cli;
mod decode;
mod fleet;
mod render;
mod support;
