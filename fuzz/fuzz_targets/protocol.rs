#![no_main]
//! The sync protocol's decoder, both directions: any bytes give a message or an error.
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;
use provide_core::sync::protocol::{SyncRequest, SyncResponse};

fuzz_target!(init: common::init(), |data: &[u8]| {
    let _ = SyncRequest::decode(data);
    let _ = SyncResponse::decode(data);
});
