//! Per-model phone configuration templates (minijinja), embedded in the binary and overridable from a
//! directory, with their typed contexts.
#![warn(missing_docs)]
