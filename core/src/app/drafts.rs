//! Drafts through the app (issue 17, item 5): what the window keeps of a note, visit or
//! assessment in progress, and the screen it was on, so that the lock loses nothing. Each call
//! needs the unlocked store, and reads and writes only the signed-in user's drafts (the rules
//! are in `store::drafts`).

use super::App;
use crate::error::Result;
use crate::store::{Draft, DraftInput};

impl App {
    /// Keeps the signed-in user's draft `input.key` (replacing the one kept).
    pub fn save_draft(&self, input: &DraftInput) -> Result<Draft> {
        self.with_store(|s| s.save_draft(input))
    }

    /// The signed-in user's drafts, newest first.
    pub fn drafts(&self) -> Result<Vec<Draft>> {
        self.with_store(|s| s.drafts())
    }

    /// The signed-in user's draft `key`, if kept.
    pub fn draft(&self, key: &str) -> Result<Option<Draft>> {
        self.with_store(|s| s.draft(key))
    }

    /// Discards the signed-in user's draft `key`: saved for real, or cancelled.
    pub fn discard_draft(&self, key: &str) -> Result<bool> {
        self.with_store(|s| s.discard_draft(key))
    }
}

#[cfg(test)]
mod tests {
    use automerge::ActorId;

    use super::*;
    use crate::app::TransportFactory;
    use crate::crypto::keyslots::LockPolicy;
    use crate::crypto::KdfParams;
    use crate::error::Error;
    use crate::model::{Deployment, Role};
    use crate::store::{InitOptions, NewUser, Store, MAX_DRAFT_BYTES};
    use crate::sync::protocol::SyncResponse;

    const PASS: &str = "fictional teapot passphrase";
    const PASS_2: &str = "fictional kettle passphrase";

    fn cheap() -> InitOptions {
        InitOptions {
            kdf: KdfParams::FLOOR,
            policy: LockPolicy::default(),
        }
    }

    fn no_network() -> TransportFactory {
        Box::new(|_, _| Err(Error::Unreachable("no network in this test".into())))
    }

    /// An app over a store with two users (an IDVA and an officer) and one case; the IDVA
    /// unlocked. Returns the case id.
    fn two_users() -> (tempfile::TempDir, App, String) {
        let dir = tempfile::tempdir().unwrap();
        let user = |name: &str, role| NewUser {
            name: name.into(),
            role,
            division: "west".into(),
            team: "t1".into(),
        };
        let mut store = Store::init(dir.path(), user("idva.a", Role::Idva), PASS, cheap()).unwrap();
        store
            .add_user(
                user("pc.b", Role::Officer),
                ActorId::random(),
                PASS_2,
                KdfParams::FLOOR,
            )
            .unwrap();
        let case = store.create_case(Deployment::Live, &[]).unwrap();
        drop(store);
        let app = App::new(dir.path(), no_network()).with_init_options(cheap());
        app.unlock(PASS, Some("idva.a")).unwrap();
        (dir, app, case)
    }

    fn note(case: &str, text: &str) -> DraftInput {
        DraftInput {
            key: format!("note:{case}"),
            record: Some(case.to_string()),
            screen: format!(r#"{{"screen":"case","id":"{case}"}}"#),
            body: serde_json::json!({ "text": text }).to_string(),
        }
    }

    #[test]
    fn a_draft_round_trips_through_the_lock() {
        let (_dir, app, case) = two_users();
        app.save_draft(&note(&case, "Fictional: spoke at the door"))
            .unwrap();
        app.save_draft(&DraftInput {
            key: "route".into(),
            record: None,
            screen: r#"{"screen":"cases"}"#.into(),
            body: "{}".into(),
        })
        .unwrap();
        // replaced, not added
        let kept = app
            .save_draft(&note(&case, "Fictional: spoke at the door, calm"))
            .unwrap();
        app.lock();
        app.unlock(PASS, Some("idva.a")).unwrap();
        assert_eq!(app.draft(&format!("note:{case}")).unwrap(), Some(kept));
        let keys: Vec<String> = app.drafts().unwrap().into_iter().map(|d| d.key).collect();
        assert_eq!(keys.len(), 2, "{keys:?}");
        assert!(keys.contains(&"route".to_string()));
        // discarded once saved for real
        assert!(app.discard_draft(&format!("note:{case}")).unwrap());
        assert_eq!(app.draft(&format!("note:{case}")).unwrap(), None);
        assert!(!app.discard_draft(&format!("note:{case}")).unwrap());
    }

    #[test]
    fn another_user_cannot_read_or_discard_a_draft() {
        let (_dir, app, case) = two_users();
        app.save_draft(&note(&case, "Fictional: the IDVA's words"))
            .unwrap();
        app.lock();
        app.unlock(PASS_2, Some("pc.b")).unwrap();
        assert_eq!(app.draft(&format!("note:{case}")).unwrap(), None);
        assert!(app.drafts().unwrap().is_empty());
        assert!(!app.discard_draft(&format!("note:{case}")).unwrap());
        // the officer's own draft under the same key is theirs alone
        app.save_draft(&note(&case, "Fictional: the officer's words"))
            .unwrap();
        app.lock();
        app.unlock(PASS, Some("idva.a")).unwrap();
        let mine = app.draft(&format!("note:{case}")).unwrap().unwrap();
        assert!(mine.body.contains("the IDVA's words"), "{}", mine.body);
    }

    #[test]
    fn drafts_need_the_unlocked_store() {
        let (_dir, app, case) = two_users();
        app.lock();
        let key = format!("note:{case}");
        assert!(matches!(
            app.save_draft(&note(&case, "x")),
            Err(Error::Locked)
        ));
        assert!(matches!(app.drafts(), Err(Error::Locked)));
        assert!(matches!(app.draft(&key), Err(Error::Locked)));
        assert!(matches!(app.discard_draft(&key), Err(Error::Locked)));
    }

    #[test]
    fn an_oversized_or_malformed_draft_is_refused() {
        let (_dir, app, case) = two_users();
        let big = "x".repeat(MAX_DRAFT_BYTES);
        let err = app.save_draft(&note(&case, &big)).unwrap_err();
        assert_eq!(err.code(), "draft_too_large");
        assert!(err.to_string().contains("64 KiB"), "{err}");
        assert!(
            !err.to_string().contains("xxx"),
            "no content in the message"
        );
        // just under the bound is kept
        let fits = "x".repeat(MAX_DRAFT_BYTES - 200);
        app.save_draft(&note(&case, &fits)).unwrap();
        let bad = DraftInput {
            body: "not json".into(),
            ..note(&case, "")
        };
        assert_eq!(app.save_draft(&bad).unwrap_err().code(), "invalid_value");
        let elsewhere = note("3f2a9c10-7d1e-4b6a-9c2f-000000000000", "x");
        assert_eq!(app.save_draft(&elsewhere).unwrap_err().code(), "not_found");
    }

    #[test]
    fn a_draft_goes_with_its_record() {
        let (_dir, app, case) = two_users();
        app.save_draft(&note(&case, "Fictional")).unwrap();
        app.save_draft(&DraftInput {
            key: "route".into(),
            record: None,
            screen: r#"{"screen":"shift"}"#.into(),
            body: "{}".into(),
        })
        .unwrap();
        // a purge the record survives (changes not yet acknowledged) keeps the draft
        let purge = SyncResponse {
            purge: vec![case.clone()],
            cursor: 1,
            ..Default::default()
        };
        app.with_store(|s| s.apply_sync_response(&[], &purge))
            .unwrap();
        assert!(app.draft(&format!("note:{case}")).unwrap().is_some());
        // erased at the server: the record and every user's draft of it go
        let erased = SyncResponse {
            erased: vec![case.clone()],
            cursor: 2,
            ..Default::default()
        };
        app.with_store(|s| s.apply_sync_response(&[], &erased))
            .unwrap();
        assert_eq!(app.draft(&format!("note:{case}")).unwrap(), None);
        assert!(app.draft("route").unwrap().is_some(), "other drafts stay");
    }
}
