//! `stockade serve`: the multi-tenant execution service over the run engine — JSON over HTTP
//! under `/v1` (OpenAPI 3.1 at `/v1/openapi.json`), API keys and JWTs, four roles, tenants
//! that never share a worker, quotas counted in the database, and a hash-chained audit store
//! on SQLite or PostgreSQL. `docs/serve.md` is the user's guide.

pub mod api;
pub mod audit;
pub mod auth;
pub mod config;
pub mod dashboard;
pub mod engine;
pub mod error;
pub mod functions;
pub mod metrics;
pub mod openapi;
pub mod policy;
pub mod records;
pub mod replicas;
pub mod roles;
pub mod server;
pub mod store;
pub mod telemetry;

pub use config::Settings;
pub use server::{open_store, serve, ServeError};
