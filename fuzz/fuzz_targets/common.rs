//! Shared by every target: the panic hook. libfuzzer-sys aborts on any panic; a panic inside
//! `record::untrusted::guard` (Automerge panicking on well-formed input, which the app turns
//! into a refusal) is let through to the guard instead, and reported once per place.

use std::collections::HashSet;
use std::sync::Mutex;

pub fn init() {
    static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let aborting = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if provide_core::record::untrusted::guarded() {
            let place = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
            if seen.get_or_insert_with(HashSet::new).insert(place.clone()) {
                eprintln!("guarded panic (refused as malformed) at {place}");
            }
        } else {
            aborting(info);
        }
    }));
}
