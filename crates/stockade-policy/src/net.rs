//! `[network] allow` entries: where a jail's code may connect through the host proxy.
//!
//! An entry is `host:ports`. `host` is a DNS name (`api.example.com`), a suffix pattern
//! (`*.pythonhosted.org`, any name ending in `.pythonhosted.org`), an IPv4 address or CIDR
//! (`127.0.0.1`, `10.1.0.0/16`), or an IPv6 address or CIDR in brackets (`[::1]`,
//! `[fd00::/8]`). `ports` is a port, a comma-separated list of ports (`80,443`) or `*`.
//! Only the parsing lives here (no OS code); matching and address vetting are the proxy's.

use std::fmt;
use std::net::IpAddr;

use serde::{Serialize, Serializer};

/// The port the host proxy listens on inside a jail (on 127.0.0.1, in the jail's own network
/// namespace; nothing on the host listens there).
pub const PROXY_PORT: u16 = 3128;

/// The CA bundle a jail with the proxy trusts (the host's roots, plus the jail's own CA when
/// the proxy terminates TLS for `[secrets]`).
pub const JAIL_BUNDLE: &str = "/etc/stockade/ca-bundle.pem";

/// Where packages installed at run time go (`PIP_TARGET`), in the scratch and last on
/// `sys.path`, when the jail has the proxy; the guard treats them as the run's own modules.
pub const PACKAGES_DIR: &str = "/tmp/packages";

/// Modules the `strict` profile denies that network code needs; a policy with the proxy on
/// moves them to the profile's allow list.
pub const NETWORK_MODULES: &[&str] = &["socket", "_socket", "ssl", "_ssl", "select", "http", "urllib"];

/// One parsed `allow` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetAllow {
    /// Which destinations.
    pub host: NetHost,
    /// Which ports; empty means any port (`*`).
    pub ports: Vec<u16>,
    /// The entry as written, for reports (`rule` in a flow record).
    pub text: String,
}

/// The host part of an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetHost {
    /// Exactly this name (lower case, no trailing dot).
    Name(String),
    /// Any name that ends in `.{suffix}` (the entry `*.{suffix}`); not `suffix` itself.
    Suffix(String),
    /// An address or a network. Names never match it; a name that resolves into it does
    /// only through a name entry, and only because this entry names the address.
    Net(IpNet),
}

/// An IP network: `addr` with its host bits cleared, and a prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNet {
    /// The network address.
    pub addr: IpAddr,
    /// The prefix length (32 or 128 for one address).
    pub prefix: u8,
}

impl IpNet {
    /// Whether `ip` is inside this network. IPv4-mapped IPv6 addresses are compared as IPv4.
    #[must_use]
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical_ip(ip);
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// `ip` with an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) turned into its IPv4 address.
#[must_use]
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 @ IpAddr::V4(_) => v4,
    }
}

impl fmt::Display for NetAllow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for NetAllow {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl NetAllow {
    /// Whether the entry allows `port`.
    #[must_use]
    pub fn allows_port(&self, port: u16) -> bool {
        self.ports.is_empty() || self.ports.contains(&port)
    }

    /// Parse one entry; the error says what is wrong with it.
    pub fn parse(entry: &str) -> Result<NetAllow, String> {
        let text = entry.trim();
        if text != entry || text.is_empty() {
            return Err(format!("{entry:?}: an entry is \"host:port\" with no spaces"));
        }
        let (host, ports) = if let Some(rest) = text.strip_prefix('[') {
            let (inside, after) = rest
                .split_once(']')
                .ok_or_else(|| format!("{entry:?}: an IPv6 address in brackets needs its \"]\""))?;
            let ports = after
                .strip_prefix(':')
                .ok_or_else(|| format!("{entry:?}: a port must follow \"]:\""))?;
            (
                NetHost::Net(parse_net(inside, true).map_err(|e| format!("{entry:?}: {e}"))?),
                ports,
            )
        } else {
            let (host, ports) = text.rsplit_once(':').ok_or_else(|| {
                format!("{entry:?}: an entry is \"host:port\" (a port or a list such as 80,443, or *)")
            })?;
            (parse_host(host).map_err(|e| format!("{entry:?}: {e}"))?, ports)
        };
        let ports = parse_ports(ports).map_err(|e| format!("{entry:?}: {e}"))?;
        Ok(NetAllow {
            host,
            ports,
            text: text.to_owned(),
        })
    }
}

fn parse_ports(s: &str) -> Result<Vec<u16>, String> {
    if s == "*" {
        return Ok(Vec::new());
    }
    let mut ports = Vec::new();
    for p in s.split(',') {
        let port: u16 = p
            .parse()
            .ok()
            .filter(|port: &u16| *port != 0 && port.to_string() == p)
            .ok_or_else(|| format!("port {p:?} is not a number from 1 to 65535"))?;
        if !ports.contains(&port) {
            ports.push(port);
        }
    }
    Ok(ports)
}

fn parse_host(host: &str) -> Result<NetHost, String> {
    if host.contains(':') {
        return Err("an IPv6 address goes in brackets: \"[::1]:443\"".into());
    }
    if host.bytes().next().is_some_and(|b| b.is_ascii_digit())
        && host.bytes().all(|b| b.is_ascii_digit() || b == b'.' || b == b'/')
    {
        return parse_net(host, false).map(NetHost::Net);
    }
    if let Some(suffix) = host.strip_prefix("*.") {
        check_name(suffix)?;
        if !suffix.contains('.') {
            return Err(format!(
                "\"*.{suffix}\" would match every name under a top-level domain; name at least two labels"
            ));
        }
        return Ok(NetHost::Suffix(suffix.to_ascii_lowercase()));
    }
    check_name(host)?;
    Ok(NetHost::Name(host.to_ascii_lowercase()))
}

/// Check a DNS name: labels of letters, digits and hyphens (1-63 bytes, no hyphen at either end),
/// at most 253 bytes, and a last label that is not all digits (so `127.1` or `0x7f.1` can
/// never be read as a name here and as an address by a resolver).
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 253 {
        return Err(format!("{name:?} is not a host name (1 to 253 characters)"));
    }
    for label in name.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(format!(
                "{name:?} is not a host name (labels of letters, digits and \"-\", or \"*.\" then a name)"
            ));
        }
    }
    let last = name.rsplit('.').next().unwrap_or(name);
    if last.bytes().all(|b| b.is_ascii_digit()) || last.to_ascii_lowercase().starts_with("0x") {
        return Err(format!(
            "{name:?} looks like a number; write an address in dotted decimal (\"10.0.0.1\") or a CIDR"
        ));
    }
    Ok(())
}

fn parse_net(s: &str, v6: bool) -> Result<IpNet, String> {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    // std's parsers accept only the canonical spellings: dotted decimal, four parts, no
    // octal or hex; so "0177.1" or "2130706433" are errors here, not loopback.
    let addr: IpAddr = if v6 {
        IpAddr::V6(addr.parse().map_err(|_| format!("{addr:?} is not an IPv6 address"))?)
    } else {
        IpAddr::V4(
            addr.parse()
                .map_err(|_| format!("{addr:?} is not an IPv4 address in dotted decimal"))?,
        )
    };
    let max = if v6 { 128 } else { 32 };
    let prefix = match prefix {
        None => max,
        Some(p) => p
            .parse::<u8>()
            .ok()
            .filter(|n| *n <= max && n.to_string() == p)
            .ok_or_else(|| format!("prefix length {p:?} is not a number from 0 to {max}"))?,
    };
    let net = IpNet { addr, prefix };
    // Host bits set ("10.0.0.1/8") is almost always a typo for a narrower network.
    let cleared = IpNet {
        addr: match addr {
            IpAddr::V4(a) => {
                IpAddr::V4((u32::from(a) & u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)).into())
            }
            IpAddr::V6(a) => {
                IpAddr::V6((u128::from(a) & u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)).into())
            }
        },
        prefix,
    };
    if cleared != net {
        return Err(format!(
            "{s:?} has host bits set; the network is {}/{prefix}",
            cleared.addr
        ));
    }
    Ok(net)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> NetAllow {
        NetAllow::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn entries() {
        assert_eq!(ok("api.example.com:443").host, NetHost::Name("api.example.com".into()));
        assert_eq!(ok("API.Example.com:443").host, NetHost::Name("api.example.com".into()));
        assert_eq!(
            ok("*.pythonhosted.org:443").host,
            NetHost::Suffix("pythonhosted.org".into())
        );
        assert_eq!(ok("pypi.org:80,443").ports, vec![80, 443]);
        assert!(ok("pypi.org:*").ports.is_empty());
        let n = ok("10.1.0.0/16:443");
        assert!(matches!(n.host, NetHost::Net(IpNet { prefix: 16, .. })));
        let NetHost::Net(net) = ok("[fd00::/8]:443").host else {
            panic!()
        };
        assert!(net.contains("fd12::1".parse().unwrap()));
        let NetHost::Net(lo) = ok("127.0.0.1:8080").host else {
            panic!()
        };
        assert!(lo.contains("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!lo.contains("127.0.0.2".parse().unwrap()));
        assert_eq!(ok("[::1]:8080").to_string(), "[::1]:8080");
    }

    #[test]
    fn bad_entries_say_why() {
        for (entry, says) in [
            ("api.example.com", "host:port"),
            ("api.example.com:0", "port"),
            ("api.example.com:+443", "port"),
            ("api.example.com:0443", "port"),
            ("api.example.com:70000", "port"),
            ("*.com:443", "top-level"),
            ("*.:443", "host name"),
            ("a..b:443", "host name"),
            ("-a.b:443", "host name"),
            ("::1:443", "brackets"),
            ("[::1:443", "]"),
            ("[::1]443", "]:"),
            ("0177.0.0.1:80", "dotted decimal"),
            ("2130706433:80", "dotted decimal"),
            ("127.1:80", "dotted decimal"),
            ("0x7f.1:80", "number"),
            ("evil.0x7f:80", "number"),
            ("10.0.0.1/8:443", "host bits"),
            ("10.0.0.0/33:443", "prefix"),
            (" pypi.org:443", "spaces"),
            ("", "host:port"),
        ] {
            let e = NetAllow::parse(entry).expect_err(entry);
            assert!(e.contains(says), "{entry:?}: {e}");
        }
    }
}
