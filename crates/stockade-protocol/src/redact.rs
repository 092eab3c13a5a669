//! Secret values (`env.secret`) replaced wherever a run's output, answer or report reaches the
//! caller. One rule for every place: a secret of 8 bytes or more becomes `[secret]`; a shorter
//! one becomes as many `*` as it has bytes. So redaction never makes anything longer — a run
//! cannot use a short secret to grow its output past the limits it was measured against.

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
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), &marker(s.len()));
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
}
