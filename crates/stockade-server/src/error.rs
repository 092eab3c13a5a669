//! The one error body of the API: `{code, message, field}` (and `line`, `column` for a policy),
//! with the status it goes with. Nothing a client sends makes a 500.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use schemars::JsonSchema;
use serde::Serialize;

use crate::store::StoreError;

/// The body of an error response.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(rename = "Error")]
pub struct ErrorBody {
    /// A stable machine-readable code (`unauthorized`, `invalid_json`, `quota_exceeded`, ...).
    pub code: String,
    /// What is wrong, for people.
    pub message: String,
    /// The request field (or policy key) at fault, when there is one.
    pub field: Option<String>,
    /// For a policy: its line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// For a policy: its column.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
}

/// An error response: its status, `Retry-After`, and body.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: u16,
    retry_after: Option<u64>,
    /// The body.
    pub body: Box<ErrorBody>,
}

impl ApiError {
    /// An error with a status, a code and a message.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status: status.as_u16(),
            retry_after: None,
            body: Box::new(ErrorBody {
                code: code.into(),
                message: message.into(),
                field: None,
                line: None,
                column: None,
            }),
        }
    }

    /// Name the field at fault.
    #[must_use]
    pub fn field(mut self, f: impl Into<String>) -> ApiError {
        self.body.field = Some(f.into());
        self
    }

    /// Add `Retry-After`.
    #[must_use]
    pub fn retry_after(mut self, secs: u64) -> ApiError {
        self.retry_after = Some(secs.max(1));
        self
    }

    /// The status.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST)
    }

    /// 400.
    pub fn bad_request(code: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404 (also what another tenant's object looks like).
    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no such {what}"))
    }

    /// 403.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// A policy error: 422 with line, column and key.
    pub fn policy(e: &stockade_policy::PolicyError) -> ApiError {
        let mut err = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_policy", e.to_string());
        err.body.field = e.key.clone();
        err.body.line = e.line;
        err.body.column = e.column;
        err
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound => ApiError::not_found("object"),
            StoreError::Conflict => ApiError::new(StatusCode::CONFLICT, "conflict", "it already exists"),
            StoreError::Unavailable(m) => {
                tracing::warn!("database: {m}");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database_unavailable",
                    "the database is unavailable; retry later",
                )
                .retry_after(2)
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let retry = self.retry_after;
        let mut r = (status, axum::Json(self.body)).into_response();
        if let Some(s) = retry {
            if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        r
    }
}

/// Decode a JSON body into `T`, naming the field at fault.
pub fn decode<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    // serde would also read a struct from an array (`[null, null]`); a body is an object.
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {}
        None => {
            return Err(ApiError::bad_request(
                "invalid_json",
                "the body is empty; send a JSON object",
            ))
        }
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_request",
                "the body must be a JSON object",
            ))
        }
    }
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        let code = if e.is_syntax() || e.is_eof() {
            "invalid_json"
        } else {
            "invalid_request"
        };
        ApiError::bad_request(code, e.to_string())
    })?;
    // NUL cannot be stored as text (PostgreSQL refuses it) and has no business in code, names
    // or policies; only a run's input values may carry it (they are never stored).
    if let serde_json::Value::Object(map) = &value {
        for (k, v) in map {
            if k != "inputs" {
                if let Some(path) = nul_at(v, k) {
                    return Err(
                        ApiError::bad_request("invalid_request", "a NUL character is not allowed here").field(path),
                    );
                }
            }
        }
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let err = ApiError::bad_request("invalid_request", e.into_inner().to_string());
        if path == "." || path == "?" || path.is_empty() {
            err
        } else {
            err.field(path)
        }
    })
}

fn nul_at(v: &serde_json::Value, path: &str) -> Option<String> {
    match v {
        serde_json::Value::String(s) if s.contains('\0') => Some(path.to_string()),
        serde_json::Value::Array(a) => a
            .iter()
            .enumerate()
            .find_map(|(i, x)| nul_at(x, &format!("{path}[{i}]"))),
        serde_json::Value::Object(m) => m.iter().find_map(|(k, x)| {
            if k.contains('\0') {
                Some(path.to_string())
            } else {
                nul_at(x, &format!("{path}.{k}"))
            }
        }),
        _ => None,
    }
}

/// Decode a query string into `T`.
pub fn decode_query<T: serde::de::DeserializeOwned>(query: Option<&str>) -> Result<T, ApiError> {
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if k.contains('\0') || v.contains('\0') {
            return Err(ApiError::bad_request("invalid_query", "a NUL character is not allowed").field(k.into_owned()));
        }
    }
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.unwrap_or("").as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let err = ApiError::bad_request("invalid_query", e.into_inner().to_string());
        if path == "." || path.is_empty() {
            err
        } else {
            err.field(path)
        }
    })
}

/// `deserialize_with` for a nested struct: only a JSON object (serde would also read one from
/// an array).
pub fn object<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let map = <serde_json::Map<String, serde_json::Value> as serde::Deserialize>::deserialize(d)?;
    T::deserialize(serde_json::Value::Object(map)).map_err(serde::de::Error::custom)
}

/// [`object`] for an optional field.
pub fn opt_object<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let map = <Option<serde_json::Map<String, serde_json::Value>> as serde::Deserialize>::deserialize(d)?;
    map.map(|m| T::deserialize(serde_json::Value::Object(m)).map_err(serde::de::Error::custom))
        .transpose()
}
