//! Secret values (`env.secret`, `[secrets]`) replaced wherever a run's output, answer or report
//! reaches the caller. One rule for every place: a secret of 8 bytes or more becomes `[secret]`;
//! a shorter one becomes as many `*` as it has bytes. So redaction never makes anything longer —
//! a run cannot use a short secret to grow its output past the limits it was measured against.
//!
//! A secret is also found in its common encodings ([`forms`]): base64 (standard and URL-safe,
//! at any alignment inside a longer encoded string), percent-encoding and hex.

use base64::Engine as _;

/// Shortest encoded form that is masked: shorter ones would match ordinary text.
const MIN_FORM: usize = 8;

/// Every spelling of `secret` that is masked: itself, then its encodings (each once).
#[must_use]
pub fn forms(secret: &str) -> Vec<String> {
    let mut out = vec![secret.to_string()];
    if secret.is_empty() {
        return Vec::new();
    }
    let bytes = secret.as_bytes();
    let mut add = |f: String| {
        if f.len() >= MIN_FORM && !out.contains(&f) {
            out.push(f);
        }
    };
    for engine in [
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ] {
        // Inside a longer encoded string the secret starts at one of three bit offsets; the
        // characters made only of the secret's bits are the same whatever surrounds it.
        for k in 0..3usize {
            let mut input = vec![0u8; k];
            input.extend_from_slice(bytes);
            let enc = engine.encode(&input);
            let first = (8 * k).div_ceil(6);
            let end = (8 * (k + bytes.len())) / 6;
            if end > first {
                add(enc[first..end].to_string());
            }
        }
    }
    let mut upper = String::new();
    let mut lower = String::new();
    let mut plus = String::new();
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            upper.push(char::from(b));
            lower.push(char::from(b));
            plus.push(char::from(b));
        } else {
            upper.push_str(&format!("%{b:02X}"));
            lower.push_str(&format!("%{b:02x}"));
            if b == b' ' {
                plus.push('+');
            } else {
                plus.push_str(&format!("%{b:02X}"));
            }
        }
    }
    add(upper);
    add(lower);
    add(plus);
    add(bytes.iter().map(|b| format!("{b:02x}")).collect());
    add(bytes.iter().map(|b| format!("{b:02X}")).collect());
    out
}

/// What replaces a secret of `len` bytes.
#[must_use]
pub fn marker(len: usize) -> std::borrow::Cow<'static, str> {
    const MARK: &str = "[secret]";
    if len >= MARK.len() {
        std::borrow::Cow::Borrowed(MARK)
    } else {
        std::borrow::Cow::Owned("*".repeat(len))
    }
}

/// `text` with every secret replaced.
#[must_use]
pub fn text(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        for s in forms(secret) {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), &marker(s.len()));
            }
        }
    }
    out
}

/// `haystack` with every secret, in every form, replaced.
#[must_use]
pub fn all_bytes(haystack: &[u8], secrets: &[String]) -> Vec<u8> {
    let mut out = haystack.to_vec();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        for s in forms(secret) {
            out = bytes(&out, s.as_bytes());
        }
    }
    out
}

/// `haystack` with every occurrence of the secret `needle` replaced.
#[must_use]
pub fn bytes(haystack: &[u8], needle: &[u8]) -> Vec<u8> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return haystack.to_vec();
    }
    let with = marker(needle.len());
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(needle) {
            out.extend_from_slice(with.as_bytes());
            i += needle.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_longer() {
        let secrets = vec!["1".to_string(), "hunter2".to_string(), "AKIA/LONGSECRET".to_string()];
        for input in ["1111", "hunter2hunter2", "x AKIA/LONGSECRET y", "none"] {
            let out = text(input, &secrets);
            assert!(out.len() <= input.len(), "{input:?} -> {out:?}");
            for s in &secrets {
                assert!(!out.contains(s.as_str()), "{input:?} -> {out:?}");
            }
        }
        assert_eq!(text("key=AKIA/LONGSECRET", &secrets), "key=[secret]");
        assert_eq!(text("pw hunter2", &secrets), "pw *******");
        assert_eq!(bytes(b"1111", b"1"), b"****");
    }

    #[test]
    fn encoded_forms_are_masked_at_any_alignment() {
        use base64::Engine as _;
        let secret = "sk-live-51Hx+/=?&% end".to_string();
        let secrets = vec![secret.clone()];
        let std = base64::engine::general_purpose::STANDARD;
        let url = base64::engine::general_purpose::URL_SAFE;
        for prefix in ["", "a", "ab", "abc", "Authorization: Basic "] {
            for engine in [&std, &url] {
                let enc = engine.encode(format!("{prefix}{secret}!!"));
                let out = text(&enc, &secrets);
                assert!(out.contains("[secret]"), "{prefix:?}: {enc} -> {out}");
            }
        }
        let hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
        assert_eq!(text(&format!("x{hex}y"), &secrets), "x[secret]y");
        assert_eq!(text(&hex.to_uppercase(), &secrets), "[secret]");
        assert_eq!(text("q=sk-live-51Hx%2B%2F%3D%3F%26%25%20end", &secrets), "q=[secret]");
        assert_eq!(text("q=sk-live-51Hx%2B%2F%3D%3F%26%25+end", &secrets), "q=[secret]");
        assert_eq!(all_bytes(hex.as_bytes(), &secrets), b"[secret]");
        // Never longer, whatever the form.
        for input in [hex.clone(), std.encode(&secret)] {
            assert!(text(&input, &secrets).len() <= input.len());
        }
        // Ordinary text is left alone.
        assert_eq!(text("hello world 12345678", &secrets), "hello world 12345678");
    }
}
