//! `provide-sync-server`: serve, and the administrator's commands. Parses arguments, opens the
//! data folder, calls `provide_sync_server`, prints. Errors go to stderr as one sentence with
//! a non-zero exit.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand};
use provide_core::report::CheckedAuditQuery;
use provide_sync_server::admin::{self, DataDir};
use provide_sync_server::limits::Limits;
use provide_sync_server::listener;
use provide_sync_server::logging::{self, LogFormat};
use provide_sync_server::serve::{start_with_metrics, Listen};
use provide_sync_server::service::Config;
use provide_sync_server::storage::AuditFilter;
use provide_sync_server::{Result, ServerError};

#[derive(Parser)]
#[command(
    name = "provide-sync-server",
    version,
    about = "The Provide sync server"
)]
struct Cli {
    /// The server's data folder (its encrypted store and, by default, the store's key file).
    /// Required; like every option here, it may come before or after the subcommand.
    #[arg(
        long,
        global = true,
        env = "PROVIDE_SERVER_DATA_DIR",
        value_name = "DIR"
    )]
    data_dir: Option<PathBuf>,
    /// The store key file (default DIR/server.key, created on first use).
    #[arg(
        long,
        global = true,
        env = "PROVIDE_SERVER_KEY_FILE",
        value_name = "FILE"
    )]
    key_file: Option<PathBuf>,
    /// Keep the data in PostgreSQL instead (`postgres://user@host:port/db`); several server
    /// processes may share one database.
    #[arg(long, global = true, env = "PROVIDE_DATABASE_URL", value_name = "URL")]
    database_url: Option<String>,
    /// The CA certificate (PEM) to trust for TLS to the database (with `sslmode=require`,
    /// `verify-ca` or `verify-full` in the URL), when the URL names no `sslrootcert`.
    #[arg(
        long,
        global = true,
        env = "PROVIDE_DATABASE_CA_CERT",
        value_name = "FILE"
    )]
    database_ca_cert: Option<PathBuf>,
    /// The key of export pseudonyms (default DIR/report.key, created on first export). Every
    /// process that exports must use the same file; back it up.
    #[arg(
        long,
        global = true,
        env = "PROVIDE_REPORT_KEY_FILE",
        value_name = "FILE"
    )]
    report_key_file: Option<PathBuf>,
    /// The device CA's key (default DIR/device-ca.key, created on first use): signs the
    /// short-lived certificates the pair's devices trust each other by in the car. Every
    /// process must use the same file; back it up with the other keys.
    #[arg(
        long,
        global = true,
        env = "PROVIDE_DEVICE_CA_KEY_FILE",
        value_name = "FILE"
    )]
    device_ca_key_file: Option<PathBuf>,
    /// The embedded store's record key store (default DIR/record-keys.db): each record's own
    /// key, destroyed to erase it. Back it up on its own, shorter schedule (`backup-keys`).
    #[arg(long, global = true, env = "PROVIDE_RECORD_KEYS", value_name = "FILE")]
    record_keys: Option<PathBuf>,
    /// With PostgreSQL: the database of the record keys (default the data's database; keep
    /// them in a database of their own, dumped on its own schedule).
    #[arg(
        long,
        global = true,
        env = "PROVIDE_RECORD_KEYS_URL",
        value_name = "URL"
    )]
    record_keys_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve devices until stopped.
    Serve {
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: SocketAddr,
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Hours a device may go without reaching the server before it locks itself.
        #[arg(long, default_value_t = 72)]
        max_offline_hours: u64,
        /// Connections open at once (at the cap, the oldest idle or slow one is closed).
        #[arg(long, default_value_t = Limits::default().max_connections)]
        max_connections: usize,
        /// Syncs in flight at once; more are answered 503 with Retry-After.
        #[arg(long, default_value_t = Limits::default().max_syncs_in_flight)]
        max_syncs_in_flight: usize,
        /// Syncs worked on at once (threads of work and their memory); the rest wait.
        #[arg(long, default_value_t = Limits::default().sync_workers)]
        sync_workers: usize,
        /// Seconds a client has to send a request's headers (and to stay idle between requests).
        #[arg(long, default_value_t = Limits::default().header_timeout.as_secs())]
        header_timeout_secs: u64,
        /// The slowest average rate (bytes per second) a request body may arrive at.
        #[arg(long, default_value_t = Limits::default().body_min_rate)]
        body_min_rate: u64,
        /// Seconds a whole request may take.
        #[arg(long, default_value_t = Limits::default().request_timeout.as_secs())]
        request_timeout_secs: u64,
        /// Hours a revoked device's final upload stays open after the server first answers it
        /// as revoked; what it sends is kept for review, and after this it can send nothing.
        #[arg(long, default_value_t = Config::default().final_upload_minutes / 60)]
        final_upload_hours: u64,
        /// How the log (standard error) is written: text, or json (one object a line).
        #[arg(long, default_value = "text", value_name = "text|json")]
        log_format: String,
        /// The log level (off, error, warn, info, debug, trace, or a tracing filter); default
        /// from PROVIDE_LOG, else RUST_LOG, else info.
        #[arg(long, value_name = "LEVEL")]
        log_level: Option<String>,
        /// Serve Prometheus metrics at http://ADDR/metrics (plain HTTP: loopback or a private
        /// monitoring network only, never a public address).
        #[arg(long, value_name = "ADDR")]
        metrics_listen: Option<SocketAddr>,
    },
    /// Issue a one-time enrolment code for a user; prints the code alone.
    Enrol {
        #[arg(long)]
        user: String,
        /// officer, idva, safeguarding or admin
        #[arg(long)]
        role: String,
        #[arg(long, default_value = "")]
        division: String,
        #[arg(long, default_value = "")]
        team: String,
        /// How long the code stays valid (at most 24).
        #[arg(long, default_value_t = 24)]
        valid_hours: u64,
    },
    /// Revoke a device, or every device of a user.
    Revoke {
        #[arg(long, conflicts_with = "user", required_unless_present = "user")]
        device: Option<String>,
        #[arg(long)]
        user: Option<String>,
    },
    /// List enrolled devices.
    Devices {
        #[arg(long)]
        json: bool,
    },
    /// List what revoked devices handed over in their final uploads, kept apart for review
    /// (never sent to any device).
    Held {
        #[arg(long)]
        json: bool,
    },
    /// Write everything held about one person (subject access, DPA 2018 s.45) for the data
    /// protection officer to review: FILE as JSON and beside it a printable page (FILE with
    /// the extension .html), both new and readable only by you; audited. Exits 4 when no case
    /// is of that person, 2 on bad input or when a file exists (without --force).
    SubjectAccess {
        /// The person's name (case and spacing are ignored, as the reports compare names).
        #[arg(long)]
        name: String,
        /// The person's date of birth, YYYY-MM-DD.
        #[arg(long, value_name = "YYYY-MM-DD")]
        dob: String,
        /// The JSON file to write (the page goes beside it, with the extension .html).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Replace the files when they exist.
        #[arg(long)]
        force: bool,
    },
    /// Risk form definitions: publish a new version (checked first; devices receive it on
    /// their next sync, and older assessments keep the version they were answered with).
    Forms {
        #[command(subcommand)]
        action: Publishing,
    },
    /// The services directory: publish a new version (checked first; devices receive it on
    /// their next sync).
    Directory {
        #[command(subcommand)]
        action: Publishing,
    },
    /// Read the server's audit log; or verify its chain (`audit verify`), or print its head to
    /// keep elsewhere (`audit anchor`).
    #[command(args_conflicts_with_subcommands = true)]
    Audit {
        #[command(subcommand)]
        chain: Option<AuditChain>,
        #[arg(long)]
        json: bool,
        #[arg(long)]
        device: Option<String>,
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        record: Option<String>,
        #[arg(long)]
        action: Option<String>,
        /// Check a device's uploaded audit log instead.
        #[arg(long, value_name = "DEVICE")]
        verify_device: Option<String>,
    },
    /// How long handed-over and closed cases stay on devices, per division.
    Policy {
        #[command(subcommand)]
        action: PolicyAction,
    },
    /// Retention review of closed records: what is due, decisions (retain until a date, or
    /// dispose), and each division's review periods.
    Retention {
        #[command(subcommand)]
        action: RetentionAction,
    },
    /// Back up the embedded store (while it serves) to a new file, encrypted with the store's
    /// key. The key file is not in the backup: keep it apart.
    Backup {
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Back up the record key store (while the store serves) to a new file, encrypted with
    /// the store's key: more often than the data (see OPERATIONS.md).
    BackupKeys {
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Restore a backup into an empty data folder, with the key file of the store it was
    /// taken of (`--key-file`) and the newest record key backup; every device starts over on
    /// its next sync, and records erased since the backup are erased again.
    Restore {
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
        /// A `backup-keys` copy taken after the data's backup.
        #[arg(long, value_name = "FILE")]
        record_keys_from: Option<PathBuf>,
    },
    /// Strike a wrongly recorded value from a case's history (DPA 2018 s.46): the case is
    /// re-rooted without it, its old history crypto-shredded; devices replace their copy and
    /// keep their unsent edits; audited (never the value).
    Rectify {
        #[arg(long)]
        case: String,
        /// The field, as `case set` names it (`victim.address`, `notes.ID.text`).
        #[arg(long)]
        path: String,
        /// Why (a reference, never personal details).
        #[arg(long)]
        reason: String,
        #[arg(long)]
        json: bool,
    },
    /// Erase a case and its health record for good: rows deleted, keys destroyed, every
    /// device that held them told to purge them; audited. `erase status` lists the devices
    /// still to confirm.
    #[command(args_conflicts_with_subcommands = true)]
    Erase {
        #[command(subcommand)]
        action: Option<EraseAction>,
        #[arg(long)]
        case: Option<String>,
        /// Why (a reference such as a request or review number, never personal details).
        #[arg(long)]
        reason: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// After restoring PostgreSQL from a dump: every device starts over on its next sync.
    MarkRestored,
    /// Re-key the embedded store (stop the server first) with a new random key, or the key in
    /// FILE; the key file is replaced, the old key kept as KEY.old until the end.
    RotateKey {
        #[arg(long, value_name = "FILE")]
        new_key_file: Option<PathBuf>,
    },
    /// Write the evaluation export (pseudonymised, one row per attendance); audited.
    Report {
        /// First incident date, YYYY-MM-DD.
        #[arg(long)]
        from: String,
        /// Last incident date, YYYY-MM-DD (at most 366 days after `from`).
        #[arg(long)]
        to: String,
        /// csv or json
        #[arg(long, default_value = "csv")]
        format: String,
        /// One division only (default: every division).
        #[arg(long)]
        division: Option<String>,
        /// Write to this new file (mode 0600) instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum EraseAction {
    /// The erasure of a case: when, by whom, and which devices are still to confirm their
    /// purge.
    Status {
        #[arg(long)]
        case: String,
        #[arg(long)]
        json: bool,
    },
}

/// A division's retention policy.
#[derive(Subcommand)]
enum PolicyAction {
    /// Set how long handed-over and closed cases stay on the division's devices (0 to 8784
    /// hours; 0: they leave at the next sync). Devices learn it on their next sync.
    Set {
        #[arg(long)]
        division: String,
        #[arg(long, value_name = "HOURS")]
        handover_grace_hours: i64,
    },
    /// Every division's policy that was set, and the default for the others.
    Show {
        #[arg(long)]
        json: bool,
    },
}

/// Retention review.
#[derive(Subcommand)]
enum RetentionAction {
    /// List the closed cases and health records due for review (ids, classes and dates only).
    Due {
        #[arg(long)]
        json: bool,
        /// One division only (default: every division).
        #[arg(long)]
        division: Option<String>,
        /// What is due on this day, YYYY-MM-DD (default: today), to plan ahead.
        #[arg(long, value_name = "DATE")]
        as_of: Option<String>,
    },
    /// Record a review decision for a closed record, made by an enrolled user (`--by`, whose
    /// role decides: cases by the safeguarding unit or an administrator, health records by an
    /// IDVA); audited. Dispose erases the record.
    Decide {
        #[arg(long)]
        record: String,
        /// Keep the record and review it again on this day, YYYY-MM-DD (in the future).
        #[arg(
            long,
            value_name = "DATE",
            conflicts_with = "dispose",
            required_unless_present = "dispose"
        )]
        retain_until: Option<String>,
        /// Dispose of the record (it must be due): it is erased.
        #[arg(long)]
        dispose: bool,
        #[arg(long)]
        reason: String,
        /// The enrolled user who made the decision.
        #[arg(long, value_name = "USER")]
        by: String,
    },
    /// The review periods: the shipped placeholders, and those divisions set.
    Schedule {
        #[command(subcommand)]
        action: ScheduleAction,
    },
}

#[derive(Subcommand)]
enum ScheduleAction {
    /// Every class's shipped period and each division's own.
    Show {
        #[arg(long)]
        json: bool,
    },
    /// Set a division's review period for a class (1 to 1200 months from closure); audited.
    Set {
        #[arg(long)]
        division: String,
        /// police_case or nhs_health
        #[arg(long)]
        class: String,
        #[arg(long, value_name = "MONTHS")]
        review_after_months: i64,
    },
}

/// The server audit log's hash chain.
#[derive(Subcommand)]
enum AuditChain {
    /// Check every entry from the first: exits 5 naming the first edited, removed or
    /// reordered entry, 0 with the number of entries verified.
    Verify {
        /// A head printed earlier by `audit anchor` and kept elsewhere: also fails if the log
        /// was cut short, or rewritten, up to that entry.
        #[arg(long, value_name = "SEQ:HASH")]
        anchor: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Print the log's head, `SEQ:HASH`, to keep where the database's administrators cannot
    /// write; `audit verify --anchor` checks the log against it later.
    Anchor {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum Publishing {
    /// Check and publish the JSON definition in FILE; nothing is stored if it is refused.
    Publish { file: PathBuf },
    /// What devices are given now: each form's newest version, or the directory's version.
    Show {
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Some(dir) = cli.data_dir.clone() else {
        // a global option cannot be required by clap itself: the same error, said here
        Cli::command()
            .error(
                clap::error::ErrorKind::MissingRequiredArgument,
                "the server's data folder is required: give --data-dir DIR \
                 (before or after the subcommand) or set PROVIDE_SERVER_DATA_DIR",
            )
            .exit();
    };
    match run(cli, dir) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(match e {
                ServerError::InvalidInput(_) => 2,
                ServerError::NoSuchDevice(_) => 7,
                ServerError::NoSuchSubject => 4,
                ServerError::AuditBroken { .. } => 5,
                _ => 1,
            })
        }
    }
}

/// A definition file to publish, read within the size the server accepts.
fn read_definition(path: &std::path::Path) -> Result<String> {
    let max = provide_sync_server::service::reference::MAX_DEFINITION_BYTES;
    let meta = std::fs::metadata(path)?;
    if meta.len() > max as u64 {
        return Err(ServerError::InvalidInput(format!(
            "{} is larger than {} KiB",
            path.display(),
            max / 1024
        )));
    }
    String::from_utf8(std::fs::read(path)?)
        .map_err(|_| ServerError::InvalidInput(format!("{} is not UTF-8 text", path.display())))
}

fn json<T: serde::Serialize>(v: &T) {
    println!("{}", serde_json::to_string_pretty(v).expect("serialisable"));
}

fn run(cli: Cli, dir: PathBuf) -> Result<()> {
    let data = DataDir {
        dir,
        key_file: cli.key_file.clone(),
        database_url: cli.database_url.clone(),
        database_ca_cert: cli.database_ca_cert.clone(),
        report_key_file: cli.report_key_file.clone(),
        device_ca_key_file: cli.device_ca_key_file.clone(),
        record_keys: cli.record_keys.clone(),
        record_keys_url: cli.record_keys_url.clone(),
    };
    match cli.command {
        Command::Serve {
            listen,
            tls_cert,
            tls_key,
            max_offline_hours,
            max_connections,
            max_syncs_in_flight,
            sync_workers,
            header_timeout_secs,
            body_min_rate,
            request_timeout_secs,
            final_upload_hours,
            log_format,
            log_level,
            metrics_listen,
        } => {
            // held until serving stops, so the last lines are written out
            let _log = logging::init(
                LogFormat::parse(&log_format)?,
                &logging::level_directive(log_level.as_deref()),
            )?;
            if max_connections == 0
                || max_syncs_in_flight == 0
                || sync_workers == 0
                || header_timeout_secs == 0
            {
                return Err(ServerError::InvalidInput(
                    "the connection and sync caps and the header timeout must be above 0".into(),
                ));
            }
            let limits = Limits {
                max_connections,
                max_syncs_in_flight,
                sync_workers,
                header_timeout: Duration::from_secs(header_timeout_secs),
                body_min_rate,
                request_timeout: Duration::from_secs(request_timeout_secs.max(1)),
                ..Limits::default()
            };
            // the connection cap, not the default 1,024 descriptors, should decide
            listener::raise_open_file_limit();
            let service = data.open(Config {
                max_offline_hours,
                limits,
                final_upload_minutes: final_upload_hours.saturating_mul(60),
                ..Config::default()
            })?;
            let tls = tls_cert.zip(tls_key);
            let scheme = if tls.is_some() { "https" } else { "http" };
            if tls.is_none() && !listen.ip().is_loopback() {
                tracing::warn!(
                    "serving plain http on a non-loopback address; devices will refuse it"
                );
            }
            let running =
                start_with_metrics(service, Listen { addr: listen, tls }, metrics_listen)?;
            println!("listening on {scheme}://{}", running.addr);
            if let Some(m) = running.metrics_addr {
                if !m.ip().is_loopback() {
                    tracing::warn!(
                        "metrics served on a non-loopback address; keep it off public networks"
                    );
                }
                println!("metrics on http://{m}/metrics");
            }
            let metrics = running
                .metrics_addr
                .map_or("off".to_string(), |m| m.to_string());
            tracing::info!(addr = %running.addr, metrics = %metrics, "serving");
            wait_for_stop();
            running.stop();
            Ok(())
        }
        Command::Forms { action } => {
            let service = data.open(Config::default())?;
            match action {
                Publishing::Publish { file } => {
                    let def = service.publish_form(&read_definition(&file)?)?;
                    eprintln!(
                        "Form {} version {} published ({} questions); devices receive it on their next sync.",
                        def.id,
                        def.version,
                        def.question_ids().count()
                    );
                }
                Publishing::Show { json: as_json } => {
                    let tag = service.reference_tag()?;
                    if as_json {
                        json(&provide_core::sync::reference::parse_tag(&tag));
                    } else {
                        println!("{tag}");
                    }
                }
            }
            Ok(())
        }
        Command::Directory { action } => {
            let service = data.open(Config::default())?;
            match action {
                Publishing::Publish { file } => {
                    let dir = service.publish_directory(&read_definition(&file)?)?;
                    eprintln!(
                        "Directory version {} published ({} services); devices receive it on their next sync.",
                        dir.version,
                        dir.services.len()
                    );
                }
                Publishing::Show { json: as_json } => {
                    let dir = service.directory()?;
                    if as_json {
                        json(&dir);
                    } else {
                        println!(
                            "version {} ({}), {} services, published {}",
                            dir.version,
                            dir.area,
                            dir.services.len(),
                            dir.published_at.as_deref().unwrap_or("with this release")
                        );
                    }
                }
            }
            Ok(())
        }
        Command::Backup { out } => {
            let done = provide_sync_server::backup::backup(&data, &out)?;
            eprintln!(
                "Backup written to {} ({} bytes, schema version {}). It is encrypted with the \
                 store's key; keep the key file apart from it.",
                done.file.display(),
                done.bytes,
                done.schema_version
            );
            Ok(())
        }
        Command::BackupKeys { out } => {
            let done = provide_sync_server::backup::backup_keys(&data, &out)?;
            eprintln!(
                "Record keys backed up to {} ({} bytes). Keep this backup only as long as your \
                 erasure schedule allows: a key in it can open an erased record's old copies.",
                done.file.display(),
                done.bytes
            );
            Ok(())
        }
        Command::Rectify {
            case,
            path,
            reason,
            json: as_json,
        } => {
            let service = data.open(Config::default())?;
            let done = service.rectify_case(
                &case,
                &path,
                &reason,
                &operator(),
                provide_core::model::Role::Admin,
            )?;
            if as_json {
                json(&done);
            } else {
                eprintln!(
                    "Case {}: {} value(s) of `{}` struck; the case is at epoch {}. Devices replace their copy on their next sync.",
                    done.case, done.struck, done.path, done.epoch
                );
            }
            Ok(())
        }
        Command::Erase {
            action,
            case,
            reason,
            json: as_json,
        } => {
            let service = data.open(Config::default())?;
            if let Some(EraseAction::Status {
                case,
                json: as_json,
            }) = action
            {
                let Some(status) = service.erasure_status(&case)? else {
                    return Err(ServerError::InvalidInput(format!(
                        "case {} was not erased",
                        case.trim()
                    )));
                };
                let waiting: std::collections::BTreeSet<&str> = status
                    .iter()
                    .flat_map(|e| e.devices.iter())
                    .filter(|d| d.confirmed_at.is_none())
                    .map(|d| d.device.as_str())
                    .collect();
                if as_json {
                    #[derive(serde::Serialize)]
                    struct Status<'a> {
                        case: &'a str,
                        records: &'a [provide_sync_server::storage::Erasure],
                        devices_to_confirm: Vec<&'a str>,
                    }
                    json(&Status {
                        case: case.trim(),
                        records: &status,
                        devices_to_confirm: waiting.iter().copied().collect(),
                    });
                } else {
                    for e in &status {
                        println!(
                            "{} ({}) erased {} by {}",
                            e.record, e.kind, e.erased_at, e.erased_by
                        );
                        for d in &e.devices {
                            match &d.confirmed_at {
                                Some(at) => println!("  {}: purged, confirmed {at}", d.device),
                                None => println!("  {}: still to confirm", d.device),
                            }
                        }
                    }
                }
                return Ok(());
            }
            let (Some(case), Some(reason)) = (case, reason) else {
                return Err(ServerError::InvalidInput(
                    "name the case with --case ID and the reason with --reason TEXT".into(),
                ));
            };
            let done = service.erase_case(&case, &reason, &operator())?;
            if as_json {
                json(&done);
            } else {
                eprintln!(
                    "Case {} erased ({} record(s) now); {} device(s) are to confirm they purged it (erase status --case {}).",
                    done.case,
                    done.records.len(),
                    done.devices_to_confirm,
                    done.case
                );
            }
            Ok(())
        }
        Command::Restore {
            from,
            record_keys_from,
        } => {
            let key_file = cli.key_file.clone().ok_or_else(|| {
                ServerError::InvalidInput(
                    "name the key file of the store the backup was taken of with --key-file".into(),
                )
            })?;
            let target = DataDir {
                key_file: None,
                ..data.clone()
            };
            let done = provide_sync_server::backup::restore(
                &target,
                &from,
                &key_file,
                record_keys_from.as_deref(),
            )?;
            eprintln!(
                "Restored into {} (schema version {}); its key is in {}. {} device(s) will \
                 start over on their next sync.",
                done.file.display(),
                done.schema_version,
                provide_sync_server::backup::key_path(&target).display(),
                done.devices
            );
            Ok(())
        }
        Command::MarkRestored => {
            let service = data.open(Config::default())?;
            let n = service.storage.mark_restored()?;
            eprintln!("{n} device(s) will start over on their next sync.");
            Ok(())
        }
        Command::RotateKey { new_key_file } => {
            use provide_sync_server::rotate::{rotate_key, Rotated};
            match rotate_key(&data, new_key_file.as_deref())? {
                Rotated::Done => {
                    eprintln!("The store is re-keyed; the new key is in the key file.")
                }
                Rotated::Finished => eprintln!(
                    "An interrupted rotation was finished: the store is under the key now in the \
                     key file. Run rotate-key again for another key."
                ),
            }
            Ok(())
        }
        Command::Enrol {
            user,
            role,
            division,
            team,
            valid_hours,
        } => {
            provide_core::model::Role::parse(&role).map_err(ServerError::InvalidInput)?;
            let service = data.open(Config::default())?;
            let code = admin::enrol(&service, &user, &role, &division, &team, valid_hours)?;
            println!("{}", code.as_str());
            Ok(())
        }
        Command::Revoke { device, user } => {
            let service = data.open(Config::default())?;
            match (device, user) {
                (Some(d), _) => {
                    service.revoke_device(&d)?;
                    eprintln!("Device {d} revoked.");
                }
                (None, Some(u)) => {
                    let n = service.revoke_user(&u)?;
                    eprintln!("{n} device(s) revoked.");
                }
                (None, None) => unreachable!("clap requires one"),
            }
            Ok(())
        }
        Command::Policy { action } => {
            let service = data.open(Config::default())?;
            match action {
                PolicyAction::Set {
                    division,
                    handover_grace_hours,
                } => {
                    let set =
                        service.set_retention(&division, handover_grace_hours, &operator())?;
                    if !admin::devices(&service)?
                        .iter()
                        .any(|d| d.division == division.trim())
                    {
                        eprintln!(
                            "Note: no device is enrolled in division {} (divisions are matched exactly, case included).",
                            division.trim()
                        );
                    }
                    eprintln!(
                        "Division {}: handed-over and closed cases stay on devices for {} hours.",
                        division.trim(),
                        set.grace_hours
                    );
                }
                PolicyAction::Show { json: as_json } => {
                    let set = service.retention_policies()?;
                    let default = provide_core::sync::scope::DEFAULT_GRACE_HOURS;
                    if as_json {
                        json(&serde_json::json!({
                            "default_handover_grace_hours": default,
                            "divisions": set,
                        }));
                    } else {
                        println!("default: {default} hours");
                        for p in set {
                            println!(
                                "{}: {} hours (set {})",
                                p.division, p.handover_grace_hours, p.set_at
                            );
                        }
                    }
                }
            }
            Ok(())
        }
        Command::Retention { action } => {
            let service = data.open(Config::default())?;
            retention(&service, action)
        }
        Command::Devices { json: as_json } => {
            let service = data.open(Config::default())?;
            let devices = admin::devices(&service)?;
            if as_json {
                json(&devices);
            } else {
                for d in devices {
                    println!(
                        "{} {} {} {} {} {}",
                        d.id,
                        d.user,
                        d.role,
                        d.division,
                        d.team,
                        if d.revoked { "revoked" } else { "active" }
                    );
                }
            }
            Ok(())
        }
        Command::Held { json: as_json } => {
            let service = data.open(Config::default())?;
            let held = admin::held_for_review(&service)?;
            if as_json {
                json(&held);
            } else {
                for h in held {
                    println!(
                        "{} {} {} {} {} bytes",
                        h.at, h.device, h.kind, h.record, h.bytes
                    );
                }
            }
            Ok(())
        }
        Command::SubjectAccess {
            name,
            dob,
            out,
            force,
        } => {
            let service = data.open(Config::default())?;
            let done = admin::subject_access(&service, &operator(), &name, &dob, &out, force)?;
            eprintln!(
                "{} case(s) written, as JSON and as a printable page (JSON SHA-256 {}); audited. \
                 Review before release: the records may hold other people's data.",
                done.cases, done.sha256
            );
            Ok(())
        }
        Command::Audit {
            chain: Some(chain), ..
        } => {
            let service = data.open(Config::default())?;
            match chain {
                AuditChain::Verify {
                    anchor,
                    json: as_json,
                } => {
                    let check = admin::verify_audit(&service, anchor.as_deref())?;
                    if as_json {
                        json(&check);
                    } else if check.verified {
                        println!(
                            "{} entries verified{}; head {}",
                            check.entries,
                            check
                                .anchor
                                .as_deref()
                                .map(|a| format!(", anchor {a} found"))
                                .unwrap_or_default(),
                            check.head.as_deref().unwrap_or_default()
                        );
                    }
                    check.into_result().map(|_| ())
                }
                AuditChain::Anchor { json: as_json } => {
                    let head = admin::audit_anchor(&service)?;
                    if as_json {
                        json(&head);
                    } else {
                        println!("{head}");
                    }
                    Ok(())
                }
            }
        }
        Command::Audit {
            chain: None,
            json: as_json,
            device,
            user,
            record,
            action,
            verify_device,
        } => {
            let service = data.open(Config::default())?;
            if let Some(d) = verify_device {
                let check = admin::verify_device_audit(&service, &d)?;
                json(&check);
                return Ok(());
            }
            let rows = admin::audit(
                &service,
                &AuditFilter {
                    entries: CheckedAuditQuery {
                        device,
                        user,
                        record,
                        action,
                        ..Default::default()
                    },
                    ..Default::default()
                },
            )?;
            if as_json {
                json(&rows);
            } else {
                for r in rows {
                    println!(
                        "{:>6} {} {} {} {} {} {}",
                        r.seq, r.at, r.device, r.user, r.action, r.record, r.detail
                    );
                }
            }
            Ok(())
        }
        Command::Report {
            from,
            to,
            format,
            division,
            out,
        } => {
            let service = data.open(Config::default())?;
            if let Some(path) = &out {
                if path.exists() {
                    return Err(ServerError::InvalidInput(
                        "the output file already exists; name a new one".into(),
                    ));
                }
            }
            let export = admin::report(
                &service,
                &operator(),
                division.as_deref(),
                &from,
                &to,
                &format,
            )?;
            match out {
                Some(path) => {
                    write_new_file(&path, &export.body)?;
                    eprintln!("{} rows written.", export.rows);
                }
                None => print!("{}", export.body),
            }
            Ok(())
        }
    }
}

/// The `retention` commands.
fn retention(
    service: &provide_sync_server::service::Service,
    action: RetentionAction,
) -> Result<()> {
    use provide_core::model::RecordKind;
    use provide_core::retention::{parse_date, Decision};
    use provide_sync_server::service::review::DecisionRequest;
    match action {
        RetentionAction::Due {
            json: as_json,
            division,
            as_of,
        } => {
            let as_of = match as_of {
                Some(d) => parse_date(&d).map_err(ServerError::InvalidInput)?,
                None => chrono::Utc::now().date_naive(),
            };
            let due = service.due_for_review(
                &[RecordKind::Case, RecordKind::Health],
                division.as_deref().map(str::trim),
                as_of,
            )?;
            if as_json {
                json(&due);
            } else {
                for d in &due.items {
                    println!(
                        "{} {} {} closed {} review {} {}",
                        d.record, d.kind, d.class, d.closed_on, d.review_date, d.division
                    );
                }
                eprintln!(
                    "{} record(s) due for review on {}{}.",
                    due.items.len(),
                    due.as_of,
                    if due.truncated {
                        " (more are due: the oldest are listed)"
                    } else {
                        ""
                    }
                );
            }
            Ok(())
        }
        RetentionAction::Decide {
            record,
            retain_until,
            dispose,
            reason,
            by,
        } => {
            let reviewer = service.reviewer_named(&by, &operator())?;
            let decision = service.decide_review(
                &reviewer,
                &DecisionRequest {
                    record,
                    decision: if dispose {
                        Decision::Dispose
                    } else {
                        Decision::Retain
                    },
                    retain_until,
                    reason,
                },
            )?;
            match &decision.retain_until {
                Some(until) => eprintln!(
                    "Record {} ({}) retained until {until}; decision recorded and audited.",
                    decision.record, decision.class
                ),
                None => eprintln!(
                    "Record {} ({}) to be disposed of; decision recorded and audited.",
                    decision.record, decision.class
                ),
            }
            Ok(())
        }
        RetentionAction::Schedule {
            action: ScheduleAction::Show { json: as_json },
        } => {
            let schedule = service.review_schedule()?;
            if as_json {
                json(&schedule);
            } else {
                if schedule.placeholder {
                    println!(
                        "shipped periods are PLACEHOLDERS: set the force's and the trust's own"
                    );
                }
                for c in &schedule.classes {
                    println!(
                        "{} ({}): {} months after closure",
                        c.id, c.kind, c.review_after_months
                    );
                }
                for p in &schedule.divisions {
                    println!(
                        "{} {}: {} months (set {})",
                        p.division, p.class, p.review_after_months, p.set_at
                    );
                }
            }
            Ok(())
        }
        RetentionAction::Schedule {
            action:
                ScheduleAction::Set {
                    division,
                    class,
                    review_after_months,
                },
        } => {
            let months =
                service.set_review_period(&division, &class, review_after_months, &operator())?;
            eprintln!(
                "Division {}: records of class {} are reviewed {months} months after closure.",
                division.trim(),
                class.trim()
            );
            Ok(())
        }
    }
}

/// The login name running this command, as the audit log records it.
fn operator() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .map(|u| {
            u.trim()
                .chars()
                .filter(|c| !c.is_control())
                .take(64)
                .collect::<String>()
        })
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "unknown operator".to_string())
}

/// Writes `text` to a new file readable only by this user.
fn write_new_file(path: &std::path::Path, text: &str) -> Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            ServerError::InvalidInput("the output file already exists; name a new one".into())
        } else {
            e.into()
        }
    })?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

/// Blocks until SIGINT or SIGTERM.
fn wait_for_stop() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a signal runtime");
    rt.block_on(async {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {},
                _ = term.recv() => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    });
}
