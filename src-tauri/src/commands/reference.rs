//! Reference data shipped with the app: the risk checklists and the services directory. Both
//! work offline and need no unlocked store (the directory is public information).

use provide_core::directory::Directory;
use provide_core::forms::FormDef;

use crate::error::ShellResult;

/// The newest version of each risk checklist.
#[tauri::command]
pub async fn forms() -> ShellResult<Vec<FormDef>> {
    let mut latest: Vec<FormDef> = Vec::new();
    for f in provide_core::forms::shipped() {
        match latest.iter_mut().find(|l| l.id == f.id) {
            Some(l) if l.version >= f.version => {}
            Some(l) => *l = f.clone(),
            None => latest.push(f.clone()),
        }
    }
    Ok(latest)
}

#[tauri::command]
pub async fn directory() -> ShellResult<Directory> {
    Ok(Directory::shipped().clone())
}
