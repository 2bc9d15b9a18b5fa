//! Files the device writes outside SQLite (the key-slot file) are replaced here, atomically
//! and durably: a temporary file written and fsynced, renamed over the old one, and the
//! directory fsynced, so a crash at any moment leaves either the old file or the new one.
//!
//! Each step is reported to an observer when one is installed (`observe`): the crash-point
//! explorer (tests/src/crash) records these steps beside the database's own file operations,
//! which its SQLite VFS sees, to rebuild every state a crash could leave on disk. With no
//! observer (always, outside that test) a step costs one relaxed atomic load.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

/// One step of a file replacement, as it reached the operating system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileStep<'a> {
    /// The file was created empty (or cut to nothing).
    Created { path: &'a Path },
    /// Bytes written at an offset (not yet durable).
    Written {
        path: &'a Path,
        offset: u64,
        data: &'a [u8],
    },
    /// The file's contents were fsynced.
    Synced { path: &'a Path },
    /// `from` was renamed to `to` (not yet durable).
    Renamed { from: &'a Path, to: &'a Path },
    /// A directory was fsynced: renames in it are durable.
    DirectorySynced { path: &'a Path },
}

type Observer = Arc<dyn Fn(&FileStep<'_>) + Send + Sync>;

static OBSERVED: AtomicBool = AtomicBool::new(false);
static OBSERVER: RwLock<Option<Observer>> = RwLock::new(None);

/// Installs (or with `None` removes) the observer of every file step in this process.
pub fn observe(observer: Option<Observer>) {
    let mut slot = OBSERVER.write().unwrap_or_else(|e| e.into_inner());
    OBSERVED.store(observer.is_some(), Ordering::SeqCst);
    *slot = observer;
}

fn report(step: FileStep<'_>) {
    if !OBSERVED.load(Ordering::Relaxed) {
        return;
    }
    let observer = OBSERVER.read().unwrap_or_else(|e| e.into_inner()).clone();
    if let Some(o) = observer {
        o(&step);
    }
}

/// Replaces `path` with `bytes` atomically and durably, the new file readable and writable by
/// its owner only. `tmp` is the temporary name, in the same directory.
pub fn replace_file(path: &Path, tmp: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    {
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(tmp)?;
        report(FileStep::Created { path: tmp });
        f.write_all(bytes)?;
        report(FileStep::Written {
            path: tmp,
            offset: 0,
            data: bytes,
        });
        f.sync_all()?;
        report(FileStep::Synced { path: tmp });
    }
    fs::rename(tmp, path)?;
    report(FileStep::Renamed {
        from: tmp,
        to: path,
    });
    if let Ok(d) = fs::File::open(dir) {
        if d.sync_all().is_ok() {
            report(FileStep::DirectorySynced { path: dir });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("slots.json");
        let tmp = dir.path().join("slots.json.tmp");
        replace_file(&path, &tmp, b"old").unwrap();
        replace_file(&path, &tmp, b"new").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert!(!tmp.exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
