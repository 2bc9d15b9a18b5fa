//! `provide`: the command-line client of the device store, for scripting, tests, demos and
//! exports. It parses arguments, reads passphrases, calls `provide_core::Store` and prints.
//! Errors go to stderr as one sentence with a non-zero exit; nothing here holds logic of its own.

mod args;
mod passphrase;
mod print;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use provide_core::crypto::keyslots::{KeySlots, LockPolicy};
use provide_core::crypto::keystore::os_keystore;
use provide_core::crypto::KdfParams;
use provide_core::forms::AssessmentInput;
use provide_core::model::{Deployment, Pattern, Role};
use provide_core::store::{CaseFilter, ShiftInput};
use provide_core::sync::auto::{sync_when_reachable, Backoff};
use provide_core::sync::enrol::enrol;
use provide_core::sync::transport::{read_ca_cert, HttpTransport};
use provide_core::sync::{sync, Progress, SyncOptions};
use provide_core::{Error, InitOptions, IpcError, NewUser, Result, Store};

use args::*;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(exit_code(&e))
        }
    }
}

fn exit_code(e: &Error) -> u8 {
    match e {
        Error::WrongPassphrase | Error::BackingOff(_) | Error::NoPassphrase => 3,
        Error::Wiped => 4,
        Error::AuditBroken { .. } => 5,
        Error::Forbidden { .. } => 6,
        Error::NotFound(_) | Error::StoreMissing(_) => 7,
        Error::Unreachable(_) | Error::ServerBusy { .. } => 8,
        Error::Revoked => 9,
        Error::ContactOverdue(_) => 10,
        Error::UntrustedServer(_) => 11,
        Error::UpdateRequired { .. } | Error::ServerOutdated { .. } => 12,
        Error::PeerUnreachable(_) => 13,
        Error::PeerRefused(_) | Error::NoPeerCertificate => 14,
        _ => 1,
    }
}

fn init_options(a: &StoreArgs) -> Result<InitOptions> {
    let defaults = LockPolicy::default();
    let policy = LockPolicy {
        max_attempts: a.max_attempts.unwrap_or(defaults.max_attempts),
        backoff_base_ms: a.backoff_base_ms.unwrap_or(defaults.backoff_base_ms),
        backoff_max_ms: defaults.backoff_max_ms.max(a.backoff_base_ms.unwrap_or(0)),
        idle_lock_minutes: a.idle_lock_minutes.unwrap_or(defaults.idle_lock_minutes),
    };
    let kd = KdfParams::default();
    let kdf = KdfParams {
        memory_kib: a.kdf_memory_kib.unwrap_or(kd.memory_kib),
        iterations: a.kdf_iterations.unwrap_or(kd.iterations),
        parallelism: kd.parallelism,
    };
    kdf.validate()?;
    policy.validate()?;
    Ok(InitOptions { kdf, policy })
}

/// The store's folder: `--data-dir`, else `PROVIDE_DATA_DIR`, else the platform's default
/// (`%LOCALAPPDATA%\Provide` on Windows; none elsewhere).
fn data_dir(cli: &Cli) -> Result<PathBuf> {
    cli.data_dir
        .clone()
        .or_else(provide_core::data_dir::default_dir)
        .ok_or_else(|| {
            Error::InvalidInput(
                "give the store's folder with --data-dir or PROVIDE_DATA_DIR".into(),
            )
        })
}

fn parse_sets(sets: &[String]) -> Result<Vec<(String, String)>> {
    sets.iter()
        .map(|s| {
            s.split_once('=')
                .map(|(p, v)| (p.trim().to_string(), v.to_string()))
                // the argument may be a value typed in the wrong place: never echo it
                .ok_or_else(|| Error::InvalidInput("each field must be given as PATH=VALUE".into()))
        })
        .collect()
}

fn parse_json(text: &str, what: &str) -> Result<serde_json::Value> {
    serde_json::from_str(text).map_err(|e| {
        Error::InvalidInput(format!(
            "the {what} is not valid JSON (line {} column {})",
            e.line(),
            e.column()
        ))
    })
}

fn role(text: &str) -> Result<Role> {
    Role::parse(text).map_err(|e| Error::invalid("--role", e))
}

fn unlock(cli: &Cli) -> Result<Store> {
    let dir = data_dir(cli)?;
    let status = Store::status(&dir)?;
    if !status.exists {
        return Err(Error::StoreMissing(dir.display().to_string()));
    }
    if status.wiped {
        return Err(Error::Wiped);
    }
    // A store the app made may be bound to the OS keystore; the command line makes unbound
    // stores itself, and only asks the keystore for one that needs it.
    let keystore = KeySlots::load(&dir)?
        .bound_keystore()
        .and_then(|_| os_keystore());
    let pass = passphrase::read("PROVIDE_PASSPHRASE", "Passphrase: ")?;
    Store::open_with_keystore(&dir, &pass, cli.as_user.as_deref(), keystore)
}

fn run(cli: Cli) -> Result<()> {
    match &cli.command {
        Command::Init(a) => {
            let dir = data_dir(&cli)?;
            let opts = init_options(&a.store)?;
            let user = NewUser {
                name: a.user.clone(),
                role: role(&a.role)?,
                division: a.division.clone(),
                team: a.team.clone(),
            };
            if Store::status(&dir)?.exists {
                return Err(Error::StoreExists(dir.display().to_string()));
            }
            let pass = passphrase::read_new("PROVIDE_PASSPHRASE")?;
            Store::init(&dir, user, &pass, opts)?;
            eprintln!("Store created for {} ({}).", a.user, a.role);
            Ok(())
        }
        Command::Enrol(a) => {
            let dir = data_dir(&cli)?;
            let opts = init_options(&a.store)?;
            let mut transport = HttpTransport::new(&a.server, a.ca_cert.as_deref())?;
            if Store::status(&dir)?.exists {
                return Err(Error::StoreExists(dir.display().to_string()));
            }
            let pass = passphrase::read_new("PROVIDE_PASSPHRASE")?;
            let store = enrol(&dir, &a.server, &a.code, &pass, opts, &mut transport)?;
            let s = store.session();
            eprintln!(
                "Enrolled as {} ({}, {} {}); device {}.",
                s.user,
                s.role,
                s.division,
                s.team,
                store.device_id()
            );
            Ok(())
        }
        Command::Sync(a) => {
            let mut store = unlock(&cli)?;
            let link = store.server_link()?;
            // the CA kept since enrolment, or the one given now, which replaces it once a sync
            // has succeeded with it
            let given = a.ca_cert.as_deref().map(read_ca_cert).transpose()?;
            let replaces = given.is_some() && given != link.ca_cert;
            let mut transport =
                HttpTransport::with_ca(&link.url, given.clone().or(link.ca_cert.clone()))?;
            let defaults = SyncOptions::default();
            let opts = SyncOptions {
                max_upload_bytes: a.max_upload_bytes.unwrap_or(defaults.max_upload_bytes),
                max_response_bytes: a.max_response_bytes.unwrap_or(defaults.max_response_bytes),
                ..defaults
            };
            let json = a.json;
            let mut show = |p: &Progress| {
                if !json {
                    print::sync_progress(p);
                }
            };
            let report = match a.wait {
                Some(secs) => {
                    sync_when_reachable(
                        &mut store,
                        &mut transport,
                        &opts,
                        &mut Backoff::new(Duration::from_millis(500), Duration::from_secs(30)),
                        Duration::from_secs(secs),
                        &mut show,
                    )?
                    .0
                }
                None => sync(&mut store, &mut transport, &opts, &mut show)?,
            };
            print::sync_report(&report, json);
            if report.revoked {
                return Err(Error::Revoked);
            }
            if let (true, Some(pem)) = (replaces, &given) {
                store.set_server_ca_cert(pem)?;
                eprintln!(
                    "The CA certificate given with --ca-cert replaces the one this device kept; later syncs trust it without --ca-cert."
                );
            }
            Ok(())
        }
        Command::Status { json } => {
            let s = Store::status(&data_dir(&cli)?)?;
            print::status(&s, *json);
            Ok(())
        }
        Command::User(cmd) => {
            let mut store = unlock(&cli)?;
            match cmd {
                UserCmd::Add { code, ca_cert } => {
                    let link = provide_core::sync::users::server_of(&store)?;
                    let ca = match ca_cert {
                        Some(path) => Some(read_ca_cert(path)?),
                        None => store.server_link()?.ca_cert,
                    };
                    let mut transport = HttpTransport::with_ca(&link.url, ca)?;
                    let pass = passphrase::read_new("PROVIDE_NEW_PASSPHRASE")?;
                    let added = provide_core::sync::users::add_user(
                        &mut store,
                        code,
                        &pass,
                        KdfParams::default(),
                        &mut transport,
                    )?;
                    print::json(&added);
                    Ok(())
                }
                UserCmd::Passphrase => {
                    let pass = passphrase::read_new("PROVIDE_NEW_PASSPHRASE")?;
                    store.change_passphrase(&pass)
                }
                UserCmd::Whoami => {
                    print::json(store.session());
                    Ok(())
                }
            }
        }
        Command::Case(cmd) => case(&cli, cmd),
        Command::Health(cmd) => {
            let mut store = unlock(&cli)?;
            match cmd {
                HealthCmd::Note { case_id, text } => {
                    println!("{}", store.add_health_note(case_id, text)?);
                    Ok(())
                }
                HealthCmd::Discreet { case_id, text } => store.set_discreet_contact(case_id, text),
                HealthCmd::Show { case_id, json: _ } => {
                    match store.show_health(case_id)? {
                        Some(v) => print::json(&v),
                        None => print::json(&serde_json::Value::Null),
                    }
                    Ok(())
                }
            }
        }
        Command::Shift(cmd) => {
            let mut store = unlock(&cli)?;
            match cmd {
                ShiftCmd::Start {
                    pattern,
                    call_sign,
                    partner,
                    date,
                } => {
                    let pattern =
                        Pattern::parse(pattern).map_err(|e| Error::invalid("--pattern", e))?;
                    let id = store.start_shift(&ShiftInput {
                        pattern,
                        call_sign: call_sign.clone(),
                        partner: partner.clone(),
                        date: date.clone(),
                    })?;
                    println!("{id}");
                    Ok(())
                }
                ShiftCmd::Plan { shift_id, case_id } => store.plan_visit(shift_id, case_id),
                ShiftCmd::End { shift_id } => store.end_shift(shift_id),
                ShiftCmd::Show { shift_id, json: _ } => {
                    print::json(&store.show_shift(shift_id)?);
                    Ok(())
                }
            }
        }
        Command::Forms { form } => {
            print::json(provide_core::forms::latest(form)?);
            Ok(())
        }
        Command::Directory { search, json } => {
            let dir = provide_core::directory::Directory::shipped();
            let found: Vec<_> = dir.search(search.as_deref().unwrap_or("")).collect();
            print::directory(&found, *json);
            Ok(())
        }
        Command::Peer(cmd) => peer(&cli, cmd),
        Command::Bundle(cmd) => {
            let mut store = unlock(&cli)?;
            match cmd {
                BundleCmd::Export {
                    out,
                    case,
                    include_health,
                } => {
                    if out.exists() {
                        return Err(Error::InvalidInput(format!(
                            "{} already exists; choose a new file name",
                            out.display()
                        )));
                    }
                    let pass = passphrase::read_new("PROVIDE_BUNDLE_PASSPHRASE")?;
                    let len = store.export_bundle(
                        case.as_deref(),
                        *include_health,
                        &pass,
                        KdfParams::default(),
                        |b| write_new_file(out, b),
                    )?;
                    eprintln!("Bundle written ({len} bytes).");
                    Ok(())
                }
                BundleCmd::Import { file, json } => {
                    let bytes = std::fs::read(file).map_err(|e| {
                        Error::InvalidInput(format!(
                            "the bundle file could not be read ({})",
                            e.kind()
                        ))
                    })?;
                    let pass =
                        passphrase::read("PROVIDE_BUNDLE_PASSPHRASE", "Bundle passphrase: ")?;
                    let report = store.import_bundle(&bytes, &pass)?;
                    if *json {
                        print::json(&report);
                    } else {
                        println!(
                            "{} created, {} merged, {} unchanged",
                            report.created, report.merged, report.unchanged
                        );
                        for id in &report.refused_rectified {
                            println!(
                                "refused: record {id} was corrected at the server since this bundle was made (recorded)"
                            );
                        }
                        for id in &report.refused_erased {
                            println!(
                                "refused: record {id} was erased at the server and is not brought back (recorded)"
                            );
                        }
                    }
                    Ok(())
                }
            }
        }
        Command::Audit(cmd) => {
            let store = unlock(&cli)?;
            match cmd {
                AuditCmd::Verify => {
                    let n = store.audit_verify()?;
                    println!("audit log intact: {n} entries");
                    Ok(())
                }
                AuditCmd::List { json } => {
                    let entries = store.audit_entries()?;
                    if *json {
                        print::json(&entries);
                    } else {
                        for e in entries {
                            println!(
                                "{:>6} {} {} ({}) {} {} {}",
                                e.seq, e.at, e.user, e.role, e.action, e.record, e.detail
                            );
                        }
                    }
                    Ok(())
                }
            }
        }
        Command::Settings(a) => {
            let mut store = unlock(&cli)?;
            let mut policy = store.lock_policy()?;
            if a.idle_lock_minutes.is_some() || a.max_attempts.is_some() {
                policy.idle_lock_minutes = a.idle_lock_minutes.unwrap_or(policy.idle_lock_minutes);
                policy.max_attempts = a.max_attempts.unwrap_or(policy.max_attempts);
                store.set_lock_policy(policy)?;
            }
            print::json(&policy);
            Ok(())
        }
    }
}

fn case(cli: &Cli, cmd: &CaseCmd) -> Result<()> {
    // validate everything that needs no store before asking for the passphrase
    match cmd {
        CaseCmd::New { deployment, sets } => {
            let d = Deployment::parse(deployment).map_err(|e| Error::invalid("--deployment", e))?;
            let sets = parse_sets(sets)?;
            let id = unlock(cli)?.create_case(d, &sets)?;
            println!("{id}");
        }
        CaseCmd::Set { id, sets } => {
            let sets = parse_sets(sets)?;
            unlock(cli)?.set_case_fields(id, &sets)?;
        }
        CaseCmd::Add { id, list, json } => {
            if !provide_core::model::fields::CASE_LISTS.contains(&list.as_str()) {
                return Err(Error::UnknownList(list.clone()));
            }
            let v = parse_json(json, "item")?;
            println!("{}", unlock(cli)?.add_case_item(id, list, &v)?);
        }
        CaseCmd::Assess {
            id,
            form,
            answers,
            level,
            reason,
            incidents_12m,
            json,
        } => {
            provide_core::forms::latest(form)?;
            let mut input = AssessmentInput::from_json(&parse_json(answers, "answers")?)?;
            if level.is_some() {
                input.judgement_level = level.clone();
            }
            if reason.is_some() {
                input.judgement_reason = reason.clone();
            }
            if incidents_12m.is_some() {
                input.incidents_12_months = *incidents_12m;
            }
            let (aid, eval) = unlock(cli)?.assess(id, form, &input)?;
            if *json {
                print::json(&serde_json::json!({"id": aid, "evaluation": eval}));
            } else {
                print::evaluation(&aid, &eval);
            }
        }
        CaseCmd::Show { id, json } => {
            let view = unlock(cli)?.show_case(id)?;
            if *json {
                print::json(&view);
            } else {
                print::case_view(&view);
            }
        }
        CaseCmd::List {
            status,
            risk,
            deployment,
            search,
            limit,
            json,
        } => {
            let filter = CaseFilter {
                status: status.clone(),
                risk: risk.clone(),
                deployment: deployment.clone(),
                search: search.clone(),
                limit: *limit,
            };
            let rows = unlock(cli)?.list_cases(&filter)?;
            if *json {
                print::json(&rows);
            } else {
                print::case_list(&rows);
            }
        }
        CaseCmd::Fetch {
            reference,
            search,
            json,
        } => {
            let mut store = unlock(cli)?;
            let link = store.server_link()?;
            let mut transport = HttpTransport::with_ca(&link.url, link.ca_cert.clone())?;
            let report = provide_core::sync::fetch::fetch_closed(
                &mut store,
                &mut transport,
                reference.as_deref(),
                search.as_deref(),
            )?;
            if *json {
                print::json(&report);
            } else if report.fetched.is_empty() {
                println!("No closed case found (open cases are already on this device).");
            } else {
                for id in &report.fetched {
                    println!("{id}");
                }
                eprintln!(
                    "{} closed case(s) fetched; they leave this device again after the grace period.",
                    report.fetched.len()
                );
            }
        }
        CaseCmd::History { id, path, json } => {
            let entries = unlock(cli)?.case_history(id, path.as_deref())?;
            if *json {
                print::json(&entries);
            } else {
                print::history(&entries);
            }
        }
    }
    Ok(())
}

/// Writes a file that must not exist yet, durably.
fn write_new_file(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let fail = |e: std::io::Error| {
        Error::Io(format!(
            "the bundle file could not be written ({})",
            e.kind()
        ))
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(fail)?;
    f.write_all(bytes).map_err(fail)?;
    f.sync_all().map_err(fail)?;
    Ok(())
}

/// `provide peer …`: pairing and sessions with the partner's device in the car.
fn peer(cli: &Cli, cmd: &PeerCmd) -> Result<()> {
    use std::io::Write;
    let mut store = unlock(cli)?;
    match cmd {
        PeerCmd::Listen {
            listen,
            sessions,
            json,
        } => {
            let mut listener = provide_core::peer::Listener::bind(&store, listen)?;
            let addr = listener.local_addr()?;
            let host = if addr.ip().is_unspecified() {
                provide_core::peer::session::lan_address().unwrap_or(addr.ip())
            } else {
                addr.ip()
            };
            println!(
                "listening on {} code {}",
                std::net::SocketAddr::new(host, addr.port()),
                listener.code()
            );
            let _ = std::io::stdout().flush();
            let mut served = 0;
            while sessions.is_none_or(|n| served < n) {
                match listener.serve_one(&mut store) {
                    Ok(report) => print::peer_report(&report, *json),
                    Err(e) if *json => println!(
                        "{}",
                        serde_json::to_string(&IpcError::from(&e)).expect("serialisable")
                    ),
                    Err(e) => eprintln!("error: {e}"),
                }
                let _ = std::io::stdout().flush();
                served += 1;
            }
            Ok(())
        }
        PeerCmd::Sync { peer, code, json } => {
            let report = provide_core::peer::dial(&mut store, peer, code.as_deref())?;
            print::peer_report(&report, *json);
            Ok(())
        }
        PeerCmd::Status { json } => {
            let pairing = store.pairing()?;
            let expires = store.peer_certificate_expiry()?;
            if *json {
                print::json(&serde_json::json!({
                    "pairing": pairing,
                    "certificate_expires_ms": expires,
                }));
            } else {
                match &pairing {
                    Some(p) => println!(
                        "Paired with device {} ({}, {}) since {}; last sync {}.",
                        p.partner_device,
                        p.partner_user,
                        p.partner_role,
                        p.paired_at,
                        p.last_sync_at.as_deref().unwrap_or("never")
                    ),
                    None => println!("Not paired this shift."),
                }
                match expires {
                    Some(ms) => println!(
                        "Certificate valid until {}.",
                        chrono::DateTime::from_timestamp_millis(ms)
                            .map(|t| t.to_rfc3339())
                            .unwrap_or_default()
                    ),
                    None => println!("No certificate yet: sync with the server once."),
                }
            }
            Ok(())
        }
        PeerCmd::End => {
            if store.end_pairing()? {
                eprintln!("Pairing ended.");
            } else {
                eprintln!("There was no pairing to end.");
            }
            Ok(())
        }
    }
}
