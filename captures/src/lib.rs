//! Packet capture reading for tests and `crossbar decode`: pcap and pcapng files, link layers, IP, and
//! TCP reassembly per direction. Knows nothing of SCCP, UNIStim or SIP.
#![warn(missing_docs)]
