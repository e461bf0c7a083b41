//! Fleet inventory and bulk provisioning: the store (sqlx over SQLite or PostgreSQL), MAC normalisation,
//! the model table, digest credentials, CSV import and export.

pub mod changes;
pub mod digest;
pub mod export;
pub mod import;
pub mod inventory;
pub mod mac;
pub mod models;
pub mod render;
pub mod store;

pub use changes::ChangeSet;
pub use digest::Ha1;
pub use inventory::{Device, Inventory, Key, KeyKind, User, UserId};
pub use mac::Mac;
pub use models::{Family, MODELS, Model, Protocol};
pub use render::{Fetched, RenderError, RenderedFile, Renderer, ServerAddresses};
pub use store::{Backend, SeenDevice, SeenRow, SeenVia, Store, StoreError};
