//! The recording of one workload: file operations under one folder, in the order the
//! operating system saw them, with the workload's marks between them.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use provide_core::durable::FileStep;

/// One file operation or mark. Files are named relative to the traced folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The file now exists (empty if it did not).
    Create {
        file: String,
    },
    Write {
        file: String,
        offset: u64,
        data: Vec<u8>,
    },
    Truncate {
        file: String,
        size: u64,
    },
    /// The file's contents are durable.
    Sync {
        file: String,
    },
    Delete {
        file: String,
    },
    /// Not durable until the folder is synced.
    Rename {
        from: String,
        to: String,
    },
    SyncFolder,
    /// A mark the workload made (an acknowledged edit, an operation begun).
    Mark(String),
}

impl Event {
    /// Whether a crash just before this event is a crash point of its own: every fsync is a
    /// boundary between what may be lost and what may not.
    pub fn is_boundary(&self) -> bool {
        matches!(self, Event::Sync { .. } | Event::SyncFolder)
    }
}

#[derive(Default)]
struct Recording {
    root: Option<PathBuf>,
    events: Vec<Event>,
}

static RECORDING: Mutex<Recording> = Mutex::new(Recording {
    root: None,
    events: Vec::new(),
});

fn recording() -> std::sync::MutexGuard<'static, Recording> {
    RECORDING.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts recording the operations on files in `root` (and, through provide-core's observer,
/// the key-slot file's replacement). Any earlier recording is dropped.
pub fn start(root: &Path) {
    super::vfs::install();
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    {
        let mut r = recording();
        r.root = Some(root);
        r.events.clear();
    }
    provide_core::durable::observe(Some(Arc::new(|step: &FileStep<'_>| {
        let event = match *step {
            FileStep::Created { path } => relative(path).map(|file| Event::Create { file }),
            FileStep::Written { path, offset, data } => relative(path).map(|file| Event::Write {
                file,
                offset,
                data: data.to_vec(),
            }),
            FileStep::Synced { path } => relative(path).map(|file| Event::Sync { file }),
            FileStep::Renamed { from, to } => match (relative(from), relative(to)) {
                (Some(from), Some(to)) => Some(Event::Rename { from, to }),
                _ => None,
            },
            FileStep::DirectorySynced { path } => {
                let root = recording().root.clone();
                let same = root.is_some_and(|r| path.canonicalize().is_ok_and(|p| p == r));
                same.then_some(Event::SyncFolder)
            }
        };
        if let Some(e) = event {
            push(e);
        }
    })));
}

/// Stops recording and returns what was recorded.
pub fn stop() -> Vec<Event> {
    provide_core::durable::observe(None);
    let mut r = recording();
    r.root = None;
    std::mem::take(&mut r.events)
}

/// Records a mark of the workload's.
pub fn mark(text: impl Into<String>) {
    push(Event::Mark(text.into()));
}

pub(super) fn push(event: Event) {
    let mut r = recording();
    if r.root.is_some() {
        r.events.push(event);
    }
}

/// `path` relative to the traced folder, if it is a file directly in it (and not the WAL's
/// shared-memory index).
pub(super) fn relative(path: &Path) -> Option<String> {
    let r = recording();
    let root = r.root.as_ref()?;
    let parent = path.parent()?;
    let parent = parent
        .canonicalize()
        .unwrap_or_else(|_| parent.to_path_buf());
    if &parent != root {
        return None;
    }
    let name = path.file_name()?.to_str()?.to_string();
    (!name.ends_with("-shm")).then_some(name)
}
