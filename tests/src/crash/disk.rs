//! What the disk holds when the power goes or the process dies: the recorded operations
//! replayed onto a model of the files, and the images a crash at a given point may leave.
//!
//! The model: each file has its durable contents (as of its last fsync) and the operations
//! made since. A write or truncation is not durable until its file is fsynced; a rename is
//! not durable until its folder is fsynced. Creating and deleting a file are taken as durable
//! at once (SQLite fsyncs the folder after creating a journal or WAL, and a deletion that
//! comes back would only return a file SQLite ignores or had already emptied into the
//! database). The shared-memory index is never on disk.
//!
//! At a crash point a file may hold, besides its durable contents:
//! - nothing written since (`Crash::PowerLost`);
//! - everything written since (`Crash::ProcessKilled`: the operating system still has it);
//! - any subset of the writes since, in their order, one of them torn at 512-byte sectors
//!   (`Crash::Torn`): disks reorder unsynced writes, and a write that reached the platter
//!   before an earlier one is the subset without the earlier one.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::Rng;

use super::trace::Event;

/// The sector size a torn write is torn at.
pub const SECTOR: usize = 512;

#[derive(Debug, Clone)]
enum Op {
    Write { offset: u64, data: Vec<u8> },
    Truncate(u64),
}

fn apply(content: &mut Vec<u8>, op: &Op) {
    match op {
        Op::Write { offset, data } => {
            let start = *offset as usize;
            let end = start + data.len();
            if content.len() < end {
                content.resize(end, 0);
            }
            content[start..end].copy_from_slice(data);
        }
        Op::Truncate(size) => content.resize(*size as usize, 0),
    }
}

#[derive(Debug, Clone, Default)]
struct File {
    durable: Vec<u8>,
    current: Vec<u8>,
    unsynced: Vec<Op>,
}

/// The files of one folder as the operations so far left them.
#[derive(Debug, Clone, Default)]
pub struct Disk {
    files: BTreeMap<String, File>,
    /// Renames made since the folder was last fsynced, in order.
    unsynced_renames: Vec<(String, String)>,
    /// What a rename since the folder's last fsync replaced, by name: back if the rename is lost.
    renamed_over: BTreeMap<String, File>,
}

/// How a crash leaves the unsynced operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crash {
    PowerLost,
    ProcessKilled,
    Torn,
}

/// The files a crash left: name to contents.
pub type Image = BTreeMap<String, Vec<u8>>;

impl Disk {
    /// The folder's files before the first recorded operation, all durable.
    pub fn from_files(files: impl IntoIterator<Item = (String, Vec<u8>)>) -> Disk {
        Disk {
            files: files
                .into_iter()
                .map(|(n, c)| {
                    (
                        n,
                        File {
                            durable: c.clone(),
                            current: c,
                            unsynced: vec![],
                        },
                    )
                })
                .collect(),
            ..Disk::default()
        }
    }

    /// Replays one recorded operation (marks are ignored).
    pub fn replay(&mut self, event: &Event) {
        match event {
            Event::Create { file } => {
                self.files.entry(file.clone()).or_default();
            }
            Event::Write { file, offset, data } => {
                let f = self.files.entry(file.clone()).or_default();
                let op = Op::Write {
                    offset: *offset,
                    data: data.clone(),
                };
                apply(&mut f.current, &op);
                f.unsynced.push(op);
            }
            Event::Truncate { file, size } => {
                let f = self.files.entry(file.clone()).or_default();
                let op = Op::Truncate(*size);
                apply(&mut f.current, &op);
                f.unsynced.push(op);
            }
            Event::Sync { file } => {
                if let Some(f) = self.files.get_mut(file) {
                    f.durable = f.current.clone();
                    f.unsynced.clear();
                }
            }
            Event::Delete { file } => {
                self.files.remove(file);
            }
            Event::Rename { from, to } => {
                if let Some(f) = self.files.remove(from) {
                    self.unsynced_renames.push((from.clone(), to.clone()));
                    // what `to` held before stays recoverable until the folder is synced
                    if let Some(old) = self.files.insert(to.clone(), f) {
                        self.renamed_over.insert(to.clone(), old);
                    }
                }
            }
            Event::SyncFolder => {
                self.unsynced_renames.clear();
                self.renamed_over.clear();
            }
            Event::Mark(_) => {}
        }
    }

    /// How many unsynced operations a crash now could keep or lose, over all files.
    pub fn unsynced(&self) -> usize {
        self.files.values().map(|f| f.unsynced.len()).sum::<usize>() + self.unsynced_renames.len()
    }

    /// The files a crash now leaves, in the given way.
    pub fn crash(&self, how: Crash, rng: &mut StdRng) -> Image {
        let mut image: Image = BTreeMap::new();
        for (name, f) in &self.files {
            let content = match how {
                Crash::PowerLost => f.durable.clone(),
                Crash::ProcessKilled => f.current.clone(),
                Crash::Torn => {
                    let mut c = f.durable.clone();
                    let torn = (!f.unsynced.is_empty()).then(|| rng.gen_range(0..f.unsynced.len()));
                    for (i, op) in f.unsynced.iter().enumerate() {
                        if Some(i) == torn {
                            tear(&mut c, op, rng);
                        } else if rng.gen_bool(0.5) {
                            apply(&mut c, op);
                        }
                    }
                    c
                }
            };
            image.insert(name.clone(), content);
        }
        // renames since the folder's last fsync: a prefix of them reached the disk
        let kept = match how {
            Crash::PowerLost => 0,
            Crash::ProcessKilled => self.unsynced_renames.len(),
            Crash::Torn => rng.gen_range(0..=self.unsynced_renames.len()),
        };
        for (from, to) in self.unsynced_renames[kept..].iter().rev() {
            if let Some(c) = image.remove(to) {
                image.insert(from.clone(), c);
            }
            if let Some(old) = self.renamed_over.get(to) {
                let content = match how {
                    Crash::ProcessKilled => old.current.clone(),
                    _ => old.durable.clone(),
                };
                image.insert(to.clone(), content);
            }
        }
        image
    }
}

/// Applies part of `op`: a write reaches the disk only in some of its sectors.
fn tear(content: &mut Vec<u8>, op: &Op, rng: &mut StdRng) {
    match op {
        Op::Write { offset, data } => {
            let mut start = 0;
            while start < data.len() {
                // sector boundaries are those of the file, not of the write
                let abs = *offset as usize + start;
                let end = (start + SECTOR - abs % SECTOR).min(data.len());
                if rng.gen_bool(0.5) {
                    apply(
                        content,
                        &Op::Write {
                            offset: abs as u64,
                            data: data[start..end].to_vec(),
                        },
                    );
                }
                start = end;
            }
        }
        // a truncation is one metadata change: it happens or it does not
        Op::Truncate(_) => {
            if rng.gen_bool(0.5) {
                apply(content, op);
            }
        }
    }
}

/// A short fingerprint of an image, to count distinct crash states.
pub fn fingerprint(image: &Image) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for (name, c) in image {
        h.update((name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update((c.len() as u64).to_le_bytes());
        h.update(c);
    }
    h.finalize().into()
}
