//! The app's state machine without a server: first run, unlock and back-off, the idle lock
//! on a moved clock, locking dropping the store, and the background schedule.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::crypto::KdfParams;
use crate::model::{Deployment, Role};
use crate::store::NewUser;

const PASS: &str = "correct horse battery";

fn cheap() -> InitOptions {
    InitOptions {
        kdf: KdfParams::FLOOR,
        policy: LockPolicy {
            backoff_base_ms: 60_000,
            ..LockPolicy::default()
        },
    }
}

fn no_network() -> TransportFactory {
    Box::new(|_, _| Err(Error::Unreachable("no network in this test".into())))
}

/// An app over a store created offline (no server), with a clock the test moves.
fn app_with_store() -> (tempfile::TempDir, App, Arc<AtomicI64>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(
        dir.path(),
        NewUser {
            name: "idva.fictional".into(),
            role: Role::Idva,
            division: "west".into(),
            team: "t1".into(),
        },
        PASS,
        cheap(),
    )
    .unwrap();
    drop(store);
    let now = Arc::new(AtomicI64::new(1_700_000_000_000));
    let clock = now.clone();
    let app = App::new(dir.path(), no_network())
        .with_init_options(cheap())
        .with_clock(Box::new(move || clock.load(Ordering::Relaxed)));
    (dir, app, now)
}

#[test]
fn a_fresh_device_asks_to_enrol() {
    let dir = tempfile::tempdir().unwrap();
    let app = App::new(dir.path(), no_network());
    assert_eq!(app.status().unwrap().phase, Phase::NotEnrolled);
    assert!(matches!(
        app.with_store(|s| s.list_cases(&Default::default())),
        Err(Error::Locked)
    ));
}

#[test]
fn enrolment_that_cannot_reach_the_server_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let app = App::new(dir.path(), no_network()).with_init_options(cheap());
    let err = app
        .enrol("https://sync.example.invalid", "ABCD-EFGH", PASS)
        .unwrap_err();
    assert_eq!(err.code(), "unreachable");
    assert_eq!(app.status().unwrap().phase, Phase::NotEnrolled);
}

#[test]
fn unlock_wrong_then_right_and_lock_drops_the_store() {
    let (_dir, app, _) = app_with_store();
    assert!(matches!(app.status().unwrap().phase, Phase::Locked { .. }));
    assert_eq!(
        app.unlock("not the passphrase", None).unwrap_err().code(),
        "wrong_passphrase"
    );
    // the back-off is visible before the next attempt, and enforced
    match app.status().unwrap().phase {
        Phase::Locked {
            failed_attempts,
            wait_ms,
            ..
        } => {
            assert_eq!(failed_attempts, 1);
            assert!(wait_ms > 50_000, "{wait_ms}");
        }
        p => panic!("{p:?}"),
    }
    assert_eq!(app.unlock(PASS, None).unwrap_err().code(), "backing_off");
}

#[test]
fn unlocked_work_then_lock() {
    let (_dir, app, _) = app_with_store();
    let st = app.unlock(PASS, None).unwrap();
    match st.phase {
        Phase::Unlocked { session } => assert_eq!(session.role, Role::Idva),
        p => panic!("{p:?}"),
    }
    let id = app
        .with_store(|s| s.create_case(Deployment::PostIncident, &[]))
        .unwrap();
    assert_eq!(app.sync_status().waiting, 1);
    app.lock();
    assert!(!app.is_unlocked());
    assert!(matches!(
        app.with_store(|s| s.show_case(&id)),
        Err(Error::Locked)
    ));
    app.unlock(PASS, None).unwrap();
    assert_eq!(app.with_store(|s| s.show_case(&id)).unwrap().id, id);
}

#[test]
fn the_idle_lock_fires_after_the_policy_and_activity_resets_it() {
    let (_dir, app, now) = app_with_store();
    app.unlock(PASS, None).unwrap();
    app.set_idle_lock_minutes(2).unwrap();
    now.fetch_add(110_000, Ordering::Relaxed);
    assert!(!app.lock_if_idle());
    app.touch();
    now.fetch_add(110_000, Ordering::Relaxed);
    assert!(!app.lock_if_idle(), "activity restarted the timer");
    now.fetch_add(10_001, Ordering::Relaxed);
    assert!(app.lock_if_idle());
    assert!(!app.is_unlocked());
    assert_eq!(app.status().unwrap().idle_lock_minutes, 2);
    assert!(!app.lock_if_idle(), "locking twice is nothing");
}

#[test]
fn the_idle_lock_is_bounded() {
    let (_dir, app, _) = app_with_store();
    app.unlock(PASS, None).unwrap();
    for bad in [0, 16, 60] {
        assert_eq!(
            app.set_idle_lock_minutes(bad).unwrap_err().code(),
            "invalid_setting"
        );
    }
    assert_eq!(app.set_idle_lock_minutes(15).unwrap().idle_lock_minutes, 15);
}

#[test]
fn sync_without_enrolment_is_reported_in_plain_words() {
    let (_dir, app, _) = app_with_store();
    app.unlock(PASS, None).unwrap();
    let mut seen = Vec::new();
    let err = app.sync_now(&mut |s| seen.push(s.clone())).unwrap_err();
    assert_eq!(err.code(), "not_enrolled");
    assert!(matches!(app.sync_status().state, SyncState::Idle));
}

#[test]
fn scheduler_syncs_at_once_then_on_interval_backs_off_and_is_nudged() {
    let (_dir, app, _) = app_with_store();
    let t0 = Instant::now();
    let mut s = Scheduler::new(Duration::from_secs(30), Duration::from_secs(60), t0);
    assert_eq!(s.tick(&app, t0), Tick::Nothing, "locked: nothing to sync");
    app.unlock(PASS, None).unwrap();
    assert_eq!(s.tick(&app, t0), Tick::SyncDue);
    s.after_sync(&Ok(SyncReport::default()), t0);
    assert_eq!(s.next_sync(), t0 + Duration::from_secs(30));
    assert_eq!(s.tick(&app, t0 + Duration::from_secs(29)), Tick::Nothing);
    s.nudge(t0 + Duration::from_secs(1));
    assert_eq!(s.next_sync(), t0 + Duration::from_secs(3));
    // unreachable: back-off doubles (with up to 25 % jitter) to its ceiling
    let mut delays = Vec::new();
    for _ in 0..8 {
        s.after_sync(&Err(Error::Unreachable("down".into())), t0);
        delays.push(s.next_sync() - t0);
    }
    assert!(delays[0] <= Duration::from_secs(2));
    assert!(delays[3] > Duration::from_secs(11) && delays[3] <= Duration::from_secs(16));
    assert!(delays.iter().all(|d| *d <= Duration::from_secs(60)));
    s.after_sync(&Ok(SyncReport::default()), t0);
    assert_eq!(
        s.next_sync(),
        t0 + Duration::from_secs(30),
        "success resets"
    );
    // a refusal is an answer: wait the full interval, do not hammer
    s.after_sync(&Err(Error::Revoked), t0);
    assert_eq!(s.next_sync(), t0 + Duration::from_secs(30));
    // so is a certificate not trusted, however often: a security problem, not a dead spot
    for _ in 0..4 {
        s.after_sync(&Err(Error::UntrustedServer("unknown issuer".into())), t0);
        assert_eq!(s.next_sync(), t0 + Duration::from_secs(30));
    }
    // a busy server: at least its Retry-After, and a local change does not bring it forward
    s.after_sync(
        &Err(Error::ServerBusy {
            retry_after_secs: 120,
        }),
        t0,
    );
    assert!(s.next_sync() >= t0 + Duration::from_secs(120));
    s.nudge(t0 + Duration::from_secs(1));
    assert_eq!(s.next_sync(), t0 + Duration::from_secs(120));
}

#[test]
fn scheduler_stops_calling_a_server_that_refused_the_apps_protocol_version() {
    let (_dir, app, _) = app_with_store();
    app.unlock(PASS, None).unwrap();
    let t0 = Instant::now();
    let mut s = Scheduler::new(Duration::from_secs(30), Duration::from_secs(60), t0);
    let refused = Err(Error::UpdateRequired {
        app: "3".into(),
        server: "4 to 5".into(),
    });
    s.after_sync(&refused, t0);
    let day = Scheduler::AFTER_VERSION_REFUSAL;
    assert_eq!(s.next_sync(), t0 + day);
    // neither the interval nor a local change calls it again
    for secs in [30, 600, 3600, 6 * 3600] {
        let t = t0 + Duration::from_secs(secs);
        s.nudge(t);
        assert_eq!(s.tick(&app, t), Tick::Nothing, "{secs} s after");
    }
    // the user's own Sync, once the app is updated, succeeds: the schedule is normal again
    s.after_sync(&Ok(SyncReport::default()), t0 + Duration::from_secs(100));
    s.nudge(t0 + Duration::from_secs(101));
    assert_eq!(s.next_sync(), t0 + Duration::from_secs(103));
    // the status says what to do, not "offline"
    let mut status = super::status::SyncStatus::default();
    status.finished(&Err(Error::ServerOutdated {
        app: "4 to 6".into(),
        server: "4 to 5".into(),
    }));
    match status.state {
        SyncState::Error { code, message } => {
            assert_eq!(code, "server_outdated");
            assert!(message.contains("administrator"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}
