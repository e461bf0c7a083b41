//! Fleet inventory, bulk CSV provisioning and the provisioning servers.
