//! End-to-end tests of the built `crossbar` binary, and of the gateway library's SCCP side.

mod call;
mod cli;
mod decode;
mod fleet;
mod media;
mod media_sipp;
mod render;
mod sccp;
mod support;
mod ua;
mod unistim;
