//! The command-line grammar of `provide` (clap derive). See the README for the contract.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "provide",
    version,
    about = "Provide: the offline patrol case store, from the command line"
)]
pub struct Cli {
    /// The store's folder [default on Windows: %LOCALAPPDATA%\Provide].
    #[arg(long, global = true, env = "PROVIDE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Unlock as this user (when several share the device).
    #[arg(long = "as", global = true, value_name = "USER")]
    pub as_user: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Create a new encrypted store with its first user (a device without a server).
    Init(InitArgs),
    /// Enrol this device with a sync server using a one-time code, creating its store.
    Enrol(EnrolArgs),
    /// Send unsynced changes to the server and receive what is new, now.
    Sync(SyncArgs),
    /// Say whether a store exists, is wiped or is backing off, without unlocking it.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Users of this device.
    #[command(subcommand)]
    User(UserCmd),
    /// Cases: create, edit, assess, show, list, history.
    #[command(subcommand)]
    Case(CaseCmd),
    /// The IDVA's health records.
    #[command(subcommand)]
    Health(HealthCmd),
    /// Patrol shifts.
    #[command(subcommand)]
    Shift(ShiftCmd),
    /// Risk form definitions.
    Forms {
        /// dash or dara
        form: String,
    },
    /// The offline directory of support services.
    Directory {
        #[arg(long)]
        search: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Encrypted rescue bundles.
    #[command(subcommand)]
    Bundle(BundleCmd),
    /// The device's audit log.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Syncing with the partner's device in the car, with no server: pairing and sessions.
    #[command(subcommand)]
    Peer(PeerCmd),
    /// Lock and lockout settings.
    Settings(SettingsArgs),
}

#[derive(Args)]
pub struct InitArgs {
    #[arg(long)]
    pub user: String,
    #[arg(long)]
    pub role: String,
    #[arg(long, default_value = "")]
    pub division: String,
    #[arg(long, default_value = "")]
    pub team: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// How a new store protects its key.
#[derive(Args)]
pub struct StoreArgs {
    /// Argon2id memory cost in KiB (default 65536; at least 19456).
    #[arg(long)]
    pub kdf_memory_kib: Option<u32>,
    /// Argon2id passes (default 3; at least 2).
    #[arg(long)]
    pub kdf_iterations: Option<u32>,
    /// Failed unlocks before the data key is destroyed (default 10).
    #[arg(long)]
    pub max_attempts: Option<u32>,
    /// First back-off after a failed unlock, in milliseconds (default 1000; doubles each time).
    #[arg(long)]
    pub backoff_base_ms: Option<u64>,
    /// Lock after this many idle minutes (default 5, at most 15).
    #[arg(long)]
    pub idle_lock_minutes: Option<u32>,
}

#[derive(Args)]
pub struct EnrolArgs {
    /// The sync server, https://… (plain http only to this machine).
    #[arg(long)]
    pub server: String,
    /// The one-time enrolment code from the administrator.
    #[arg(long)]
    pub code: String,
    /// A PEM certificate authority to trust for the server (also PROVIDE_CA_CERT); the
    /// device keeps it, encrypted, and trusts it for every later sync.
    #[arg(long, env = "PROVIDE_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args)]
pub struct SyncArgs {
    /// Print the sync report as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// If the server cannot be reached, keep trying with backoff for up to this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub wait: Option<u64>,
    /// A PEM certificate authority to trust for the server (also PROVIDE_CA_CERT), in place
    /// of the one kept since enrolment; once a sync with it succeeds, it replaces that one.
    #[arg(long, env = "PROVIDE_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
    /// About how many bytes of changes each request carries (default 262144).
    #[arg(long)]
    pub max_upload_bytes: Option<usize>,
    /// The largest page of updates to ask for, in bytes (default 1048576).
    #[arg(long)]
    pub max_response_bytes: Option<u64>,
}

#[derive(Subcommand)]
pub enum UserCmd {
    /// Add another user to this device with the enrolment code an administrator issued for
    /// them: the server names the user and their role (their passphrase from
    /// PROVIDE_NEW_PASSPHRASE or a prompt). A device with no server has one user.
    Add {
        #[arg(long)]
        code: String,
        /// A PEM certificate authority to trust for the server (also PROVIDE_CA_CERT) in place
        /// of the one kept since enrolment.
        #[arg(long, env = "PROVIDE_CA_CERT")]
        ca_cert: Option<PathBuf>,
    },
    /// Change your passphrase (the new one from PROVIDE_NEW_PASSPHRASE or a prompt).
    Passphrase,
    /// Who is signed in.
    Whoami,
}

#[derive(Subcommand)]
pub enum CaseCmd {
    /// Create a case; prints its id alone.
    New {
        #[arg(long)]
        deployment: String,
        /// PATH=VALUE, repeatable.
        #[arg(long = "set", value_name = "PATH=VALUE")]
        sets: Vec<String>,
    },
    /// Set fields: PATH=VALUE...
    Set {
        id: String,
        #[arg(required = true, value_name = "PATH=VALUE")]
        sets: Vec<String>,
    },
    /// Append an item to a list (notes, visits, referrals, safety_plan, children); prints its id.
    Add {
        id: String,
        list: String,
        json: String,
    },
    /// Record a risk assessment (dash or dara) from a JSON object of answers.
    Assess {
        id: String,
        form: String,
        answers: String,
        /// Professional-judgement level (raises DASH; is the DARA level).
        #[arg(long)]
        level: Option<String>,
        /// Why the level was set by judgement.
        #[arg(long)]
        reason: Option<String>,
        /// Police-recorded incidents in the last twelve months.
        #[arg(long = "incidents-12m")]
        incidents_12m: Option<u64>,
        #[arg(long)]
        json: bool,
    },
    /// Show a case with its derived risk and conflicts.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// List cases, newest first.
    List {
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        risk: Option<String>,
        #[arg(long)]
        deployment: Option<String>,
        #[arg(long)]
        search: Option<String>,
        #[arg(long)]
        limit: Option<usize>,
        #[arg(long)]
        json: bool,
    },
    /// Who changed what, when (optionally under one field path).
    History {
        id: String,
        path: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// The safeguarding unit: fetch a closed case from the server by its police reference or
    /// the victim's whole name (audited on both sides; it leaves again after the grace period).
    Fetch {
        #[arg(long, conflicts_with = "search", required_unless_present = "search")]
        reference: Option<String>,
        /// The victim's whole name (case and spacing ignored).
        #[arg(long)]
        search: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum HealthCmd {
    /// Add a health note to a case (IDVA only); prints its id.
    Note { case_id: String, text: String },
    /// Set where the victim can be seen discreetly (IDVA only).
    Discreet { case_id: String, text: String },
    /// Show a case's health record (IDVA only).
    Show {
        case_id: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum ShiftCmd {
    /// Start a shift; prints its id.
    Start {
        /// early (07:00-15:00) or late (14:00-22:00)
        #[arg(long)]
        pattern: String,
        #[arg(long)]
        call_sign: String,
        #[arg(long)]
        partner: String,
        #[arg(long)]
        date: Option<String>,
    },
    /// Add a case to the shift's planned visits.
    Plan { shift_id: String, case_id: String },
    /// End a shift.
    End { shift_id: String },
    Show {
        shift_id: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum BundleCmd {
    /// Seal a case, or every unsynced record, into an encrypted file.
    Export {
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        case: Option<String>,
        /// Also include health records (IDVA to IDVA only; never for the police team).
        #[arg(long)]
        include_health: bool,
    },
    /// Merge a bundle into this store.
    Import {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum PeerCmd {
    /// Wait for the partner: prints `listening on HOST:PORT code CODE` first, then a line per
    /// session, until stopped.
    Listen {
        /// The address to listen on (default: every interface, a free port).
        #[arg(long, default_value = "0.0.0.0:0")]
        listen: String,
        /// Serve this many sessions, then stop (default: until stopped).
        #[arg(long)]
        sessions: Option<u32>,
        /// Print each session's report as one JSON line.
        #[arg(long)]
        json: bool,
    },
    /// Sync once with the partner at HOST:PORT.
    Sync {
        #[arg(long, value_name = "HOST:PORT")]
        peer: String,
        /// The pairing code the partner's screen shows (needed once a shift).
        #[arg(long)]
        code: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// The shift's pairing and this device's certificate.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// End the shift's pairing.
    End,
}

#[derive(Subcommand)]
pub enum AuditCmd {
    /// Check the hash chain; names the first bad entry.
    Verify,
    /// Print the log.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
pub struct SettingsArgs {
    #[arg(long)]
    pub idle_lock_minutes: Option<u32>,
    #[arg(long)]
    pub max_attempts: Option<u32>,
    #[arg(long)]
    pub json: bool,
}
