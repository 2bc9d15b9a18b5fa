//! Files the operator's commands hand out (a subject access export): readable by this user
//! only (0600), written whole or not at all (a temporary file in the same folder, flushed,
//! then moved into place), never over an existing file unless the operator says so. Errors
//! never name the path: an operator may have named the file after a person.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Result, ServerError};

/// A file written to a temporary name beside its destination, not yet in place; removed if
/// dropped before `commit`.
pub struct Staged {
    tmp: PathBuf,
    dest: PathBuf,
    committed: bool,
}

fn failed(what: &str, e: &std::io::Error) -> ServerError {
    ServerError::Io(format!("{what} ({})", e.kind()))
}

fn exists() -> ServerError {
    ServerError::InvalidInput(
        "an output file already exists; name new files or give --force to replace them".into(),
    )
}

/// Refuses a destination that exists (unless `force`) or is a folder.
pub fn check_free(dest: &Path, force: bool) -> Result<()> {
    match std::fs::symlink_metadata(dest) {
        Ok(m) if m.is_dir() => Err(ServerError::InvalidInput(
            "an output file names a folder".into(),
        )),
        Ok(_) if !force => Err(exists()),
        _ => Ok(()),
    }
}

/// Writes `bytes` to a new private temporary file beside `dest`, flushed to disk.
pub fn stage(dest: &Path, bytes: &[u8]) -> Result<Staged> {
    let folder = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = folder.join(format!(".provide-{:016x}.tmp", rand::random::<u64>()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = opts
        .open(&tmp)
        .map_err(|e| failed("the output file could not be created", &e))?;
    let staged = Staged {
        tmp,
        dest: dest.to_path_buf(),
        committed: false,
    };
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| failed("the output file could not be written", &e))?;
    Ok(staged)
}

impl Staged {
    /// Moves the file into place: replacing what is there only when `force`, else failing
    /// when the destination appeared meanwhile.
    pub fn commit(mut self, force: bool) -> Result<()> {
        if force {
            std::fs::rename(&self.tmp, &self.dest)
                .map_err(|e| failed("the output file could not be put in place", &e))?;
        } else {
            // a hard link is made only where nothing is: no overwrite, even in a race
            std::fs::hard_link(&self.tmp, &self.dest).map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    exists()
                } else {
                    failed("the output file could not be put in place", &e)
                }
            })?;
            let _ = std::fs::remove_file(&self.tmp);
        }
        self.committed = true;
        if let Some(folder) = self.dest.parent().filter(|p| !p.as_os_str().is_empty()) {
            if let Ok(dir) = std::fs::File::open(folder) {
                let _ = dir.sync_all();
            }
        }
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_private_whole_and_never_over_a_file_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.json");
        check_free(&dest, false).unwrap();
        stage(&dest, b"one").unwrap().commit(false).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"one");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&dest).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(matches!(
            check_free(&dest, false),
            Err(ServerError::InvalidInput(_))
        ));
        let raced = stage(&dest, b"two").unwrap();
        assert!(matches!(
            raced.commit(false),
            Err(ServerError::InvalidInput(_))
        ));
        assert_eq!(std::fs::read(&dest).unwrap(), b"one");
        check_free(&dest, true).unwrap();
        stage(&dest, b"three").unwrap().commit(true).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"three");
        // nothing left behind: no temporary file, dropped or committed
        drop(stage(&dest, b"four").unwrap());
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
        assert!(matches!(
            stage(&dir.path().join("no/such/folder/x.json"), b"x"),
            Err(ServerError::Io(_))
        ));
    }
}
