#![no_main]
//! Record validation as the server and a device do it: the untrusted-bytes check, then the
//! bytes loaded into a `RecordDoc` (as kept, and migrated forward as a device loads it) and
//! hydrated as a case, health record or shift. The first byte picks the kind.
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;
use provide_core::model::{RecordKind, Role};
use provide_core::record::untrusted::{check_untrusted, DecodeBudget};
use provide_core::record::{Author, RecordDoc};

fuzz_target!(init: common::init(), |data: &[u8]| {
    let Some((&k, bytes)) = data.split_first() else {
        return;
    };
    let kind = match k % 3 {
        0 => RecordKind::Case,
        1 => RecordKind::Health,
        _ => RecordKind::Shift,
    };
    if check_untrusted(bytes, &mut DecodeBudget::message()).is_err() {
        return;
    }
    let chunks = [bytes.to_vec()];
    if let Ok(mut rec) = RecordDoc::load_unmigrated("rec-1", kind, &chunks) {
        let _ = rec.validated_id();
        let _ = rec.missing_deps();
        let _ = rec.heads();
    }
    let actor = automerge::ActorId::from(&[7u8; 16][..]);
    let author = Author::new("fuzz.fictional", Role::Idva);
    if let Ok(rec) = RecordDoc::load("rec-1", kind, &chunks, &actor, &author) {
        let _ = rec.validated_id();
    }
});
