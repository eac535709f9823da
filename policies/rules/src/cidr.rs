//! Banned IP ranges (contract §6.4, decision D6).
//!
//! Entries are normalised and parsed once at load. Matching unmaps IPv4-mapped IPv6 on both
//! sides, as Go's `net` package does under topdown, so `::ffff:1.2.3.4` and `1.2.3.4` are one
//! address whichever way the data or the request writes it.

use std::net::IpAddr;

/// A parsed CIDR with its host bits masked, unmapped to IPv4 where it is IPv4-mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses a `banned_ips` entry after normalisation: a bare address becomes `/32` or `/128`.
    ///
    /// `None` when the entry is not a valid CIDR; the caller names the data path.
    pub fn parse_entry(entry: &str) -> Option<Self> {
        let (addr, prefix) = match entry.split_once('/') {
            Some((addr, prefix)) => (addr, prefix),
            None if entry.contains(':') => (entry, "128"),
            None => (entry, "32"),
        };
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) || prefix.len() > 3 {
            return None;
        }
        let prefix: u8 = prefix.parse().ok()?;
        let addr: IpAddr = addr.parse().ok()?;
        match addr {
            IpAddr::V4(v4) if prefix <= 32 => {
                let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                Some(Cidr {
                    network: IpAddr::V4((u32::from(v4) & mask).into()),
                    prefix,
                })
            }
            IpAddr::V6(v6) if prefix <= 128 => {
                let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
                let network = std::net::Ipv6Addr::from(u128::from(v6) & mask);
                match network.to_ipv4_mapped() {
                    Some(v4) if prefix >= 96 => Some(Cidr {
                        network: IpAddr::V4(v4),
                        prefix: prefix - 96,
                    }),
                    _ => Some(Cidr {
                        network: IpAddr::V6(network),
                        prefix,
                    }),
                }
            }
            _ => None,
        }
    }

    /// `net.cidr_contains`: true when `ip` parses as an address inside this range.
    pub fn contains(&self, ip: &str) -> bool {
        let Ok(ip) = ip.parse::<IpAddr>() else {
            return false;
        };
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 @ IpAddr::V4(_) => v4,
        };
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(ip) & mask == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(ip) & mask == u128::from(net)
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn banned(entry: &str, ip: &str) -> bool {
        Cidr::parse_entry(entry).unwrap().contains(ip)
    }

    #[test]
    fn normalisation_and_masking() {
        assert!(banned("1.2.3.4", "1.2.3.4"));
        assert!(!banned("1.2.3.4", "1.2.3.5"));
        assert!(banned("1.2.3.5/24", "1.2.3.200"));
        assert!(banned("fe80::/64", "fe80::1"));
        assert!(banned("::1", "::1"));
        assert!(banned("0.0.0.0/0", "8.8.8.8"));
    }

    #[test]
    fn mapped_addresses_match_both_ways() {
        assert!(banned("1.2.3.0/24", "::ffff:1.2.3.4"));
        assert!(banned("::ffff:1.2.3.0/120", "1.2.3.4"));
        assert!(banned("::ffff:1.2.3.4", "1.2.3.4"));
        assert!(!banned("::/0", "1.2.3.4"));
        assert!(!banned("::1.2.3.4", "1.2.3.4"));
        assert!(banned("::1.2.3.4", "::1.2.3.4"));
    }

    #[test]
    fn invalid_entries_and_ips() {
        for e in [
            "1.2.3.4/33",
            "01.2.3.4",
            "1.2.3",
            "::/129",
            "x",
            "1.2.3.4/",
            "fe80::1%eth0",
            "1.2.3.4/+1",
        ] {
            assert!(Cidr::parse_entry(e).is_none(), "{e}");
        }
        assert!(!banned("0.0.0.0/0", "not an ip"));
        assert!(!banned("0.0.0.0/0", ""));
    }
}
