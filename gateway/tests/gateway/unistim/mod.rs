//! The UNIStim side: the session through a scripted phone, the startup capture replayed, tshark on
//! everything sent, and the driver over loopback UDP.

mod capture;
mod driver;
mod flows;
mod harness;
mod phone;
