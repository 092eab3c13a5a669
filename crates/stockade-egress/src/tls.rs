//! The server name in a TLS ClientHello, read with rustls's parser (no handshake is made).

/// What the bytes so far say.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Hello {
    /// A whole ClientHello, with its SNI host name if it has one.
    Complete(Option<String>),
    /// More bytes are needed.
    Partial,
    /// Not a ClientHello.
    Invalid(String),
}

/// Parse the ClientHello at the start of `bytes` (the first bytes the code sent in a tunnel).
pub(crate) fn client_hello_sni(bytes: &[u8]) -> Hello {
    let mut acceptor = rustls::server::Acceptor::default();
    let mut cursor = std::io::Cursor::new(bytes);
    while usize::try_from(cursor.position()).unwrap_or(usize::MAX) < bytes.len() {
        match acceptor.read_tls(&mut cursor) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => return Hello::Invalid(e.to_string()),
        }
    }
    match acceptor.accept() {
        Ok(Some(accepted)) => Hello::Complete(accepted.client_hello().server_name().map(str::to_owned)),
        Ok(None) => Hello::Partial,
        Err((e, _alert)) => Hello::Invalid(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ClientHello as rustls's own client writes it for `name`.
    fn hello(name: &str) -> Vec<u8> {
        use std::sync::Arc;
        // ring is the provider this workspace already builds (no aws-lc); the test only needs
        // a ClientHello, not post-quantum key exchange.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        let server = rustls::pki_types::ServerName::try_from(name.to_owned()).unwrap();
        let mut conn = rustls::ClientConnection::new(Arc::new(config), server).unwrap();
        let mut out = Vec::new();
        conn.write_tls(&mut out).unwrap();
        out
    }

    #[test]
    fn reads_the_name_whole_or_in_pieces() {
        let h = hello("api.example.com");
        assert_eq!(client_hello_sni(&h), Hello::Complete(Some("api.example.com".into())));
        assert_eq!(client_hello_sni(&h[..h.len() / 2]), Hello::Partial);
        assert_eq!(client_hello_sni(&h[..3]), Hello::Partial);
        assert_eq!(client_hello_sni(&hello("127.0.0.1")), Hello::Complete(None));
        assert!(matches!(
            client_hello_sni(b"\x16\x03\x01\x00\x05hello"),
            Hello::Invalid(_)
        ));
        assert!(matches!(client_hello_sni(b"GET / HTTP/1.1\r\n\r\n"), Hello::Invalid(_)));
    }
}
