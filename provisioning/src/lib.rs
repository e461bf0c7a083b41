//! Fleet inventory and bulk provisioning: the store (sqlx over SQLite or PostgreSQL), MAC normalisation,
//! the model table, digest credentials, CSV import and export, and the TFTP and HTTP provisioning servers.

pub mod changes;
pub mod digest;
pub mod export;
pub mod files;
pub mod guard;
pub mod http;
pub mod import;
pub mod inventory;
pub mod mac;
pub mod models;
pub mod render;
pub mod secret;
pub mod store;
pub mod tftp;

pub use changes::ChangeSet;
pub use digest::Ha1;
pub use inventory::{Device, Inventory, Key, KeyKind, User, UserId};
pub use mac::Mac;
pub use models::{Family, MODELS, Model, Protocol};
pub use render::{Fetched, RenderError, RenderedFile, Renderer, ServerAddresses};
pub use secret::LineSecret;
pub use store::{Backend, SeenDevice, SeenRow, SeenVia, Store, StoreError};
