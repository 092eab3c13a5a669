//! Name resolution on the host (the jail has no resolver). The system resolver, unless the
//! host names a hosts-format file in `STOCKADE_EGRESS_HOSTS`: names listed there resolve to
//! its addresses and nowhere else (tests, split-horizon setups). The jail cannot set it: it is
//! read from the supervisor's environment.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

/// The environment variable naming the hosts file.
pub const HOSTS_ENV: &str = "STOCKADE_EGRESS_HOSTS";

const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// Resolves names for the proxy.
#[derive(Debug, Clone, Default)]
pub struct Resolver {
    overrides: HashMap<String, Vec<IpAddr>>,
}

impl Resolver {
    /// The system resolver, with the overrides of `$STOCKADE_EGRESS_HOSTS` when it is set.
    pub fn from_env() -> std::io::Result<Resolver> {
        match std::env::var_os(HOSTS_ENV) {
            None => Ok(Resolver::default()),
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    std::io::Error::new(e.kind(), format!("{HOSTS_ENV}={}: {e}", path.to_string_lossy()))
                })?;
                Ok(Resolver::with_hosts(&text))
            }
        }
    }

    /// Overrides from hosts-file text: `address name [name...]` per line, `#` comments.
    #[must_use]
    pub fn with_hosts(text: &str) -> Resolver {
        let mut overrides: HashMap<String, Vec<IpAddr>> = HashMap::new();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut words = line.split_whitespace();
            let Some(Ok(ip)) = words.next().map(str::parse::<IpAddr>) else {
                continue;
            };
            for name in words {
                overrides.entry(name.to_ascii_lowercase()).or_default().push(ip);
            }
        }
        Resolver { overrides }
    }

    /// The addresses of `name`.
    pub async fn lookup(&self, name: &str, port: u16) -> Result<Vec<IpAddr>, String> {
        if let Some(found) = self.overrides.get(name) {
            return Ok(found.clone());
        }
        match tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host((name, port))).await {
            Err(_) => Err(format!("resolving {name} took over {}s", LOOKUP_TIMEOUT.as_secs())),
            Ok(Err(e)) => Err(format!("cannot resolve {name}: {e}")),
            Ok(Ok(addrs)) => {
                let mut out: Vec<IpAddr> = Vec::new();
                for a in addrs {
                    if !out.contains(&a.ip()) {
                        out.push(a.ip());
                    }
                }
                Ok(out)
            }
        }
    }
}
