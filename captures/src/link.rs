//! Link-layer headers, numbered as in tcpdump.org's LINKTYPE list: Ethernet (with 802.1Q and
//! 802.1ad / QinQ tags), Linux cooked captures v1 and v2, BSD loopback (NULL and LOOP) and raw IP.

use crate::bytes::{be16, be32, slice, u8_at};
use crate::{DissectError, Layer, LinkType};

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
/// 802.1Q, 802.1ad and the pre-standard QinQ tag type.
const ETHERTYPE_VLAN: [u16; 3] = [0x8100, 0x88a8, 0x9100];

/// The network-layer packet a frame carries.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Network<'a> {
    Ipv4(&'a [u8]),
    Ipv6(&'a [u8]),
    /// Not IP (ARP, LLC, an unknown link type...).
    Other,
}

fn short(layer: Layer, needed: usize, data: &[u8]) -> DissectError {
    DissectError::Truncated {
        layer,
        needed,
        available: data.len(),
    }
}

/// Strips the link-layer header of `data`.
pub(crate) fn network(link: LinkType, data: &[u8]) -> Result<Network<'_>, DissectError> {
    match link {
        LinkType::ETHERNET => ethernet(data),
        LinkType::LINUX_SLL => {
            let proto = be16(data, 14).ok_or_else(|| short(Layer::LinuxSll, 16, data))?;
            Ok(ethertype(
                proto,
                data.get(16..).unwrap_or_default(),
                Layer::LinuxSll,
            )?)
        }
        LinkType::LINUX_SLL2 => {
            let proto = be16(data, 0).ok_or_else(|| short(Layer::LinuxSll2, 20, data))?;
            let rest = data
                .get(20..)
                .ok_or_else(|| short(Layer::LinuxSll2, 20, data))?;
            ethertype(proto, rest, Layer::LinuxSll2)
        }
        LinkType::NULL | LinkType::LOOP => {
            let raw = slice(data, 0, 4).ok_or_else(|| short(Layer::Loopback, 4, data))?;
            let be = be32(raw, 0).unwrap_or_default();
            let le = u32::from_le_bytes(crate::bytes::array::<4>(raw, 0).unwrap_or_default());
            // LOOP is always network order; NULL is the capturing host's order, so accept either.
            let family = if link == LinkType::LOOP || be < 0x100 {
                be
            } else {
                le
            };
            let rest = data.get(4..).unwrap_or_default();
            Ok(match family {
                2 => Network::Ipv4(rest),
                24 | 28 | 30 => Network::Ipv6(rest),
                _ => Network::Other,
            })
        }
        LinkType::RAW => match u8_at(data, 0).map(|b| b >> 4) {
            Some(4) => Ok(Network::Ipv4(data)),
            Some(6) => Ok(Network::Ipv6(data)),
            Some(_) => Ok(Network::Other),
            None => Err(short(Layer::Ipv4, 1, data)),
        },
        LinkType::IPV4 => Ok(Network::Ipv4(data)),
        LinkType::IPV6 => Ok(Network::Ipv6(data)),
        _ => Ok(Network::Other),
    }
}

fn ethernet(data: &[u8]) -> Result<Network<'_>, DissectError> {
    let mut ty = be16(data, 12).ok_or_else(|| short(Layer::Ethernet, 14, data))?;
    let mut off = 14usize;
    while ETHERTYPE_VLAN.contains(&ty) {
        // A tag is 2 bytes of TCI, then the next EtherType.
        let at = off.saturating_add(2);
        ty = be16(data, at).ok_or_else(|| short(Layer::Ethernet, at.saturating_add(2), data))?;
        off = off.saturating_add(4);
    }
    let rest = data.get(off..).unwrap_or_default();
    ethertype(ty, rest, Layer::Ethernet)
}

fn ethertype(ty: u16, rest: &[u8], layer: Layer) -> Result<Network<'_>, DissectError> {
    Ok(match ty {
        ETHERTYPE_IPV4 => Network::Ipv4(rest),
        ETHERTYPE_IPV6 => Network::Ipv6(rest),
        t if ETHERTYPE_VLAN.contains(&t) => {
            // A tagged frame inside a cooked capture: the tag follows directly.
            let inner = be16(rest, 2).ok_or_else(|| short(layer, 4, rest))?;
            return ethertype(inner, rest.get(4..).unwrap_or_default(), layer);
        }
        _ => Network::Other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vlan_tags_are_stripped() {
        let mut f = vec![0u8; 12];
        f.extend([0x88, 0xa8, 0, 10, 0x81, 0x00, 0, 20, 0x86, 0xdd, 0x60]);
        assert_eq!(
            network(LinkType::ETHERNET, &f).unwrap(),
            Network::Ipv6(&[0x60])
        );
    }

    #[test]
    fn loopback_family_either_order() {
        for hdr in [[2, 0, 0, 0], [0, 0, 0, 2]] {
            let mut f = hdr.to_vec();
            f.push(0x45);
            assert_eq!(network(LinkType::NULL, &f).unwrap(), Network::Ipv4(&[0x45]));
        }
        for fam in [24u32, 28, 30] {
            let mut f = fam.to_le_bytes().to_vec();
            f.push(0x60);
            assert_eq!(network(LinkType::NULL, &f).unwrap(), Network::Ipv6(&[0x60]));
            let f = fam.to_be_bytes();
            assert_eq!(network(LinkType::LOOP, &f).unwrap(), Network::Ipv6(&[]));
        }
    }

    #[test]
    fn cooked_headers() {
        let mut v1 = vec![0u8; 14];
        v1.extend([0x08, 0x00, 0x45]);
        assert_eq!(
            network(LinkType::LINUX_SLL, &v1).unwrap(),
            Network::Ipv4(&[0x45])
        );
        let mut v2 = vec![0x86, 0xdd];
        v2.extend([0u8; 18]);
        v2.push(0x60);
        assert_eq!(
            network(LinkType::LINUX_SLL2, &v2).unwrap(),
            Network::Ipv6(&[0x60])
        );
        assert!(network(LinkType::LINUX_SLL2, &v2[..10]).is_err());
        assert_eq!(network(LinkType(4242), &v2).unwrap(), Network::Other);
    }
}
