//! End-to-end tests of the built `crossbar` binary.

mod cli;
mod decode;
mod fleet;
mod media;
mod media_sipp;
mod render;
mod support;
mod ua;
