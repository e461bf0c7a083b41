//! Integration tests of the provisioning crate: the store suite on both backends, bulk import, rendering.

mod db;
mod features;
mod import;
mod location;
mod render;
mod seen;
mod store;
