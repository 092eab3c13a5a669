//! The OpenAPI 3.1 document, generated from the code: paths and permissions from the route
//! table ([`crate::roles::ROUTES`]), bodies and responses from the Rust types (schemars), the
//! run result from the protocol crate's type — the same schema as `stockade.run`'s.

use schemars::gen::{SchemaGenerator, SchemaSettings};
use schemars::JsonSchema;
use serde_json::{json, Map, Value};
use stockade_protocol::RunResult;

use crate::api::{
    Accepted, CreatedKey, KeyQuery, KeyRequest, PolicyRequest, PolicyView, RoleInfo, RunRequest, SessionRequest,
    TenantPatch, TenantRequest, TenantView,
};
use crate::audit::{AuditQuery, AuditRecord};
use crate::error::ErrorBody;
use crate::functions::{FunctionRequest, FunctionView, RegisteredFunction};
use crate::records::{ApiKey, RunQuery, RunRecord, RunSummary, SessionRecord, Tenant, ViolationQuery, ViolationRecord};
use crate::roles::{Permission, ROUTES};
use crate::store::Page;

struct Shapes {
    body: Option<Value>,
    query: Option<Value>,
    ok: (u16, Option<Value>),
}

fn schema<T: JsonSchema>(g: &mut SchemaGenerator) -> Value {
    serde_json::to_value(g.subschema_for::<T>()).unwrap_or(Value::Null)
}

fn query<T: JsonSchema>(g: &mut SchemaGenerator) -> Value {
    serde_json::to_value(g.root_schema_for::<T>().schema).unwrap_or(Value::Null)
}

fn shapes(op: &str, g: &mut SchemaGenerator) -> Shapes {
    let s = |body, query, status, ok| Shapes {
        body,
        query,
        ok: (status, ok),
    };
    match op {
        "healthz" | "readyz" | "metrics" | "openapi" => s(None, None, 200, None),
        "list_roles" => s(None, None, 200, Some(schema::<Vec<RoleInfo>>(g))),
        "create_run" | "run_in_session" => s(Some(schema::<RunRequest>(g)), None, 200, Some(schema::<RunResult>(g))),
        "list_runs" => s(
            None,
            Some(query::<RunQuery>(g)),
            200,
            Some(schema::<Page<RunSummary>>(g)),
        ),
        "get_run" => s(None, None, 200, Some(schema::<RunRecord>(g))),
        "create_session" => s(
            Some(schema::<SessionRequest>(g)),
            None,
            201,
            Some(schema::<SessionRecord>(g)),
        ),
        "get_session" => s(None, None, 200, Some(schema::<SessionRecord>(g))),
        "close_session" | "revoke_key" => s(None, None, 204, None),
        "list_violations" => s(
            None,
            Some(query::<ViolationQuery>(g)),
            200,
            Some(schema::<Page<ViolationRecord>>(g)),
        ),
        "list_audit" => s(
            None,
            Some(query::<AuditQuery>(g)),
            200,
            Some(schema::<Page<AuditRecord>>(g)),
        ),
        "list_tenants" => s(None, None, 200, Some(schema::<Vec<Tenant>>(g))),
        "create_tenant" => s(Some(schema::<TenantRequest>(g)), None, 201, Some(schema::<Tenant>(g))),
        "get_tenant" => s(None, None, 200, Some(schema::<TenantView>(g))),
        "update_tenant" => s(Some(schema::<TenantPatch>(g)), None, 200, Some(schema::<Tenant>(g))),
        "get_policy" => s(None, None, 200, Some(schema::<PolicyView>(g))),
        "put_policy" => s(
            Some(schema::<PolicyRequest>(g)),
            None,
            200,
            Some(schema::<PolicyView>(g)),
        ),
        "list_functions" => s(None, None, 200, Some(schema::<Vec<FunctionView>>(g))),
        "put_function" => s(
            Some(schema::<FunctionRequest>(g)),
            None,
            201,
            Some(schema::<RegisteredFunction>(g)),
        ),
        "delete_function" => s(None, None, 204, None),
        "list_keys" => s(None, Some(query::<KeyQuery>(g)), 200, Some(schema::<Vec<ApiKey>>(g))),
        "create_key" => s(Some(schema::<KeyRequest>(g)), None, 201, Some(schema::<CreatedKey>(g))),
        _ => s(None, None, 200, None),
    }
}

const ERRORS: &[(u16, &str)] = &[
    (400, "Malformed JSON, a wrong type, an unknown field, a bad query"),
    (401, "No key or token, or one that is wrong, revoked or expired"),
    (403, "The role does not hold the route's permission"),
    (404, "No such object (another tenant's objects look absent)"),
    (405, "The route does not take this method"),
    (408, "The body did not arrive in time"),
    (409, "It already exists, or is already revoked"),
    (410, "The session is closed"),
    (413, "The body is larger than the tenant's quota"),
    (
        422,
        "A policy, quota or override that is not allowed (policies name line, column and key)",
    ),
    (429, "A quota or the global queue is full (see Retry-After)"),
    (
        503,
        "The database is unavailable, the jail could not be built, or the server is shutting down",
    ),
];

/// The whole document.
#[must_use]
pub fn document() -> Value {
    let mut g = SchemaSettings::draft2019_09()
        .with(|s| {
            s.definitions_path = "#/components/schemas/".into();
            s.meta_schema = None;
        })
        .into_generator();
    let error = schema::<ErrorBody>(&mut g);
    let mut paths = Map::new();
    for r in ROUTES {
        if let Some(op) = crate::dashboard::openapi_operation(r, &mut g) {
            paths.entry(r.path.to_string()).or_insert_with(|| json!({}))[r.method.to_ascii_lowercase().as_str()] = op;
            continue;
        }
        let sh = shapes(r.operation, &mut g);
        let mut op = Map::new();
        op.insert("operationId".into(), json!(r.operation));
        op.insert("summary".into(), json!(r.summary));
        op.insert("x-permission".into(), json!(r.permission.name()));
        let mut params = Vec::new();
        for name in ["id", "name"] {
            if r.path.contains(&format!("{{{name}}}")) {
                params.push(json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}));
            }
        }
        if let Some(q) = &sh.query {
            if let Some(props) = q.get("properties").and_then(Value::as_object) {
                for (name, s) in props {
                    let mut s = s.clone();
                    if let Some(obj) = s.as_object_mut() {
                        let desc = obj.remove("description");
                        // A query parameter is absent or a value; never JSON null.
                        if let Some(Value::Array(types)) = obj.get("type").cloned() {
                            let t: Vec<Value> = types.into_iter().filter(|t| t != "null").collect();
                            obj.insert("type".into(), t.first().cloned().unwrap_or(json!("string")));
                        }
                        params.push(
                            json!({"name": name, "in": "query", "required": false, "schema": s, "description": desc}),
                        );
                    }
                }
            }
        }
        if r.operation == "create_run" || r.operation == "run_in_session" {
            params.push(json!({"name": "Accept", "in": "header", "required": false,
                "description": "text/event-stream: stream stdout, stderr and violations as server-sent events, then the result",
                "schema": {"type": "string"}}));
        }
        if !params.is_empty() {
            op.insert("parameters".into(), Value::Array(params));
        }
        if let Some(b) = sh.body {
            op.insert(
                "requestBody".into(),
                json!({"required": r.operation != "create_session", "content": {"application/json": {"schema": b}}}),
            );
        }
        let mut responses = Map::new();
        let ok_content = match (r.operation, &sh.ok.1) {
            ("metrics", _) => json!({"text/plain": {"schema": {"type": "string"}}}),
            ("create_run" | "run_in_session", Some(s)) => json!({
                "application/json": {"schema": s},
                "text/event-stream": {"schema": {"type": "string"}}
            }),
            ("healthz" | "readyz" | "openapi", _) => json!({"application/json": {"schema": {"type": "object"}}}),
            (_, Some(s)) => json!({"application/json": {"schema": s}}),
            (_, None) => Value::Null,
        };
        let mut ok = json!({"description": "Success"});
        if !ok_content.is_null() {
            ok["content"] = ok_content;
        }
        if r.operation == "put_function" {
            // 201 for a new name, 200 for a registration that replaces one.
            responses.insert("200".into(), ok.clone());
        }
        responses.insert(sh.ok.0.to_string(), ok);
        if r.operation == "create_run" || r.operation == "run_in_session" {
            responses.insert(
                "202".into(),
                json!({"description": "Accepted (\"async\": true)", "content": {"application/json": {"schema": schema::<Accepted>(&mut g)}}}),
            );
        }
        for (status, why) in ERRORS {
            let public = r.permission == Permission::Public;
            if public && !(*status == 405 || (*status == 503 && r.operation == "readyz")) {
                continue;
            }
            responses.insert(
                status.to_string(),
                json!({"description": why, "content": {"application/json": {"schema": error}}}),
            );
        }
        op.insert("responses".into(), Value::Object(responses));
        if r.permission != Permission::Public {
            op.insert("security".into(), json!([{"bearer": []}]));
        }
        let entry = paths
            .entry(r.path.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(obj) = entry.as_object_mut() {
            obj.insert(r.method.to_ascii_lowercase(), Value::Object(op));
        }
    }
    let schemas: Map<String, Value> = g
        .take_definitions()
        .into_iter()
        .map(|(k, v)| (k, serde_json::to_value(v).unwrap_or(Value::Null)))
        .collect();
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "stockade",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Run untrusted Python in jails, for many tenants. See docs/serve.md."
        },
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                "description": "An API key (sk_…) or a JWT"}}
        }
    })
}
