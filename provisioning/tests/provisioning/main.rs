//! Integration tests of the provisioning crate: the store suite on both backends, and bulk import.

mod db;
mod features;
mod import;
mod location;
mod store;
