//! The `crossbar` gateway: configuration, wiring and the per-phone sessions.
