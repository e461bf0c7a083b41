//! The SCCP phone side: the session machine through `SessionHarness`, conversation goldens from real
//! CUCM captures, the driver over loopback TCP, and tshark reading everything we send.

mod calls;
mod driver;
mod golden;
mod harness;
mod listen;
mod register;
mod robust;
mod tshark;
