//! Roles, permissions, and the route table: every route of the API declares the permission it
//! needs here, in one place. The router refuses any request whose route is not in this table,
//! the OpenAPI document is generated from it, and a test walks every route × role against
//! the matrix in `docs/serve.md`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A role, held by an API key or granted by a JWT claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Everything, in every tenant.
    Admin,
    /// Its own tenant's keys, policy and usage; runs code; reads the tenant's runs and audit.
    TenantAdmin,
    /// Runs code; sees its own runs.
    Runner,
    /// Reads its tenant's runs, violations and audit; cannot run code.
    Auditor,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 4] = [Role::Admin, Role::TenantAdmin, Role::Runner, Role::Auditor];

    /// The name used in JSON, keys and tokens.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::TenantAdmin => "tenant-admin",
            Role::Runner => "runner",
            Role::Auditor => "auditor",
        }
    }

    /// Parse a role name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == s)
    }

    /// Whether this role holds `p`.
    #[must_use]
    pub fn allows(self, p: Permission) -> bool {
        use Permission as P;
        match self {
            Role::Admin => true,
            Role::TenantAdmin => !matches!(p, P::TenantsManage),
            Role::Runner => matches!(
                p,
                P::Public | P::RunsCreate | P::RunsRead | P::SessionsUse | P::PolicyRead
            ),
            Role::Auditor => matches!(
                p,
                P::Public | P::RunsRead | P::ViolationsRead | P::AuditRead | P::TenantRead | P::PolicyRead
            ),
        }
    }

    /// Whether a key holding this role may create or revoke keys of role `other` (no one grants
    /// more than they hold; only admins make admins).
    #[must_use]
    pub fn may_grant(self, other: Role) -> bool {
        match self {
            Role::Admin => true,
            Role::TenantAdmin => other != Role::Admin,
            Role::Runner | Role::Auditor => false,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// No authentication (health, metrics, the OpenAPI document).
    Public,
    /// Run code (runs and session cells).
    RunsCreate,
    /// Read runs (a runner: its own).
    RunsRead,
    /// Open, use and close sessions.
    SessionsUse,
    /// Read violations.
    ViolationsRead,
    /// Read the audit trail.
    AuditRead,
    /// Read the tenant (its quotas and usage).
    TenantRead,
    /// Create, list and revoke API keys.
    KeysManage,
    /// Read the tenant's policy.
    PolicyRead,
    /// Replace the tenant's policy.
    PolicyWrite,
    /// Create and change tenants (admins only).
    TenantsManage,
}

impl Permission {
    /// Its name in the documented matrix.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Permission::Public => "public",
            Permission::RunsCreate => "runs:create",
            Permission::RunsRead => "runs:read",
            Permission::SessionsUse => "sessions:use",
            Permission::ViolationsRead => "violations:read",
            Permission::AuditRead => "audit:read",
            Permission::TenantRead => "tenant:read",
            Permission::KeysManage => "keys:manage",
            Permission::PolicyRead => "policy:read",
            Permission::PolicyWrite => "policy:write",
            Permission::TenantsManage => "tenants:manage",
        }
    }
}

/// One route of the API.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// HTTP method.
    pub method: &'static str,
    /// Path as axum writes it (`{id}` for parameters), also the OpenAPI path.
    pub path: &'static str,
    /// The permission it needs.
    pub permission: Permission,
    /// The OpenAPI operation id.
    pub operation: &'static str,
    /// One line for the OpenAPI document.
    pub summary: &'static str,
}

const fn r(
    method: &'static str,
    path: &'static str,
    permission: Permission,
    operation: &'static str,
    summary: &'static str,
) -> Route {
    Route {
        method,
        path,
        permission,
        operation,
        summary,
    }
}

use Permission as P;

/// Every route of the service.
pub const ROUTES: &[Route] = &[
    r("GET", "/healthz", P::Public, "healthz", "The process is up"),
    r(
        "GET",
        "/readyz",
        P::Public,
        "readyz",
        "A warm worker is idle and the database answers",
    ),
    r("GET", "/metrics", P::Public, "metrics", "Prometheus metrics"),
    r("GET", "/v1/openapi.json", P::Public, "openapi", "This document"),
    r(
        "POST",
        "/v1/runs",
        P::RunsCreate,
        "create_run",
        "Run code (synchronously, streamed as server-sent events, or asynchronously)",
    ),
    r(
        "GET",
        "/v1/runs",
        P::RunsRead,
        "list_runs",
        "List runs (newest first, cursor paging)",
    ),
    r(
        "GET",
        "/v1/runs/{id}",
        P::RunsRead,
        "get_run",
        "One run, with its result when finished",
    ),
    r(
        "POST",
        "/v1/sessions",
        P::SessionsUse,
        "create_session",
        "Open a session (one interpreter whose cells share state)",
    ),
    r("GET", "/v1/sessions/{id}", P::SessionsUse, "get_session", "One session"),
    r(
        "POST",
        "/v1/sessions/{id}/runs",
        P::RunsCreate,
        "run_in_session",
        "Run a cell in a session",
    ),
    r(
        "DELETE",
        "/v1/sessions/{id}",
        P::SessionsUse,
        "close_session",
        "Close a session",
    ),
    r(
        "GET",
        "/v1/violations",
        P::ViolationsRead,
        "list_violations",
        "List guard violations (newest first)",
    ),
    r(
        "GET",
        "/v1/audit",
        P::AuditRead,
        "list_audit",
        "Read the audit trail (oldest first)",
    ),
    r(
        "GET",
        "/v1/tenants",
        P::TenantRead,
        "list_tenants",
        "List tenants (an admin: all; others: their own)",
    ),
    r(
        "POST",
        "/v1/tenants",
        P::TenantsManage,
        "create_tenant",
        "Create a tenant",
    ),
    r(
        "GET",
        "/v1/tenants/{id}",
        P::TenantRead,
        "get_tenant",
        "A tenant, its quotas and current usage",
    ),
    r(
        "PATCH",
        "/v1/tenants/{id}",
        P::TenantsManage,
        "update_tenant",
        "Change a tenant's name or quotas",
    ),
    r(
        "GET",
        "/v1/tenants/{id}/policy",
        P::PolicyRead,
        "get_policy",
        "The tenant's policy (TOML) and the effective policy",
    ),
    r(
        "PUT",
        "/v1/tenants/{id}/policy",
        P::PolicyWrite,
        "put_policy",
        "Replace the tenant's policy (validated; 422 names line, column and key)",
    ),
    r(
        "GET",
        "/v1/tenants/{id}/functions",
        P::PolicyRead,
        "list_functions",
        "The tenant's host functions (never their signing secrets)",
    ),
    r(
        "PUT",
        "/v1/tenants/{id}/functions/{name}",
        P::PolicyWrite,
        "put_function",
        "Register a host function (a webhook the server's functions.allow permits); its signing secret is shown once",
    ),
    r(
        "DELETE",
        "/v1/tenants/{id}/functions/{name}",
        P::PolicyWrite,
        "delete_function",
        "Remove a host function",
    ),
    r(
        "GET",
        "/v1/keys",
        P::KeysManage,
        "list_keys",
        "List API keys (never their secrets)",
    ),
    r(
        "POST",
        "/v1/keys",
        P::KeysManage,
        "create_key",
        "Create an API key (its secret is shown once)",
    ),
    r(
        "DELETE",
        "/v1/keys/{id}",
        P::KeysManage,
        "revoke_key",
        "Revoke an API key",
    ),
    r(
        "GET",
        "/v1/roles",
        P::Public,
        "list_roles",
        "The roles and the permissions each holds",
    ),
    // The dashboard (docs/dashboard.md): its pages need the permission of what they show.
    r("GET", "/ui", P::Public, "ui_root", "The dashboard (a redirect to /ui/)"),
    r("GET", "/ui/", P::Public, "ui_sign_in_page", "The dashboard: sign in"),
    r(
        "GET",
        "/ui/runs",
        P::RunsRead,
        "ui_runs_page",
        "The dashboard: runs, live",
    ),
    r(
        "GET",
        "/ui/runs/{id}",
        P::RunsRead,
        "ui_run_page",
        "The dashboard: one run",
    ),
    r(
        "GET",
        "/ui/charts",
        P::ViolationsRead,
        "ui_charts_page",
        "The dashboard: violations by rule and quota usage",
    ),
    r(
        "GET",
        "/ui/admin",
        P::KeysManage,
        "ui_admin_page",
        "The dashboard: tenants, keys and policies",
    ),
    r(
        "GET",
        "/ui/assets/{file}",
        P::Public,
        "ui_asset",
        "The dashboard's scripts and styles",
    ),
    r(
        "GET",
        "/ui/session",
        P::Public,
        "ui_session",
        "The dashboard session of the cookie (with its CSRF token)",
    ),
    r(
        "POST",
        "/ui/session",
        P::Public,
        "ui_sign_in",
        "Sign in to the dashboard with an API key or a JWT: a session cookie",
    ),
    r(
        "DELETE",
        "/ui/session",
        P::Public,
        "ui_sign_out",
        "Sign out of the dashboard (with the CSRF token)",
    ),
];

/// The route for a method and matched path.
#[must_use]
pub fn route(method: &str, path: &str) -> Option<&'static Route> {
    ROUTES.iter().find(|r| r.method == method && r.path == path)
}

/// Every permission, in matrix order.
pub const PERMISSIONS: [Permission; 11] = [
    P::Public,
    P::RunsCreate,
    P::RunsRead,
    P::SessionsUse,
    P::ViolationsRead,
    P::AuditRead,
    P::TenantRead,
    P::KeysManage,
    P::PolicyRead,
    P::PolicyWrite,
    P::TenantsManage,
];

/// The matrix as Markdown (`docs/serve.md` holds a copy; a test keeps them equal).
#[must_use]
pub fn matrix_markdown() -> String {
    let mut s = String::from("| permission |");
    for role in Role::ALL {
        s.push_str(&format!(" {role} |"));
    }
    s.push_str("\n|---|");
    s.push_str(&"---|".repeat(Role::ALL.len()));
    s.push('\n');
    for p in PERMISSIONS {
        s.push_str(&format!("| `{}` |", p.name()));
        for role in Role::ALL {
            s.push_str(if role.allows(p) { " yes |" } else { " — |" });
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_unique() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(
                    !(a.method == b.method && a.path == b.path),
                    "{} {} twice",
                    a.method,
                    a.path
                );
                assert_ne!(a.operation, b.operation);
            }
        }
    }

    #[test]
    fn nobody_grants_above_themselves() {
        assert!(!Role::TenantAdmin.may_grant(Role::Admin));
        assert!(!Role::Runner.may_grant(Role::Runner));
        assert!(!Role::Auditor.allows(Permission::RunsCreate));
        assert!(!Role::TenantAdmin.allows(Permission::TenantsManage));
    }
}
