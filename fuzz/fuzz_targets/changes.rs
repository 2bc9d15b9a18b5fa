#![no_main]
//! The change unpacking (`sync::changes`): any bytes rebuild to chunks or give an error, and
//! what they rebuild to then goes the way a message's changes go: the untrusted-bytes check,
//! then Automerge's loader when it passes.
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;
use provide_core::record::untrusted::{check_untrusted, load_incremental, DecodeBudget};
use provide_core::sync::changes::read_alone;

fuzz_target!(init: common::init(), |data: &[u8]| {
    if let Ok(chunks) = read_alone(data) {
        if check_untrusted(&chunks, &mut DecodeBudget::message()).is_ok() {
            let _ = load_incremental(&mut automerge::AutoCommit::new(), &chunks);
        }
    }
});
