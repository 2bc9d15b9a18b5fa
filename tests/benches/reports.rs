//! `make bench` — reports over 50,000 attendances in a real server store, read over HTTP on
//! loopback by a real safeguarding device credential. Prints a table; never passes or fails.
//!
//! Seeding: 50,000 real case documents (visits, a DASH, referrals, support, outcomes,
//! children; 30,000 fictional victims, so many repeat) are made with `RecordDoc::new_case`
//! and written straight into the store's document tables in one transaction, without
//! reporting rows; the server then derives every row itself when it opens the store (its
//! backfill), which is timed too. Writing them through the sync protocol would cost one
//! durable transaction per document (about 7 ms each on SQLite: six minutes) and measure
//! sync, not reports. With `PROVIDE_TEST_DATABASE_URL` (`scripts/with-postgres.sh`), a
//! PostgreSQL row follows the SQLite one. `PROVIDE_BENCH_PARTS=1` also prints the storage
//! reads and the arithmetic of one dashboard, timed apart, without HTTP.

use std::time::{Duration, Instant};

use automerge::ActorId;
use chrono::{Duration as Span, NaiveDate, SecondsFormat, TimeZone, Utc};
use provide_core::forms;
use provide_core::model::{
    Answer, Assessment, Case, Child, ConsentAnswer, Deployment, Referral, ReferralKind,
    ReferralStatus, Role, Status, TriState, Visit, VisitOutcome,
};
use provide_core::record::heads::heads_text;
use provide_core::record::{Author, RecordDoc};
use provide_core::report::ExportFormat;
use provide_core::sync::enrol::{EnrolRequest, EnrolResponse};
use provide_core::sync::reports;
use provide_core::sync::transport::{HttpTransport, Transport, ENROL_PATH};
use provide_sync_server::admin::{self, DataDir};
use provide_sync_server::serve::{start, Listen};
use provide_sync_server::service::Config;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const FROM: &str = "2025-01-01";
const TO: &str = "2025-12-31";

fn attendances() -> usize {
    std::env::var("PROVIDE_BENCH_ATTENDANCES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000)
}

fn time(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// One fictional case, reproducible from `rng`.
fn case(n: usize, rng: &mut StdRng) -> Case {
    let start = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
    let incident = start + Span::minutes(rng.gen_range(0..365 * 24 * 60));
    let deployment = [
        Deployment::PostIncident,
        Deployment::PostIncident,
        Deployment::Live,
        Deployment::Consultation,
    ][rng.gen_range(0..4)];
    let mut c = Case::new(
        format!("bench-case-{n:06}"),
        deployment,
        "pc.bench.fictional",
        &time(incident),
    );
    c.status = [Status::Active, Status::HandedOver, Status::Closed][rng.gen_range(0..3)];
    c.division = "west".into();
    c.team = format!("t{}", rng.gen_range(1..=6));
    let victim = rng.gen_range(0..30_000);
    c.victim.name = format!("Victim{victim} Fictional");
    c.victim.dob = Some(
        (NaiveDate::from_ymd_opt(1960, 1, 1).unwrap() + Span::days(victim as i64 % 15_000))
            .format("%Y-%m-%d")
            .to_string(),
    );
    c.victim.address = format!("{victim} Example Street");
    c.incident.occurred_at = Some(time(incident));
    c.incident.reference = format!("BN-{n:07}-FICT");
    let outcomes = [
        VisitOutcome::Engaged,
        VisitOutcome::Declined,
        VisitOutcome::NoAnswer,
    ];
    for v in 0..rng.gen_range(0..4) {
        c.visits.push(Visit {
            id: format!("v{v}"),
            at: time(incident + Span::minutes(rng.gen_range(30..72 * 60))),
            outcome: outcomes[rng.gen_range(0..3)],
            notes: "a fictional visit note".into(),
            by: "idva.bench.fictional".into(),
        });
    }
    if rng.gen_bool(0.8) {
        let def = forms::latest("dash").unwrap();
        let yes = rng.gen_range(0..=27);
        c.risk_assessments.push(Assessment {
            id: "a1".into(),
            form: "dash".into(),
            form_version: def.version,
            answers: def
                .question_ids()
                .enumerate()
                .map(|(i, q)| {
                    (
                        q.to_string(),
                        if i < yes { Answer::Yes } else { Answer::No },
                    )
                })
                .collect(),
            judgement_level: None,
            judgement_reason: String::new(),
            incidents_12_months: None,
            assessed_at: time(incident + Span::minutes(rng.gen_range(60..48 * 60))),
            assessed_by: "idva.bench.fictional".into(),
            role: Role::Idva,
        });
    }
    for r in 0..rng.gen_range(0..3) {
        c.referrals.push(Referral {
            id: format!("r{r}"),
            kind: ReferralKind::ALL[rng.gen_range(0..ReferralKind::ALL.len())],
            service_id: None,
            service: "A Fictional Service".into(),
            status: ReferralStatus::Made,
            consent: ConsentAnswer::Yes,
            notes: String::new(),
            made_at: time(incident + Span::hours(30)),
            made_by: "idva.bench.fictional".into(),
        });
    }
    c.support.risk_assessment = rng.gen_bool(0.7);
    c.support.safety_planning = rng.gen_bool(0.6);
    c.support.emotional_support = rng.gen_bool(0.8);
    c.consent.information_sharing = [ConsentAnswer::Yes, ConsentAnswer::No][rng.gen_range(0..2)];
    let tri =
        |rng: &mut StdRng| [TriState::Yes, TriState::No, TriState::Unknown][rng.gen_range(0..3)];
    c.outcome.engaged_safeguarding = tri(rng);
    c.outcome.engaged_investigation = tri(rng);
    c.outcome.repeat_victim = tri(rng);
    for k in 0..rng.gen_range(0..3) {
        c.children.push(Child {
            id: format!("c{k}"),
            name: format!("Child{k} Fictional"),
            age: Some(rng.gen_range(0..17)),
            present_at_incident: Some(rng.gen_bool(0.5)),
        });
    }
    c
}

/// A stored document: id, team, heads, bytes.
struct Doc {
    id: String,
    team: String,
    heads: String,
    bytes: Vec<u8>,
}

fn documents(n: usize) -> Vec<Doc> {
    let mut rng = StdRng::seed_from_u64(5);
    let actor = ActorId::random();
    let author = Author::new("pc.bench.fictional", Role::Officer);
    (0..n)
        .map(|i| {
            let c = case(i, &mut rng);
            let mut rec = RecordDoc::new_case(&c, &actor, &author).unwrap();
            Doc {
                id: c.id.clone(),
                team: c.team.clone(),
                heads: heads_text(&rec.heads()),
                bytes: rec.save(),
            }
        })
        .collect()
}

/// Writes the documents into the store's tables in one transaction, as a store holding them
/// before reporting rows existed.
fn seed(data: &DataDir, docs: &[Doc]) {
    match &data.database_url {
        Some(url) => {
            let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
            let mut tx = c.transaction().unwrap();
            for (i, d) in docs.iter().enumerate() {
                let seq = i as i64 + 1;
                tx.execute(
                    "INSERT INTO docs (id, kind, division, team, heads, seq) VALUES ($1,'case','west',$2,$3,$4)",
                    &[&d.id, &d.team, &d.heads, &seq],
                )
                .unwrap();
                tx.execute(
                    "INSERT INTO doc_chunks (doc_id, n, bytes) VALUES ($1, 0, $2)",
                    &[&d.id, &d.bytes],
                )
                .unwrap();
            }
            tx.execute(
                "UPDATE counters SET value = $1 WHERE name = 'change_seq'",
                &[&(docs.len() as i64)],
            )
            .unwrap();
            tx.commit().unwrap();
        }
        None => {
            let key = provide_sync_server::keyfile::load_or_create(&data.dir.join(admin::KEY_FILE))
                .unwrap();
            let mut conn = rusqlite::Connection::open(data.dir.join("server.db")).unwrap();
            provide_core::store::schema::apply_key(&conn, &key).unwrap();
            let tx = conn.transaction().unwrap();
            {
                let mut doc = tx
                    .prepare("INSERT INTO docs (id, kind, division, team, heads, seq) VALUES (?1,'case','west',?2,?3,?4)")
                    .unwrap();
                let mut chunk = tx
                    .prepare("INSERT INTO doc_chunks (doc_id, n, bytes) VALUES (?1, 0, ?2)")
                    .unwrap();
                for (i, d) in docs.iter().enumerate() {
                    doc.execute(rusqlite::params![d.id, d.team, d.heads, i as i64 + 1])
                        .unwrap();
                    chunk.execute(rusqlite::params![d.id, d.bytes]).unwrap();
                }
            }
            tx.execute(
                "UPDATE counters SET value = ?1 WHERE name = 'change_seq'",
                [docs.len() as i64],
            )
            .unwrap();
            tx.commit().unwrap();
        }
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

struct Row {
    backend: &'static str,
    attendances: u64,
    backfill: Duration,
    dashboard: Duration,
    export_csv: Duration,
    export_bytes: usize,
    export_json: Duration,
}

fn run(backend: &'static str, database_url: Option<String>, docs: &[Doc]) -> Row {
    let dir = tempfile::tempdir().unwrap();
    let mut data = DataDir::new(dir.path());
    data.database_url = database_url;
    let code = {
        let service = data.open(Config::default()).unwrap();
        admin::enrol(
            &service,
            "sg.bench.fictional",
            "safeguarding",
            "west",
            "",
            24,
        )
        .unwrap()
        .to_string()
    };
    seed(&data, docs);
    let t = Instant::now();
    let service = data.open(Config::default()).unwrap();
    let backfill = t.elapsed();
    if std::env::var_os("PROVIDE_BENCH_PARTS").is_some() {
        let t = Instant::now();
        let rows = service.storage.attendances(Some("west"), FROM, TO).unwrap();
        eprintln!("attendances: {} in {:?}", rows.len(), t.elapsed());
        let t = Instant::now();
        let s = service.storage.sightings(Some("west"), FROM, TO).unwrap();
        eprintln!("sightings: {} in {:?}", s.len(), t.elapsed());
        let t = Instant::now();
        let p = provide_core::report::Period::parse(Some(FROM), Some(TO)).unwrap();
        provide_core::report::dashboard("west", &p, &rows, &s);
        eprintln!("figures in {:?}", t.elapsed());
    }
    let running = start(
        service,
        Listen {
            addr: "127.0.0.1:0".parse().unwrap(),
            tls: None,
        },
    )
    .unwrap();
    let url = format!("http://{}", running.addr);
    let mut transport = HttpTransport::new(&url, None).unwrap();
    let body = serde_json::to_vec(&EnrolRequest {
        code,
        actor_id: ActorId::random().to_hex_string(),
    })
    .unwrap();
    let enrolled: EnrolResponse =
        serde_json::from_slice(&transport.post(ENROL_PATH, &body, None).unwrap()).unwrap();
    let credential = enrolled.credential;

    let mut attendances = 0;
    let mut dash_times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let d = reports::dashboard(&mut transport, &credential, FROM, TO).unwrap();
        dash_times.push(t.elapsed());
        attendances = d.attendances;
    }
    let mut csv_times = Vec::new();
    let mut export_bytes = 0;
    for _ in 0..3 {
        let t = Instant::now();
        let csv =
            reports::export(&mut transport, &credential, FROM, TO, ExportFormat::Csv).unwrap();
        csv_times.push(t.elapsed());
        export_bytes = csv.len();
    }
    let t = Instant::now();
    reports::export(&mut transport, &credential, FROM, TO, ExportFormat::Json).unwrap();
    let export_json = t.elapsed();
    running.stop();
    Row {
        backend,
        attendances,
        backfill,
        dashboard: median(dash_times),
        export_csv: median(csv_times),
        export_bytes,
        export_json,
    }
}

fn main() {
    let n = attendances();
    eprintln!("making {n} case documents...");
    let t = Instant::now();
    let docs = documents(n);
    let made = t.elapsed();
    eprintln!(
        "made in {:.1} s ({} bytes of documents)",
        made.as_secs_f64(),
        docs.iter().map(|d| d.bytes.len()).sum::<usize>()
    );
    let mut rows = vec![run("SQLite", None, &docs)];
    if let Ok(base) = std::env::var("PROVIDE_TEST_DATABASE_URL") {
        rows.push(run(
            "PostgreSQL",
            Some(provide_tests::server::fresh_database(&base)),
            &docs,
        ));
    }
    println!();
    println!(
        "| backend    | attendances | backfill s | dashboard ms | export csv ms | export bytes | export json ms | targets"
    );
    println!(
        "|------------|-------------|------------|--------------|---------------|--------------|----------------|---------"
    );
    for r in rows {
        let ok = |d: Duration, limit: f64| {
            if d.as_secs_f64() < limit {
                "ok"
            } else {
                "MISSED"
            }
        };
        println!(
            "| {:<10} | {:>11} | {:>10.1} | {:>12.1} | {:>13.1} | {:>12} | {:>14.1} | dashboard < 1 s {}; export < 5 s {}",
            r.backend,
            r.attendances,
            r.backfill.as_secs_f64(),
            r.dashboard.as_secs_f64() * 1e3,
            r.export_csv.as_secs_f64() * 1e3,
            r.export_bytes,
            r.export_json.as_secs_f64() * 1e3,
            ok(r.dashboard, 1.0),
            ok(r.export_csv, 5.0),
        );
    }
    println!();
    println!("- dashboard: median of 5; export: median of 3 (CSV), one JSON; over HTTP on loopback, a whole year of one division");
    println!(
        "- backfill: the server deriving every reporting row when it opens a store that has none"
    );
}
