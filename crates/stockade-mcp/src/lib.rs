//! `stockade mcp`: stockade as a Model Context Protocol server (docs/mcp.md). Tools run Python
//! in a jail under the policy chosen at start — `run_python` on a warm pool, and
//! `open_session` / `run_in_session` / `close_session` for a session that keeps its variables
//! and files between calls — over stdio or streamable HTTP. Thin over the run engine's client
//! (`stockade_runner::client`), which does every isolation step.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, ServerCapabilities, ServerConfig};
use rmcp::{schemars, tool, tool_handler, tool_router, ErrorData, ServerHandler};
use serde::Deserialize;
use stockade_protocol::caller::{Mode, RunSpec, Start};
use stockade_protocol::RunResult;
use stockade_runner::client::{self, ClientError, Launcher};

pub mod http;

/// What every connection shares: the policy, and one warm pool for `run_python`.
pub struct Engine {
    launcher: Launcher,
    policy_toml: String,
    output: u64,
    pool_size: usize,
    max_sessions: usize,
    pool: tokio::sync::OnceCell<Arc<client::Pool>>,
}

impl Engine {
    /// An engine for `policy_toml` (the effective policy) whose runs keep `output` bytes per
    /// stream; the pool of `pool_size` workers starts with the first run.
    #[must_use]
    pub fn new(launcher: Launcher, policy_toml: String, output: u64, pool_size: usize, max_sessions: usize) -> Engine {
        Engine {
            launcher,
            policy_toml,
            output,
            pool_size: pool_size.max(1),
            max_sessions: max_sessions.max(1),
            pool: tokio::sync::OnceCell::new(),
        }
    }

    fn start(&self, mode: Mode) -> Start {
        Start {
            mode,
            policy: self.policy_toml.clone(),
            preload: Vec::new(),
            lifetime_ms: None,
        }
    }

    async fn pool(&self) -> Result<Arc<client::Pool>, Failed> {
        self.pool
            .get_or_try_init(|| async {
                let (launcher, start, output, size) = (
                    self.launcher.clone(),
                    self.start(Mode::Pool),
                    self.output,
                    self.pool_size,
                );
                blocking(move || client::Pool::new(launcher, start, output, size).map(Arc::new)).await
            })
            .await
            .cloned()
    }
}

/// Why a tool call failed. A model reads these in the tool's result (`isError`) and can correct
/// its call; only a failure of the server itself is a protocol error.
enum Failed {
    /// The call or the engine said no (a bad input name, an unknown session, a missing layer).
    Tool(String),
    /// The server failed.
    Server(ErrorData),
}

impl From<ErrorData> for Failed {
    fn from(e: ErrorData) -> Failed {
        Failed::Server(e)
    }
}

fn finish(r: Result<CallToolResult, Failed>) -> Result<CallToolResult, ErrorData> {
    match r {
        Ok(ok) => Ok(ok),
        Err(Failed::Tool(message)) => Ok(CallToolResult::error(vec![ContentBlock::text(message)])),
        Err(Failed::Server(e)) => Err(e),
    }
}

/// Run a blocking engine call off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, ClientError> + Send + 'static) -> Result<T, Failed> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Failed::Tool(e.to_string())),
        Err(e) => Err(Failed::Server(ErrorData::internal_error(
            format!("the run's thread failed: {e}"),
            None,
        ))),
    }
}

/// The sessions one MCP connection opened; closed when the connection ends.
#[derive(Default)]
struct Sessions(Mutex<HashMap<String, Arc<client::Session>>>);

impl Drop for Sessions {
    fn drop(&mut self) {
        let open: Vec<_> = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .drain()
            .map(|(_, s)| s)
            .collect();
        if !open.is_empty() {
            // Closing waits for each jail to go; not on the runtime's threads.
            std::thread::spawn(move || open.iter().for_each(|s| s.close()));
        }
    }
}

/// The MCP server of one connection.
#[derive(Clone)]
pub struct StockadeMcp {
    engine: Arc<Engine>,
    sessions: Arc<Sessions>,
    #[allow(dead_code)] // read by the tool_handler macro
    tool_router: ToolRouter<Self>,
}

/// Arguments of `run_python` and `run_in_session`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunArgs {
    /// Python source. Its value is the variable `result` if it sets one, else its last
    /// expression; print() output is returned too.
    pub code: String,
    /// Variables bound before the code runs (name → JSON value).
    #[serde(default)]
    pub inputs: BTreeMap<String, serde_json::Value>,
    /// Text files placed in the working directory (name → contents).
    #[serde(default)]
    pub files: BTreeMap<String, String>,
    /// A wall-time limit in milliseconds, at most the policy's.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

/// Arguments of `run_in_session`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionRunArgs {
    /// The id `open_session` returned.
    pub session_id: String,
    /// Python source, run in the session's namespace (variables, imports and files persist).
    pub code: String,
    /// Variables bound before the code runs (name → JSON value).
    #[serde(default)]
    pub inputs: BTreeMap<String, serde_json::Value>,
    /// Text files placed in the session's working directory (name → contents).
    #[serde(default)]
    pub files: BTreeMap<String, String>,
    /// A wall-time limit in milliseconds, at most the policy's.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

/// Arguments of `close_session`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionId {
    /// The id `open_session` returned.
    pub session_id: String,
}

fn spec(
    code: String,
    inputs: BTreeMap<String, serde_json::Value>,
    files: BTreeMap<String, String>,
    timeout_ms: Option<u64>,
) -> Result<RunSpec, Failed> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let spec = RunSpec {
        code,
        // Plain JSON is its own typed encoding (docs/values.md).
        inputs,
        files: files.into_iter().map(|(k, v)| (k, b64.encode(v))).collect(),
        stdin: None,
        timeout_ms,
        stream: false,
        functions: None,
    };
    spec.validate().map_err(Failed::Tool)?;
    Ok(spec)
}

/// The tool's answer: the whole result document as structured content, and a short text a
/// model reads (status, value or error, stdout, stderr); an error when the code did not finish
/// cleanly.
fn answer(result: &RunResult) -> CallToolResult {
    let mut text = format!("status: {}\n", result.status.name());
    if let Some(reason) = &result.reason {
        text.push_str(&format!("reason: {reason}\n"));
    }
    let mut failed = result.status.name() != "ok";
    if let Some(a) = &result.answer {
        if let Some(e) = &a.error {
            failed = true;
            text.push_str(&format!("error: {}: {}\n", e.kind, e.message));
            if !e.traceback.is_empty() {
                text.push_str(&format!("traceback:\n{}\n", e.traceback));
            }
        } else if !a.value.is_null() {
            text.push_str(&format!("value: {}\n", a.value));
        }
    }
    if !result.stdout.is_empty() {
        text.push_str(&format!("stdout:\n{}\n", result.stdout));
    }
    if !result.stderr.is_empty() && result.answer.as_ref().is_none_or(|a| a.error.is_none()) {
        text.push_str(&format!("stderr:\n{}\n", result.stderr));
    }
    for v in &result.violations {
        text.push_str(&format!("refused: {} ({})\n", v.reason, v.rule));
    }
    let mut out = CallToolResult::success(vec![ContentBlock::text(text)]);
    out.structured_content = serde_json::to_value(result).ok();
    out.is_error = Some(failed);
    out
}

fn json_answer(value: &serde_json::Value) -> CallToolResult {
    let mut out = CallToolResult::success(vec![ContentBlock::text(value.to_string())]);
    out.structured_content = Some(value.clone());
    out
}

#[tool_router]
impl StockadeMcp {
    /// A server for one connection.
    #[must_use]
    pub fn new(engine: Arc<Engine>) -> StockadeMcp {
        StockadeMcp {
            engine,
            sessions: Arc::new(Sessions::default()),
            tool_router: Self::tool_router(),
        }
    }

    #[tool(
        description = "Run Python code in a fresh, isolated sandbox (a stockade jail: no network unless the server's policy gives it, no host files, limited CPU, memory and time). Returns the value of the code (the variable `result`, or its last expression), its stdout and stderr, and the full result document as structured content."
    )]
    async fn run_python(&self, Parameters(args): Parameters<RunArgs>) -> Result<CallToolResult, ErrorData> {
        finish(
            async {
                let spec = spec(args.code, args.inputs, args.files, args.timeout_ms)?;
                let pool = self.engine.pool().await?;
                let result = blocking(move || pool.run(&spec, &mut |_| {})).await?;
                Ok(answer(&result))
            }
            .await,
        )
    }

    #[tool(
        description = "Open a sandbox session: a Python process in its own jail whose variables, imports and files persist between run_in_session calls. Returns its session_id."
    )]
    async fn open_session(&self) -> Result<CallToolResult, ErrorData> {
        finish(self.open().await)
    }

    #[tool(description = "Run Python code in an open session (its namespace, imports and files persist).")]
    async fn run_in_session(&self, Parameters(args): Parameters<SessionRunArgs>) -> Result<CallToolResult, ErrorData> {
        finish(
            async {
                let session = self.session(&args.session_id)?;
                let spec = spec(args.code, args.inputs, args.files, args.timeout_ms)?;
                let result = blocking(move || session.run(&spec, &mut |_| {})).await?;
                Ok(answer(&result))
            }
            .await,
        )
    }

    #[tool(description = "Close a session and end its sandbox.")]
    async fn close_session(&self, Parameters(args): Parameters<SessionId>) -> Result<CallToolResult, ErrorData> {
        finish(
            async {
                let session = self
                    .sessions
                    .0
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .remove(&args.session_id)
                    .ok_or_else(|| unknown_session(&args.session_id))?;
                blocking(move || {
                    session.close();
                    Ok(())
                })
                .await?;
                Ok(json_answer(&serde_json::json!({ "closed": args.session_id })))
            }
            .await,
        )
    }
}

impl StockadeMcp {
    async fn open(&self) -> Result<CallToolResult, Failed> {
        let open = self
            .sessions
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len();
        if open >= self.engine.max_sessions {
            return Err(Failed::Tool(format!(
                "this connection has {open} sessions open (the limit); close one first"
            )));
        }
        let (launcher, start, output) = (
            self.engine.launcher.clone(),
            self.engine.start(Mode::Session),
            self.engine.output,
        );
        let session = blocking(move || client::Session::new(&launcher, &start, output)).await?;
        let id = format!("s_{}", random_hex(12));
        self.sessions
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id.clone(), Arc::new(session));
        Ok(json_answer(&serde_json::json!({ "session_id": id })))
    }

    fn session(&self, id: &str) -> Result<Arc<client::Session>, Failed> {
        self.sessions
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(id)
            .cloned()
            .ok_or_else(|| unknown_session(id))
    }
}

fn unknown_session(id: &str) -> Failed {
    Failed::Tool(format!("no open session {id:?} on this connection"))
}

fn random_hex(bytes: usize) -> String {
    use std::io::Read;
    let mut buf = vec![0u8; bytes];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .is_err()
    {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        buf = t.to_le_bytes()[..bytes.min(16)].to_vec();
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

#[tool_handler]
impl ServerHandler for StockadeMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build()).with_instructions(
            "Runs Python in isolated stockade sandboxes. Use run_python for one-off code; open_session, run_in_session and close_session to keep state between calls.",
        )
    }
}

/// Serve one client on stdin/stdout until it disconnects.
pub async fn serve_stdio(engine: Arc<Engine>) -> Result<(), String> {
    use rmcp::ServiceExt;
    let server = StockadeMcp::new(engine)
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| format!("starting on stdio: {e}"))?;
    server.waiting().await.map_err(|e| format!("serving on stdio: {e}"))?;
    Ok(())
}
