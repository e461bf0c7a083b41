//! End-to-end tests over loopback: Crossbar in-process on port 0, real peers (sipp) on the other side.

mod harness;
mod phones;
mod provisioning;
mod sccp_phones;
mod sccp_sipp;
mod sccp_storm;
mod sip;
mod ua;
mod unistim_gateway;
mod unistim_phones;
mod unistim_sipp;
