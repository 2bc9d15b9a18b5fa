//! The server's log: `tracing` events written to standard error as text or one JSON object a
//! line. The level comes from `--log-level`, else `PROVIDE_LOG`, else `RUST_LOG`, else `info`;
//! `off` writes nothing. What may be logged is decided where events are made (`request`, the
//! guard, `error`): ids, routes, codes, sizes and addresses, never a record's content, a
//! secret or an enrolment code. Automerge's own spans and events are always off.

use tracing_subscriber::EnvFilter;

use crate::error::{Result, ServerError};

/// Always added to the filter (see `init`).
const QUIET: &str = "automerge=off";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(ServerError::InvalidInput(
                "the log format must be `text` or `json`".into(),
            )),
        }
    }
}

/// The filter directive in force: the option, else `PROVIDE_LOG`, else `RUST_LOG`, else `info`.
pub fn level_directive(option: Option<&str>) -> String {
    option
        .map(str::to_string)
        .or_else(|| std::env::var("PROVIDE_LOG").ok())
        .or_else(|| std::env::var("RUST_LOG").ok())
        .map(|d| d.trim().to_string())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "info".to_string())
}

/// Lines the log writer may fall behind by before new ones are dropped.
const BUFFERED_LINES: usize = 128 * 1024;

/// Keeps the log writer's thread; dropping it writes out what is still queued.
pub struct LogGuard(#[allow(dead_code)] tracing_appender::non_blocking::WorkerGuard);

/// Installs the process's log writer (once, before serving). Lines are written by a thread of
/// their own, so a slow disk or journal never holds up a request; if it falls
/// `BUFFERED_LINES` behind, further lines are dropped rather than stalling the server. Keep
/// the guard until the process ends.
pub fn init(format: LogFormat, directive: &str) -> Result<LogGuard> {
    let filter = EnvFilter::try_new(directive)
        .map_err(|_| {
            ServerError::InvalidInput(
                "the log level must be off, error, warn, info, debug or trace (or a tracing filter)"
                    .into(),
            )
        })?
        // Automerge instruments its functions with spans at `info` whose fields are their
        // arguments (record content among them), and they cost a fifth of the sync
        // throughput when recorded: never, whatever the filter says
        .add_directive(QUIET.parse().expect("a valid directive"));
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(BUFFERED_LINES)
        .thread_name("provide-log")
        .finish(std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .with_target(true);
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
    };
    installed
        .map(|()| LogGuard(guard))
        .map_err(|_| ServerError::Internal("the log writer was already installed".into()))
}
