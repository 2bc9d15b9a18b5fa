//! The server's log: `tracing` events written to standard error as text or one JSON object a
//! line. The level comes from `--log-level`, else `PROVIDE_LOG`, else `RUST_LOG`, else `info`;
//! `off` writes nothing. What may be logged is decided where events are made (`request`, the
//! guard, `error`): ids, routes, codes, sizes and addresses, never a record's content, a
//! secret or an enrolment code.

use tracing_subscriber::EnvFilter;

use crate::error::{Result, ServerError};

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

/// Installs the process's log writer (once, before serving).
pub fn init(format: LogFormat, directive: &str) -> Result<()> {
    let filter = EnvFilter::try_new(directive).map_err(|_| {
        ServerError::InvalidInput(
            "the log level must be off, error, warn, info, debug or trace (or a tracing filter)"
                .into(),
        )
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
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
    installed.map_err(|_| ServerError::Internal("the log writer was already installed".into()))
}
