//! The pair in the car, from the app (issue 18). "Pair with partner" on the Shift screen
//! either shows this device's pairing code and waits for the partner (`peer_show_code`: a
//! thread listens, and serves each session the partner starts), or takes the partner's address
//! and code (`peer_pair`). Once paired, the device that dialled syncs with its partner by
//! itself while the partner is reachable (the `Scheduler`'s `PeerSyncDue`), and the sync
//! indicator shows when the two last synced. Ending the shift, or "End pairing", ends it.
//!
//! As with the server, a session holds the store only while a step reads or writes it, never
//! while waiting on the partner.

use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Serialize;

use super::{lock, App, Shared};
use crate::error::{Error, IpcError, Result};
use crate::peer::{session, Listener, PeerReport};
use crate::store::Pairing;

/// What this device shows its partner while it waits: the address and code to type, and the
/// same as one line for a QR code (`provide-pair:HOST:PORT:CODE`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ts_rs::TS)]
pub struct PairingOffer {
    pub address: String,
    pub code: String,
    pub qr_text: String,
    /// `qr_text` as a QR code: one string per row, `#` for a dark module (no quiet zone).
    pub qr_rows: Vec<String>,
}

/// `text` as rows of a QR code (`#` dark, space light), or none if it cannot be one.
pub fn qr_rows(text: &str) -> Vec<String> {
    let Ok(code) = qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::M) else {
        return vec![];
    };
    let width = code.width();
    code.to_colors()
        .chunks(width)
        .map(|row| {
            row.iter()
                .map(|c| if *c == qrcode::Color::Dark { '#' } else { ' ' })
                .collect()
        })
        .collect()
}

/// The pairing as the Shift screen and the sync indicator show it.
#[derive(Debug, Clone, Default, Serialize, PartialEq, ts_rs::TS)]
pub struct PeerStatus {
    /// The shift's pairing, if there is one.
    pub pairing: Option<Pairing>,
    /// Shown while this device waits for its partner.
    pub offer: Option<PairingOffer>,
    /// The partner's address this device syncs with by itself.
    pub partner_address: Option<String>,
    /// Whether this device holds a valid certificate (else: sync with the server once).
    pub certificate_valid: bool,
    /// The last session's failure, in plain words, until one succeeds.
    pub last_error: Option<IpcError>,
}

/// The app's side of the pairing: the listening thread, the partner's address, the last error.
#[derive(Default)]
pub(super) struct PeerLink {
    listening: Option<Listening>,
    partner: Option<String>,
    last_error: Option<IpcError>,
}

struct Listening {
    offer: PairingOffer,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Listening {
    fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads a pairing as typed or scanned: `HOST:PORT` and a code, or the QR code's one line.
pub fn parse_pairing(address: &str, code: &str) -> Result<(String, String)> {
    let line = address.trim();
    if let Some(rest) = line.strip_prefix("provide-pair:") {
        let (addr, code) = rest.rsplit_once(':').ok_or_else(|| {
            Error::InvalidInput("the pairing QR code is not one of Provide's".into())
        })?;
        return Ok((addr.to_string(), code.to_string()));
    }
    if line.is_empty() {
        return Err(Error::InvalidInput(
            "the partner's address is missing (it is shown with the code, as HOST:PORT)".into(),
        ));
    }
    Ok((line.to_string(), code.trim().to_string()))
}

impl App {
    fn peer(&self) -> std::sync::MutexGuard<'_, PeerLink> {
        lock(&self.peer)
    }

    /// The pairing, the code on show, and the partner's address.
    pub fn peer_status(&self) -> Result<PeerStatus> {
        let (pairing, expires) =
            self.with_store(|s| Ok((s.pairing()?, s.peer_certificate_expiry()?)))?;
        let link = self.peer();
        Ok(PeerStatus {
            pairing,
            offer: link.listening.as_ref().map(|l| l.offer.clone()),
            partner_address: link.partner.clone(),
            certificate_valid: expires.is_some_and(|at| at > self.now_ms()),
            last_error: link.last_error.clone(),
        })
    }

    /// Shows a pairing code and waits for the partner on `listen` (`0.0.0.0:0` in the app:
    /// every interface, a free port), serving each session it starts until the pairing ends.
    pub fn peer_show_code(self: &Arc<Self>, listen: &str) -> Result<PeerStatus> {
        if let Some(old) = self.peer().listening.take() {
            old.stop();
        }
        let listener = self.with_store(|s| Listener::bind(s, listen))?;
        let bound = listener.local_addr()?;
        let host = if bound.ip().is_unspecified() {
            session::lan_address().unwrap_or(bound.ip())
        } else {
            bound.ip()
        };
        let address = std::net::SocketAddr::new(host, bound.port()).to_string();
        let code = listener.code().to_string();
        let qr_text = format!("provide-pair:{address}:{code}");
        let offer = PairingOffer {
            qr_rows: qr_rows(&qr_text),
            qr_text,
            address,
            code,
        };
        let stop = Arc::new(AtomicBool::new(false));
        let (app, halt) = (Arc::clone(self), stop.clone());
        let thread = std::thread::Builder::new()
            .name("provide-peer".into())
            .spawn(move || app.serve_partner(listener, &halt))
            .map_err(|e| Error::Internal(format!("the pairing thread could not start ({e})")))?;
        self.peer().listening = Some(Listening {
            offer,
            stop,
            thread: Some(thread),
        });
        self.peer_status()
    }

    /// The listening thread: serves each partner that connects, until told to stop.
    fn serve_partner(&self, mut listener: Listener, stop: &AtomicBool) {
        while !stop.load(Ordering::Relaxed) {
            let tcp: TcpStream = match listener.accept_within(Duration::from_millis(300)) {
                Ok(Some(tcp)) => tcp,
                Ok(None) => continue,
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(300));
                    continue;
                }
            };
            let result = listener.serve(&Shared(self), tcp);
            self.peer().last_error = result.err().map(|e| IpcError::from(&e));
        }
    }

    /// Pairs with the partner whose screen shows `address` and `code` (or the QR code's line
    /// as `address`), and syncs with it at once.
    pub fn peer_pair(&self, address: &str, code: &str) -> Result<PeerReport> {
        let (address, code) = parse_pairing(address, code)?;
        let result = session::dial_shared(&Shared(self), &address, Some(&code));
        let mut link = self.peer();
        link.last_error = result.as_ref().err().map(IpcError::from);
        if result.is_ok() {
            link.partner = Some(address);
        }
        result
    }

    /// Syncs with the paired partner now (the scheduler calls this by itself).
    pub fn peer_sync_now(&self) -> Result<PeerReport> {
        let address = self.peer().partner.clone().ok_or_else(|| {
            Error::InvalidInput("this device is not paired with a partner's device".into())
        })?;
        let result = session::dial_shared(&Shared(self), &address, None);
        self.peer().last_error = result.as_ref().err().map(IpcError::from);
        result
    }

    /// Whether this device syncs with a partner by itself: it dialled one this shift, and is
    /// still paired with it.
    pub fn peer_partner_known(&self) -> bool {
        self.peer().partner.is_some()
            && self
                .with_store(|s| Ok(s.pairing()?.is_some()))
                .unwrap_or(false)
    }

    /// Ends the pairing: stops waiting for the partner, forgets its address, and ends the
    /// pairing in the store (audited).
    pub fn peer_end(&self) -> Result<PeerStatus> {
        let listening = {
            let mut link = self.peer();
            link.partner = None;
            link.last_error = None;
            link.listening.take()
        };
        if let Some(l) = listening {
            l.stop();
        }
        self.with_store(|s| s.end_pairing())?;
        self.peer_status()
    }

    /// Stops the listening thread (the app locks or quits); the pairing stays for the shift.
    pub(super) fn peer_stop_listening(&self) {
        let listening = self.peer().listening.take();
        if let Some(l) = listening {
            l.stop();
        }
    }
}

/// A shared handle the listening thread keeps: the app itself.
pub(super) type PeerLinkCell = Mutex<PeerLink>;
