//! OpenTelemetry traces over OTLP/HTTP (JSON), off unless `otlp_endpoint` is set: a server span
//! per request (method, route, status, tenant, role) and a child span per run (run id, status,
//! queue wait, wall time, violations). Nothing secret is ever an attribute: no key, no token,
//! no code, no output.

use std::time::Duration;

use opentelemetry::trace::{Span as _, SpanContext, SpanKind, TraceContextExt, Tracer as _, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider, Span};
use opentelemetry_sdk::Resource;

/// The tracer and its exporter.
pub struct Telemetry {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
}

impl Telemetry {
    /// Export to `endpoint` (`http://host:4318`; spans go to `/v1/traces`).
    pub fn start(endpoint: &str) -> Result<Telemetry, String> {
        let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
        // The exporter's blocking HTTP client must not be made on an async runtime's thread.
        let built = std::thread::spawn(move || {
            opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpJson)
                .with_endpoint(url)
                .with_timeout(Duration::from_secs(5))
                .build()
                .map_err(|e| format!("otlp_endpoint: {e}"))
        })
        .join()
        .map_err(|_| "otlp_endpoint: the exporter could not be built".to_string())??;
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(built)
            .with_resource(Resource::builder().with_service_name("stockade").build())
            .build();
        let tracer = provider.tracer("stockade-server");
        Ok(Telemetry { provider, tracer })
    }

    /// A server span for one request.
    #[must_use]
    pub fn request(&self, method: &str, route: &str) -> Span {
        self.tracer
            .span_builder(format!("{method} {route}"))
            .with_kind(SpanKind::Server)
            .with_attributes([
                KeyValue::new("http.request.method", method.to_string()),
                KeyValue::new("http.route", route.to_string()),
            ])
            .start(&self.tracer)
    }

    /// A run's span, a child of the request that started it.
    #[must_use]
    pub fn run(&self, parent: Option<&SpanContext>, run_id: &str, tenant: &str) -> Span {
        let cx = parent.map_or_else(Context::new, |p| Context::new().with_remote_span_context(p.clone()));
        self.tracer.build_with_context(
            self.tracer
                .span_builder("run")
                .with_kind(SpanKind::Internal)
                .with_attributes([
                    KeyValue::new("stockade.run.id", run_id.to_string()),
                    KeyValue::new("stockade.tenant", tenant.to_string()),
                ]),
            &cx,
        )
    }

    /// Flush and stop (at shutdown; blocks, so call it off the async threads).
    pub fn shutdown(&self) {
        if let Err(e) = self.provider.force_flush() {
            eprintln!("stockade serve: traces: {e}");
        }
        let _ = self.provider.shutdown();
    }
}

/// Record the end of a span with attributes.
pub fn end(mut span: Span, attributes: Vec<KeyValue>) {
    span.set_attributes(attributes);
    span.end();
}

/// The span context of a span (to parent runs on it).
#[must_use]
pub fn context_of(span: &Span) -> SpanContext {
    span.span_context().clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn spans_are_exported() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let h = std::thread::spawn(move || {
            let (mut c, _) = l.accept().unwrap();
            let mut buf = vec![0u8; 65536];
            let n = c.read(&mut buf).unwrap();
            let _ = c.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: application/json\r\n\r\n{}");
            String::from_utf8_lossy(&buf[..n]).to_string()
        });
        let t = Telemetry::start(&format!("http://127.0.0.1:{port}")).unwrap();
        end(t.request("GET", "/x"), vec![]);
        t.shutdown();
        let got = h.join().unwrap();
        assert!(got.starts_with("POST /v1/traces"), "{got}");
    }
}
