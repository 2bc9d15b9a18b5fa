#![no_main]
//! Bundle import after decryption (the passphrase's AEAD keeps the fuzzer out of anything
//! before it): the zstd-compressed JSON payload, then each record's changes checked, merged
//! into a new document and validated as the import does.
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;
use provide_core::bundle::unpack;
use provide_core::model::RecordKind;
use provide_core::record::untrusted::DecodeBudget;
use provide_core::record::RecordDoc;

fuzz_target!(init: common::init(), |data: &[u8]| {
    let Ok(payload) = unpack(data) else {
        return;
    };
    let mut budget = DecodeBudget::message();
    for r in &payload.records {
        let Ok(kind) = RecordKind::parse(&r.kind) else {
            continue;
        };
        let Ok(changes) = r.changes(&mut budget) else {
            continue;
        };
        let Ok(mut rec) = RecordDoc::load_unmigrated(&r.id, kind, &[]) else {
            continue;
        };
        if rec.merge_bytes(&changes).is_ok() && rec.missing_deps().is_empty() {
            let _ = rec.validated_id();
        }
    }
});
