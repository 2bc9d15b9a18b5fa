use super::*;
use crate::model::{Case, Deployment, Role};
use crate::record::{edit, Author, RecordDoc};
use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ROOT};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

/// A chunk with a correct header (magic, checksum, type, length) around `body`.
pub(crate) fn chunk(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut len = Vec::new();
    crate::sync::codec::put_varint(&mut len, body.len() as u64);
    let hash = Sha256::new()
        .chain_update([kind])
        .chain_update(&len)
        .chain_update(body)
        .finalize();
    let mut out = CHUNK_MAGIC.to_vec();
    out.extend_from_slice(&hash[..4]);
    out.push(kind);
    out.extend_from_slice(&len);
    out.extend_from_slice(body);
    out
}

/// A change chunk's body with one op column of `spec` holding `data`.
fn change_with_column(spec: u64, data: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 1, 0xaa, 1, 1, 0, 0, 0]; // no deps, actor aa, seq 1, op 1, time 0, no message, no other actors
    crate::sync::codec::put_varint(&mut b, 1);
    crate::sync::codec::put_varint(&mut b, spec);
    crate::sync::codec::put_varint(&mut b, data.len() as u64);
    b.extend_from_slice(data);
    chunk(CHANGE, &b)
}

/// The rows `bytes` stand for, checked against one message's budget.
fn rows(bytes: &[u8]) -> Result<u64, Untrusted> {
    let mut budget = DecodeBudget::message();
    check_untrusted(bytes, &mut budget)?;
    Ok(MAX_ROWS_PER_MESSAGE - budget.message_left())
}

fn author() -> Author {
    Author::new("pc.ada.fictional", Role::Officer)
}

/// A large real case: 200 notes, 300 edits of its fields, each committed on its own.
fn large_case() -> RecordDoc {
    let actor = ActorId::random();
    let case = Case::new(
        "case-1".into(),
        Deployment::PostIncident,
        "pc.ada.fictional",
        "2026-03-05T08:00:00.000Z",
    );
    let mut rec = RecordDoc::new_case(&case, &actor, &author()).unwrap();
    for i in 0..200 {
        let note = serde_json::json!({ "text": format!("Fictional note {i}: called at the address, nobody answered, left a card with the number.") });
        edit::add_case_item(
            &mut rec,
            "notes",
            &note,
            &author(),
            "2026-03-05T09:00:00.000Z",
            crate::directory::Directory::shipped(),
        )
        .unwrap();
        rec.commit(&author());
    }
    for i in 0..300 {
        edit::set_field(
            &mut rec,
            "victim.name",
            &format!("Jane Fictional {i}"),
            Role::Officer,
        )
        .unwrap();
        rec.commit(&author());
    }
    rec
}

#[test]
fn a_large_real_record_is_far_inside_the_budget() {
    let mut rec = large_case();
    let whole = rec.wire_snapshot();
    let changes = rec.save_after(&[]);
    let saved = rec.save_incremental();
    let (w, c) = (rows(&whole).unwrap(), rows(&changes).unwrap());
    rows(&saved).unwrap();
    println!(
        "rows: whole document {w} ({} bytes), its changes {c} ({} bytes)",
        whole.len(),
        changes.len()
    );
    assert!(w.max(c) * 30 < MAX_ROWS_PER_DOCUMENT, "{w} {c}");
    // and a real message of them: the budget is charged document by document
    let mut budget = DecodeBudget::message();
    check_untrusted(&whole, &mut budget).unwrap();
    check_untrusted(&changes, &mut budget).unwrap();
    assert_eq!(budget.message_left(), MAX_ROWS_PER_MESSAGE - w - c);
}

#[test]
fn compressed_chunks_and_deflated_columns_are_refused() {
    let mut rec = large_case();
    // Automerge's own compression: change chunks of 256 bytes and more become type 2
    let mut compressed = None;
    for mut c in rec.doc_mut().get_changes(&[]) {
        let bytes = c.bytes().to_vec();
        if bytes[8] == COMPRESSED {
            compressed = Some(bytes);
            break;
        }
    }
    let compressed = compressed.expect("a change large enough to compress");
    assert_eq!(rows(&compressed), Err(Untrusted::Compressed));
    // and its save() deflates the document's larger columns
    let saved = rec.save();
    assert_eq!(saved[8], DOCUMENT);
    assert_eq!(rows(&saved), Err(Untrusted::Compressed));
    // a deflated column in a change chunk, refused whatever it holds
    assert_eq!(
        rows(&change_with_column(0x42 | DEFLATE_BIT, &[0x03, 0x00])),
        Err(Untrusted::Compressed)
    );
    // behind a good chunk, too
    let mut two = rec.save_after(&[]);
    two.extend_from_slice(&compressed);
    assert_eq!(rows(&two), Err(Untrusted::Compressed));
}

#[test]
fn runs_are_summed_without_being_walked() {
    let mut run = Vec::new();
    crate::sync::codec::put_signed_leb(&mut run, 1 << 40);
    run.push(7);
    assert_eq!(
        rows(&change_with_column(0x42, &run)),
        Err(Untrusted::OverBudget)
    );
    // a small run passes, and counts what it stands for
    let mut small = Vec::new();
    crate::sync::codec::put_signed_leb(&mut small, 1000);
    small.push(7);
    assert_eq!(rows(&change_with_column(0x42, &small)), Ok(1001));
    // nulls, booleans and deltas
    let nulls = [0x00, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01];
    assert_eq!(
        rows(&change_with_column(0x42, &nulls)),
        Err(Untrusted::OverBudget)
    );
    let bools = [0xff, 0xff, 0xff, 0xff, 0x0f];
    assert_eq!(
        rows(&change_with_column(0x44, &bools)),
        Err(Untrusted::OverBudget)
    );
    assert_eq!(
        rows(&change_with_column(0x43, &run)),
        Err(Untrusted::OverBudget)
    );
    // a group of 2^20 rows, each grouping 2^20 more
    let mut group = Vec::new();
    crate::sync::codec::put_signed_leb(&mut group, 1 << 20);
    crate::sync::codec::put_varint(&mut group, 1 << 20);
    assert_eq!(
        rows(&change_with_column(0x70, &group)),
        Err(Untrusted::OverBudget)
    );
    // sums that would overflow are over budget, not a panic
    let mut many = Vec::new();
    for _ in 0..4 {
        crate::sync::codec::put_signed_leb(&mut many, i64::MAX);
        many.push(1);
    }
    assert_eq!(
        rows(&change_with_column(0x42, &many)),
        Err(Untrusted::OverBudget)
    );
    // raw values are bounded by their bytes: not counted
    assert_eq!(rows(&change_with_column(0x47, &[0xff; 64])), Ok(1));
}

#[test]
fn the_message_budget_spans_its_documents() {
    let mut small = Vec::new();
    crate::sync::codec::put_signed_leb(&mut small, 1000);
    small.push(7);
    let one = change_with_column(0x42, &small);
    let mut budget = DecodeBudget::new(2000, 2500);
    check_untrusted(&one, &mut budget).unwrap();
    check_untrusted(&one, &mut budget).unwrap();
    assert_eq!(
        check_untrusted(&one, &mut budget),
        Err(Untrusted::OverBudget)
    );
    // a refused document charges nothing
    assert_eq!(budget.message_left(), 2500 - 2002);
}

#[test]
fn bundles_partial_chunks_and_other_bytes_are_refused() {
    let mut doc = AutoCommit::new();
    doc.put(ROOT, "status", "active").unwrap();
    doc.commit();
    let base = doc.get_heads();
    doc.put(ROOT, "status", "closed").unwrap();
    doc.commit();
    let changes = doc.save_after(&[]);
    assert!(rows(&changes).is_ok());
    assert!(rows(&doc.save_nocompress()).is_ok());
    assert_eq!(rows(&[]), Ok(0));
    let hashes: Vec<_> = doc.get_changes(&base).iter().map(|c| c.hash()).collect();
    let bundle = doc.bundle(hashes).unwrap().bytes().to_vec();
    assert_eq!(rows(&bundle), Err(Untrusted::Bundle));
    for cut in [1, 9, 12, changes.len() - 1] {
        assert_eq!(
            rows(&changes[..cut]),
            Err(Untrusted::Malformed),
            "cut at {cut}"
        );
    }
    let mut trailing = changes.clone();
    trailing.push(0);
    assert_eq!(rows(&trailing), Err(Untrusted::Malformed));
    assert_eq!(rows(b"garbage"), Err(Untrusted::Malformed));
    assert_eq!(rows(&chunk(7, &[])), Err(Untrusted::Malformed));
    // counts the bytes cannot hold
    let many_deps = [0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0];
    assert_eq!(rows(&chunk(CHANGE, &many_deps)), Err(Untrusted::Malformed));
}

fn real_chunks() -> Vec<Vec<u8>> {
    let mut doc = AutoCommit::new();
    doc.put(ROOT, "status", "active").unwrap();
    let notes = doc
        .put_object(ROOT, "notes", automerge::ObjType::List)
        .unwrap();
    doc.commit();
    for i in 0..5 {
        let n = doc
            .insert_object(&notes, i, automerge::ObjType::Map)
            .unwrap();
        doc.put(&n, "text", format!("note {i}")).unwrap();
        doc.put(&n, "done", i % 2 == 0).unwrap();
        doc.put(ROOT, "count", i as i64).unwrap();
        doc.commit();
    }
    vec![doc.save_after(&[]), doc.save_nocompress()]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = rows(&bytes);
        let mut chunked = CHUNK_MAGIC.to_vec();
        chunked.extend_from_slice(&bytes);
        let _ = rows(&chunked);
    }

    /// Damaged real chunks never panic; whatever passes the check, Automerge may then load.
    #[test]
    fn mutated_real_chunks_never_panic(
        which in 0usize..2,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
    ) {
        let mut bytes = real_chunks().swap_remove(which);
        for (at, b) in edits {
            let i = at % bytes.len();
            bytes[i] = b;
        }
        if rows(&bytes).is_ok() {
            let _ = AutoCommit::new().load_incremental(&bytes);
        }
    }

    /// Real documents of any shape pass.
    #[test]
    fn real_documents_always_pass(values in proptest::collection::vec((0u8..6, any::<i64>(), ".{0,20}"), 1..40)) {
        let mut doc = AutoCommit::new();
        let list = doc.put_object(ROOT, "list", automerge::ObjType::List).unwrap();
        for (i, (k, n, s)) in values.iter().enumerate() {
            match k {
                0 => { doc.put(ROOT, s.as_str(), *n).unwrap(); }
                1 => { doc.insert(&list, 0, s.as_str()).unwrap(); }
                2 => { doc.put(ROOT, "flag", n % 2 == 0).unwrap(); }
                3 => { let len = automerge::ReadDoc::length(&doc, &list); if len > 0 { doc.delete(&list, (*n as usize) % len).unwrap(); } }
                4 => { doc.put(ROOT, "f", *n as f64).unwrap(); }
                _ => { doc.commit(); }
            }
            if i % 7 == 0 { doc.commit(); }
        }
        doc.commit();
        prop_assert!(rows(&doc.save_after(&[])).is_ok());
        prop_assert!(rows(&doc.save_nocompress()).is_ok());
    }
}

/// Found by the fuzzer (`protocol` target): a request whose one change, rebuilt by the change
/// packing with a correct checksum, has a sequence number that skips ahead for an actor the
/// document has never seen. Automerge 0.12 panics applying it (`lookup_actor(..).unwrap()`).
#[test]
fn a_change_that_panics_automerge_is_refused_cleanly() {
    let request = include_bytes!("regressions/protocol-seq-skips-ahead.bin");
    let err = crate::sync::protocol::SyncRequest::decode(request).unwrap_err();
    assert_eq!(err.code(), "protocol", "{err}");
    // the `changes` target found it too, as packed changes
    let packed = include_bytes!("regressions/changes-seq-skips-ahead.bin");
    let chunks = crate::sync::changes::read_alone(packed).unwrap();
    if check_untrusted(&chunks, &mut DecodeBudget::message()).is_ok() {
        assert_eq!(
            load_incremental(&mut AutoCommit::new(), &chunks),
            Err(Untrusted::Malformed)
        );
    }
    // the same change on its own: it passes the layout check, and every loader refuses it
    let change = chunk(CHANGE, &[0, 1, 0xaa, 2, 1, 0, 0, 0, 0]);
    assert_eq!(rows(&change), Ok(1));
    let mut doc = AutoCommit::new();
    assert_eq!(
        load_incremental(&mut doc, &change),
        Err(Untrusted::Malformed)
    );
    let chunks = [change.clone()];
    assert!(RecordDoc::load_unmigrated("case-1", crate::model::RecordKind::Case, &chunks).is_err());
    let mut rec = large_case();
    assert!(rec.merge_bytes(&change).is_err());
    // and a guarded panic leaves the thread able to go on
    assert!(!guarded());
}

/// The response direction: a device decoding a server's answer that carries a compressed
/// change, a deflated document column or a run of 2^40 rows refuses the whole answer while
/// decoding it, before anything is inflated or applied.
#[test]
fn a_hostile_response_is_refused_while_it_is_decoded() {
    use crate::model::RecordKind;
    use crate::sync::protocol::{DocChanges, SyncResponse};
    let mut rec = large_case();
    let compressed = rec
        .doc_mut()
        .get_changes(&[])
        .into_iter()
        .map(|mut c| c.bytes().to_vec())
        .find(|b| b[8] == COMPRESSED)
        .unwrap();
    let deflated_doc = rec.save();
    let mut run = Vec::new();
    crate::sync::codec::put_signed_leb(&mut run, 1 << 40);
    run.push(1);
    let rle = change_with_column(0x42, &run);
    for (what, changes, message) in [
        (
            "compressed change",
            compressed,
            "compressed chunks are not accepted",
        ),
        (
            "deflated column",
            deflated_doc,
            "compressed chunks are not accepted",
        ),
        ("run of 2^40 rows", rle, "exceed the decode budget"),
    ] {
        let response = SyncResponse {
            request_seq: 3,
            updates: vec![DocChanges {
                id: "case-1".into(),
                kind: RecordKind::Case,
                base: vec![],
                changes,
            }],
            cursor: 9,
            ..Default::default()
        };
        let err = SyncResponse::decode(&response.encode()).unwrap_err();
        assert_eq!(err.code(), "protocol", "{what}");
        assert!(err.to_string().contains(message), "{what}: {err}");
    }
    // the same response with the record as it really travels is taken
    let fine = SyncResponse {
        updates: vec![DocChanges {
            id: "case-1".into(),
            kind: RecordKind::Case,
            base: vec![],
            changes: rec.wire_snapshot(),
        }],
        ..Default::default()
    };
    assert_eq!(SyncResponse::decode(&fine.encode()).unwrap(), fine);
}
