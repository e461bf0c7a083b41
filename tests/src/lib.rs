//! Shared helpers for Crossbar's end-to-end tests and the `phonesim` phone simulator.

pub mod phonesim;
