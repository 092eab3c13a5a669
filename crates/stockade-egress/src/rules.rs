//! What the proxy decides before it connects anywhere: which `network.allow` entry a request
//! matches, and whether an address it resolved to may be used. Pure functions; no I/O.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use stockade_policy::{canonical_ip, check_host_name, IpNet, NetAllow, NetHost, Network};

/// The policy's `[network]` section as the proxy uses it.
#[derive(Debug, Clone)]
pub struct Rules {
    /// The allow list.
    pub allow: Vec<NetAllow>,
    /// Flows (connection attempts through the proxy) per run, refused ones included.
    pub max_connections: u64,
    /// Bytes per run, both ways, all flows together.
    pub max_bytes: u64,
}

impl Rules {
    /// The rules of a policy's `[network]` section.
    #[must_use]
    pub fn from_policy(net: &Network) -> Rules {
        Rules {
            allow: net.allow.clone(),
            max_connections: u64::from(net.max_connections),
            max_bytes: net.max_bytes,
        }
    }
}

/// Where a request asks to go, as the proxy reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A host name (lower case, no trailing dot).
    Name(String),
    /// An address literal, IPv4-mapped IPv6 already turned into IPv4.
    Ip(IpAddr),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Name(n) => f.write_str(n),
            Target::Ip(IpAddr::V6(a)) => write!(f, "[{a}]"),
            Target::Ip(a) => write!(f, "{a}"),
        }
    }
}

/// Read the host of a request. Only canonical spellings are accepted: a DNS name whose last
/// label is not numeric, dotted-decimal IPv4 with four parts, or IPv6 in brackets. So the
/// tricks that make a resolver read `2130706433`, `0x7f.1` or `0177.0.0.1` as 127.0.0.1 are
/// refused here, before anything resolves them.
pub fn parse_host(host: &str) -> Result<Target, String> {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        let ip: Ipv6Addr = inner.parse().map_err(|_| format!("{host:?} is not an IPv6 address"))?;
        // An IPv4 address spelled as IPv6 is another way to name it: only one spelling is read.
        if let Some(v4) = ip.to_ipv4_mapped() {
            return Err(format!("{host:?} is the IPv4 address {v4} in IPv6 form; write {v4}"));
        }
        return Ok(Target::Ip(IpAddr::V6(ip)));
    }
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return Ok(Target::Ip(IpAddr::V4(ip)));
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    check_host_name(name).map_err(|e| format!("not a host name or a canonical address: {e}"))?;
    Ok(Target::Name(name.to_ascii_lowercase()))
}

/// Split `host:port` (the authority of a CONNECT request).
pub fn parse_authority(authority: &str) -> Result<(Target, u16), String> {
    let (host, port) = authority
        .rsplit_once(':')
        .ok_or_else(|| format!("{authority:?} has no port (CONNECT needs host:port)"))?;
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p: &u16| *p != 0 && p.to_string() == port)
        .ok_or_else(|| format!("{authority:?}: the port is not a number from 1 to 65535"))?;
    Ok((parse_host(host)?, port))
}

/// The entry that allows `target:port`, if any. A name matches name and suffix entries; an
/// address literal matches only address entries.
#[must_use]
pub fn matching<'a>(rules: &'a Rules, target: &Target, port: u16) -> Option<&'a NetAllow> {
    rules.allow.iter().find(|entry| {
        entry.allows_port(port)
            && match (&entry.host, target) {
                (NetHost::Name(n), Target::Name(t)) => n == t,
                (NetHost::Suffix(s), Target::Name(t)) => {
                    t.len() > s.len() + 1 && t.ends_with(s.as_str()) && t.as_bytes()[t.len() - s.len() - 1] == b'.'
                }
                (NetHost::Net(net), Target::Ip(ip)) => net.contains(*ip),
                _ => false,
            }
    })
}

/// The special-use range `ip` is in, by name, if any: the addresses a name may not resolve to
/// unless an entry names them. IPv6 forms that embed an IPv4 address (IPv4-mapped, IPv4-
/// compatible, 6to4, NAT64) are judged by the address they embed; Teredo always is special.
#[must_use]
pub fn special_range(ip: IpAddr) -> Option<(&'static str, IpNet)> {
    match canonical_ip(ip) {
        IpAddr::V4(v4) => special_v4(v4),
        IpAddr::V6(v6) => special_v6(v6),
    }
}

fn net(addr: IpAddr, prefix: u8) -> IpNet {
    IpNet { addr, prefix }
}

const V4_RANGES: &[([u8; 4], u8, &str)] = &[
    ([0, 0, 0, 0], 8, "unspecified"),
    ([10, 0, 0, 0], 8, "private"),
    ([100, 64, 0, 0], 10, "carrier-grade NAT"),
    ([127, 0, 0, 0], 8, "loopback"),
    ([169, 254, 0, 0], 16, "link-local (cloud metadata)"),
    ([172, 16, 0, 0], 12, "private"),
    ([192, 0, 0, 0], 24, "IETF protocol assignments"),
    ([192, 0, 2, 0], 24, "documentation"),
    ([192, 88, 99, 0], 24, "6to4 relay"),
    ([192, 168, 0, 0], 16, "private"),
    ([198, 18, 0, 0], 15, "benchmarking"),
    ([198, 51, 100, 0], 24, "documentation"),
    ([203, 0, 113, 0], 24, "documentation"),
    ([224, 0, 0, 0], 4, "multicast"),
    ([240, 0, 0, 0], 4, "reserved"),
];

fn special_v4(ip: Ipv4Addr) -> Option<(&'static str, IpNet)> {
    V4_RANGES.iter().find_map(|(a, prefix, name)| {
        let n = net(IpAddr::V4(Ipv4Addr::from(*a)), *prefix);
        n.contains(IpAddr::V4(ip)).then_some((*name, n))
    })
}

fn special_v6(ip: Ipv6Addr) -> Option<(&'static str, IpNet)> {
    let bits = u128::from(ip);
    let embedded = |v4: u32| special_v4(Ipv4Addr::from(v4));
    let in_net = |a: u128, prefix: u8| net(IpAddr::V6(Ipv6Addr::from(a)), prefix).contains(IpAddr::V6(ip));
    let low32 = u32::try_from(bits & 0xffff_ffff).unwrap_or(0);
    if bits == 0 {
        return Some(("unspecified", net(IpAddr::V6(ip), 128)));
    }
    if bits == 1 {
        return Some(("loopback", net(IpAddr::V6(ip), 128)));
    }
    // NAT64 (64:ff9b::/96): the embedded address decides. IPv4-compatible (::a.b.c.d) is
    // deprecated and never routed: always special.
    if in_net(0x0064_ff9b_u128 << 96, 96) {
        return embedded(low32);
    }
    if in_net(0, 96) {
        return embedded(low32).or(Some(("IPv4-compatible", net(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 96))));
    }
    // 6to4 (2002::/16): the IPv4 address in bits 16-48.
    if in_net(0x2002_u128 << 112, 16) {
        let v4 = u32::try_from((bits >> 80) & 0xffff_ffff).unwrap_or(0);
        if let Some(found) = embedded(v4) {
            return Some(found);
        }
    }
    const RANGES: &[(u128, u8, &str)] = &[
        (0x0064_ff9b_0001_u128 << 80, 48, "local NAT64"),
        (0x0100_u128 << 112, 64, "discard"),
        (0x2001_0000_u128 << 96, 32, "Teredo"),
        (0x2001_0db8_u128 << 96, 32, "documentation"),
        (
            0xfc00_u128 << 112,
            7,
            "unique local (includes fd00:ec2::254, cloud metadata)",
        ),
        (0xfe80_u128 << 112, 10, "link-local"),
        (0xfec0_u128 << 112, 10, "site-local"),
        (0xff00_u128 << 112, 8, "multicast"),
    ];
    RANGES
        .iter()
        .find(|(a, prefix, _)| in_net(*a, *prefix))
        .map(|(a, prefix, name)| (*name, net(IpAddr::V6(Ipv6Addr::from(*a)), *prefix)))
}

/// Whether an address a name resolved to may be used for `port`: an ordinary address always;
/// a special-use one only when an address entry names it, at least as narrowly as its range
/// (so `0.0.0.0/0` does not open the metadata service, but `169.254.169.254` does).
pub fn vet_address(rules: &Rules, ip: IpAddr, port: u16) -> Result<(), String> {
    let ip = canonical_ip(ip);
    let Some((range, range_net)) = special_range(ip) else {
        return Ok(());
    };
    let named = rules.allow.iter().any(|entry| {
        entry.allows_port(port)
            && matches!(&entry.host, NetHost::Net(n) if n.contains(ip) && n.prefix >= range_net.prefix)
    });
    if named {
        Ok(())
    } else {
        Err(format!("{ip} is {range}, which no network.allow address entry names"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(entries: &[&str]) -> Rules {
        Rules {
            allow: entries.iter().map(|e| NetAllow::parse(e).unwrap()).collect(),
            max_connections: 64,
            max_bytes: 1 << 20,
        }
    }

    #[test]
    fn hosts_in_canonical_form_only() {
        assert_eq!(
            parse_host("API.Example.com.").unwrap(),
            Target::Name("api.example.com".into())
        );
        assert_eq!(
            parse_host("127.0.0.1").unwrap(),
            Target::Ip("127.0.0.1".parse().unwrap())
        );
        assert!(parse_host("[::ffff:127.0.0.1]").is_err());
        assert_eq!(parse_host("[::1]").unwrap(), Target::Ip("::1".parse().unwrap()));
        for trick in [
            "2130706433",
            "0x7f000001",
            "0177.0.0.1",
            "127.1",
            "0x7f.0.0.1",
            "127.0.0.1.",
            "::1",
            "[::1",
            "a b",
            "",
        ] {
            assert!(parse_host(trick).is_err(), "{trick}");
        }
        assert_eq!(parse_authority("pypi.org:443").unwrap().1, 443);
        for bad in ["pypi.org", "pypi.org:0", "pypi.org:+443", "pypi.org:99999", "[::1]"] {
            assert!(parse_authority(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn matching_entries() {
        let r = rules(&[
            "api.example.com:443",
            "*.pythonhosted.org:443",
            "127.0.0.1:8080",
            "pypi.org:*",
        ]);
        let m = |h: &str, p| matching(&r, &parse_host(h).unwrap(), p).map(|e| e.text.clone());
        assert_eq!(m("api.example.com", 443).as_deref(), Some("api.example.com:443"));
        assert_eq!(m("api.example.com", 80), None);
        assert_eq!(
            m("files.pythonhosted.org", 443).as_deref(),
            Some("*.pythonhosted.org:443")
        );
        assert_eq!(m("pythonhosted.org", 443), None);
        assert_eq!(m("evilpythonhosted.org", 443), None);
        assert_eq!(m("127.0.0.1", 8080).as_deref(), Some("127.0.0.1:8080"));
        assert_eq!(m("127.0.0.2", 8080), None);
        assert_eq!(m("pypi.org", 22).as_deref(), Some("pypi.org:*"));
        assert_eq!(m("localhost", 8080), None);
    }

    #[test]
    fn special_ranges_and_their_spellings() {
        for (ip, range) in [
            ("127.0.0.1", "loopback"),
            ("169.254.169.254", "link-local (cloud metadata)"),
            ("10.1.2.3", "private"),
            ("100.64.0.1", "carrier-grade NAT"),
            ("0.0.0.0", "unspecified"),
            ("224.0.0.1", "multicast"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("::ffff:169.254.169.254", "link-local (cloud metadata)"),
            ("::127.0.0.1", "loopback"),
            ("64:ff9b::a9fe:a9fe", "link-local (cloud metadata)"),
            ("2002:7f00:1::", "loopback"),
            ("2002:a9fe:a9fe::1", "link-local (cloud metadata)"),
            ("fd00:ec2::254", "unique local (includes fd00:ec2::254, cloud metadata)"),
            ("fe80::1", "link-local"),
            ("2001::1", "Teredo"),
            ("ff02::1", "multicast"),
        ] {
            let got = special_range(ip.parse().unwrap()).map(|(name, _)| name);
            assert_eq!(got, Some(range), "{ip}");
        }
        for public in [
            "93.184.216.34",
            "2606:2800:220:1::1",
            "2002:5db8:d822::1",
            "64:ff9b::5db8:d822",
        ] {
            assert_eq!(special_range(public.parse().unwrap()), None, "{public}");
        }
    }

    #[test]
    fn special_addresses_need_an_entry_that_names_them() {
        let r = rules(&["api.test:443", "0.0.0.0/0:443", "127.0.0.1:8080", "169.254.169.254:80"]);
        assert!(vet_address(&r, "93.184.216.34".parse().unwrap(), 443).is_ok());
        let e = vet_address(&r, "169.254.169.254".parse().unwrap(), 443).unwrap_err();
        assert!(e.contains("metadata"), "{e}");
        assert!(vet_address(&r, "169.254.169.254".parse().unwrap(), 80).is_ok());
        assert!(vet_address(&r, "127.0.0.1".parse().unwrap(), 8080).is_ok());
        assert!(vet_address(&r, "::ffff:127.0.0.1".parse().unwrap(), 8080).is_ok());
        assert!(vet_address(&r, "127.0.0.1".parse().unwrap(), 443).is_err());
        assert!(vet_address(&r, "::1".parse().unwrap(), 8080).is_err());
    }
}
