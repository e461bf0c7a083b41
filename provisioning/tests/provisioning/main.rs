//! Integration tests of the provisioning crate: the store suite on both backends, bulk import, rendering,
//! and the TFTP and HTTP servers against real clients.

mod db;
mod features;
mod import;
mod location;
mod render;
mod seen;
mod servers;
mod store;
