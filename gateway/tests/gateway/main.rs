//! End-to-end tests of the built `crossbar` binary.

mod cli;
mod fleet;
mod support;
