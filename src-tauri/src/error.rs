//! The shell's one error type. Every error crosses IPC as `{code, message}`: a stable code the
//! UI can act on, and a message in plain words that never holds personal data.

use serde::ser::SerializeStruct;
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    #[error(transparent)]
    Core(#[from] provide_core::Error),
    #[error("The app's data folder could not be found or made: {0}.")]
    DataDir(String),
    #[error("A background task of the app failed: {0}.")]
    Task(String),
}

impl ShellError {
    pub fn code(&self) -> &'static str {
        match self {
            ShellError::Core(e) => e.code(),
            ShellError::DataDir(_) => "data_dir",
            ShellError::Task(_) => "internal",
        }
    }
}

/// Serialised as provide-core's `IpcError` shape, the one the UI's types are generated from.
impl Serialize for ShellError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("IpcError", 2)?;
        st.serialize_field("code", self.code())?;
        st.serialize_field("message", &self.to_string())?;
        st.end()
    }
}

pub type ShellResult<T> = Result<T, ShellError>;
