//! Who is calling: API keys and JWT bearer tokens → an [`Identity`] (tenant, role, key id).
//!
//! An API key is `sk_<id>_<secret>`: a 12-hex-digit id (stored in clear, shown in listings and
//! the audit trail) and 256 bits of randomness. Only SHA-256 of the secret is stored — a slow
//! hash would add nothing to 256 random bits — and the comparison is constant-time.
//!
//! A JWT is verified with the key configured for it; the algorithm is the key's, never the
//! token's header's: `alg: none` does not parse, and an HS256 token signed with an RSA public
//! key is refused because no HS256 key is configured under that name.

use std::collections::HashMap;

use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::JwtSettings;
use crate::roles::Role;

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The tenant it acts in.
    pub tenant: String,
    /// Its role.
    pub role: Role,
    /// The API key id (`k_…`), or `jwt:<sub>` for a token.
    pub key_id: String,
}

/// A freshly made key: the token is shown once, the hash is stored.
pub struct NewKey {
    /// The key id.
    pub id: String,
    /// The whole token (`sk_<id>_<secret>`).
    pub token: String,
    /// SHA-256 of the secret, hex.
    pub hash: String,
}

/// Make a key with 256 bits of randomness from the OS.
#[must_use]
pub fn new_key() -> NewKey {
    let mut id = [0u8; 6];
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut id);
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let id = format!("k_{}", hex::encode(id));
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
    NewKey {
        token: format!("sk_{}_{secret}", &id[2..]),
        hash: hash_secret(&secret),
        id,
    }
}

/// A random id with a prefix (`r_`, `s_`): 96 bits, hex.
#[must_use]
pub fn new_id(prefix: &str) -> String {
    let mut b = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut b);
    format!("{prefix}{}", hex::encode(b))
}

fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Split `sk_<id>_<secret>` into the key id (`k_<id>`) and the secret, if it has that shape.
#[must_use]
pub fn parse_key(token: &str) -> Option<(String, &str)> {
    let rest = token.strip_prefix("sk_")?;
    let (id, secret) = rest.split_once('_')?;
    let id_ok = id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
    let secret_ok = secret.len() == 43
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (id_ok && secret_ok).then(|| (format!("k_{id}"), secret))
}

/// Whether `secret` matches the stored hash, in constant time.
#[must_use]
pub fn secret_matches(secret: &str, stored_hash: &str) -> bool {
    let computed = hash_secret(secret);
    bool::from(computed.as_bytes().ct_eq(stored_hash.as_bytes()))
}

/// Why authentication failed (the label of the `auth failures` metric and the audit record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `Authorization: Bearer …`.
    Missing,
    /// Not a key and not a token.
    Malformed,
    /// No such key, or the secret does not match.
    UnknownKey,
    /// The key was revoked.
    Revoked,
    /// The key or token has expired.
    Expired,
    /// The token's signature, algorithm, issuer, audience or time is wrong.
    BadToken,
    /// The token names no known tenant or role.
    BadClaims,
}

impl AuthFailure {
    /// Its name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            AuthFailure::Missing => "missing",
            AuthFailure::Malformed => "malformed",
            AuthFailure::UnknownKey => "unknown_key",
            AuthFailure::Revoked => "revoked",
            AuthFailure::Expired => "expired",
            AuthFailure::BadToken => "bad_token",
            AuthFailure::BadClaims => "bad_claims",
        }
    }
}

type Keys = Vec<(Option<String>, Algorithm, DecodingKey)>;

/// Configured JWT verification keys.
pub struct JwtVerifier {
    keys: Keys,
    /// Keys fetched from `jwks_url`, replaced whole by each refresh.
    remote: std::sync::RwLock<Keys>,
    jwks_url: Option<String>,
    issuer: Option<String>,
    audience: Option<String>,
    tenant_claim: String,
    role_claim: String,
}

/// Claims a verified token carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    /// `sub`.
    pub subject: String,
    /// The tenant claim.
    pub tenant: String,
    /// The role claim.
    pub role: Role,
}

impl JwtVerifier {
    /// Load the configured keys (None when no key is configured: tokens are refused).
    pub fn from_settings(s: &JwtSettings) -> Result<Option<JwtVerifier>, String> {
        let mut keys = Vec::new();
        if let Some(var) = &s.hs256_secret_env {
            let secret = std::env::var(var).map_err(|_| format!("jwt.hs256_secret_env: ${var} is not set"))?;
            if secret.len() < 32 {
                return Err(format!("jwt.hs256_secret_env: ${var} must hold at least 32 bytes"));
            }
            keys.push((None, Algorithm::HS256, DecodingKey::from_secret(secret.as_bytes())));
        }
        if let Some(path) = &s.rs256_public_key {
            let pem = std::fs::read(path).map_err(|e| format!("jwt.rs256_public_key: {}: {e}", path.display()))?;
            let key = DecodingKey::from_rsa_pem(&pem)
                .map_err(|e| format!("jwt.rs256_public_key: {}: {e}", path.display()))?;
            keys.push((None, Algorithm::RS256, key));
        }
        if let Some(path) = &s.eddsa_public_key {
            let pem = std::fs::read(path).map_err(|e| format!("jwt.eddsa_public_key: {}: {e}", path.display()))?;
            let key =
                DecodingKey::from_ed_pem(&pem).map_err(|e| format!("jwt.eddsa_public_key: {}: {e}", path.display()))?;
            keys.push((None, Algorithm::EdDSA, key));
        }
        if let Some(path) = &s.jwks_file {
            let text = std::fs::read_to_string(path).map_err(|e| format!("jwt.jwks_file: {}: {e}", path.display()))?;
            keys.extend(parse_jwks(&text).map_err(|e| format!("jwt.jwks_file: {}: {e}", path.display()))?);
        }
        if let Some(url) = &s.jwks_url {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(format!("jwt.jwks_url: {url:?} is not an http(s) URL"));
            }
        }
        if keys.is_empty() && s.jwks_url.is_none() {
            return Ok(None);
        }
        Ok(Some(JwtVerifier {
            keys,
            remote: std::sync::RwLock::new(Vec::new()),
            jwks_url: s.jwks_url.clone(),
            issuer: s.issuer.clone(),
            audience: s.audience.clone(),
            tenant_claim: s.tenant_claim.clone(),
            role_claim: s.role_claim.clone(),
        }))
    }

    /// Verify a token: signature with the key of the header's `kid` (or every key without
    /// one) whose algorithm equals the header's; then `exp`, `nbf`, `iss`, `aud`.
    pub fn verify(&self, token: &str) -> Result<TokenClaims, AuthFailure> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthFailure::BadToken)?;
        let mut validation = Validation::new(header.alg);
        validation.leeway = 5;
        validation.validate_nbf = true;
        // A configured issuer or audience must also be present, not only match when present.
        let mut required = vec!["exp", "sub"];
        if self.issuer.is_some() {
            required.push("iss");
        }
        if self.audience.is_some() {
            required.push("aud");
        }
        validation.set_required_spec_claims(&required);
        if let Some(iss) = &self.issuer {
            validation.set_issuer(&[iss]);
        }
        match &self.audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        let mut expired = false;
        let remote = self.remote.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        for (kid, alg, key) in self.keys.iter().chain(remote.iter()) {
            if *alg != header.alg || (kid.is_some() && header.kid.is_some() && kid != &header.kid) {
                continue;
            }
            match jsonwebtoken::decode::<HashMap<String, serde_json::Value>>(token, key, &validation) {
                Ok(data) => return self.claims(&data.claims),
                Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::ExpiredSignature) => expired = true,
                Err(_) => {}
            }
        }
        Err(if expired {
            AuthFailure::Expired
        } else {
            AuthFailure::BadToken
        })
    }

    fn claims(&self, c: &HashMap<String, serde_json::Value>) -> Result<TokenClaims, AuthFailure> {
        if self.issuer.is_some() && !c.contains_key("iss") {
            return Err(AuthFailure::BadToken);
        }
        let text = |k: &str| c.get(k).and_then(serde_json::Value::as_str).map(str::to_string);
        let subject = text("sub").ok_or(AuthFailure::BadClaims)?;
        let tenant = text(&self.tenant_claim).ok_or(AuthFailure::BadClaims)?;
        let role = text(&self.role_claim)
            .and_then(|r| Role::parse(&r))
            .ok_or(AuthFailure::BadClaims)?;
        Ok(TokenClaims { subject, tenant, role })
    }
}

impl JwtVerifier {
    /// The JWKS URL, when keys come from one.
    #[must_use]
    pub fn jwks_url(&self) -> Option<&str> {
        self.jwks_url.as_deref()
    }

    /// Fetch the JWKS URL now and replace the fetched keys (blocking: call it off the async
    /// threads). A failed fetch keeps the keys of the last good one. Returns the keys fetched.
    pub fn refresh(&self) -> Result<usize, String> {
        let Some(url) = &self.jwks_url else { return Ok(0) };
        let client = reqwest::blocking::Client::builder()
            .timeout(std::time::Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("jwt.jwks_url: {e}"))?;
        let resp = client.get(url).send().map_err(|e| format!("jwt.jwks_url: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("jwt.jwks_url: {url}: HTTP {}", resp.status()));
        }
        // A key set is small: read at most 1 MiB of it.
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut std::io::Read::take(resp, 1 << 20), &mut body)
            .map_err(|e| format!("jwt.jwks_url: {e}"))?;
        let keys = parse_jwks(&String::from_utf8_lossy(&body)).map_err(|e| format!("jwt.jwks_url: {url}: {e}"))?;
        let n = keys.len();
        *self.remote.write().unwrap_or_else(std::sync::PoisonError::into_inner) = keys;
        Ok(n)
    }
}

/// Keys of a JWKS document; each needs its own usable `alg`.
fn parse_jwks(text: &str) -> Result<Keys, String> {
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let mut keys = Vec::new();
    for jwk in &set.keys {
        let alg = jwk_algorithm(jwk).ok_or_else(|| format!("key {:?} has no usable \"alg\"", jwk.common.key_id))?;
        let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
        keys.push((jwk.common.key_id.clone(), alg, key));
    }
    Ok(keys)
}

fn jwk_algorithm(jwk: &jsonwebtoken::jwk::Jwk) -> Option<Algorithm> {
    use jsonwebtoken::jwk::KeyAlgorithm as K;
    match jwk.common.key_algorithm? {
        K::HS256 => Some(Algorithm::HS256),
        K::RS256 => Some(Algorithm::RS256),
        K::EdDSA => Some(Algorithm::EdDSA),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_compare() {
        let k = new_key();
        let (id, secret) = parse_key(&k.token).unwrap();
        assert_eq!(id, k.id);
        assert!(secret_matches(secret, &k.hash));
        assert!(!secret_matches(&secret.replace(|_c: char| true, "A")[..43], &k.hash));
        assert_eq!(parse_key("sk_short_x"), None);
        assert_eq!(parse_key(&k.token.replace("sk_", "pk_")), None);
        assert_ne!(new_key().token, k.token);
    }
}

#[cfg(test)]
mod jwt_tests {
    use super::*;

    #[test]
    fn hs256_round_trip() {
        std::env::set_var("STOCKADE_TEST_HS", "0123456789abcdef0123456789abcdef");
        let s = JwtSettings {
            issuer: Some("https://i".into()),
            audience: Some("a".into()),
            hs256_secret_env: Some("STOCKADE_TEST_HS".into()),
            tenant_claim: "tenant".into(),
            role_claim: "role".into(),
            ..JwtSettings::default()
        };
        let v = JwtVerifier::from_settings(&s).unwrap().unwrap();
        let now = jsonwebtoken::get_current_timestamp();
        let claims = serde_json::json!({"sub": "x", "iss": "https://i", "aud": "a", "exp": now + 60, "nbf": now - 1, "tenant": "t", "role": "runner"});
        let tok = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef"),
        )
        .unwrap();
        assert_eq!(v.verify(&tok).map(|c| c.role), Ok(Role::Runner));
    }
}
