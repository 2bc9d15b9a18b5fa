//! One sync session between the pair's devices, over mutual TLS on the car's network.
//!
//! The listening device shows a pairing code and waits (`Listener`); the other dials it
//! (`dial`). After the handshake each side reads the other's verified certificate and refuses
//! (`acceptable`) a device of another division or team, a revoked one, one not in a patrol
//! role, and — unless the dialer proves the code shown this shift, or the two are already
//! paired — any device at all. Then the records pass both ways in two round trips
//! (`message`), each record checked by the receiver as the server would (`Store::
//! take_from_partner`), and both sides audit the session.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConnection, ServerConnection, StreamOwned};
use serde::Serialize;

use super::certificate::{self, PeerIdentity, PEER_NAME};
use super::message::{self, Message};
use super::pairing::{self, Side, MAX_WRONG_PROOFS};
use super::tls;
use crate::error::{Error, Result};
use crate::model::Role;
use crate::store::{PeerCredentials, Store};
use crate::sync::client::{access, StoreAccess};
use std::cell::RefCell;

/// How long either side waits for the other at any step.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a handshake, and a whole session, may take: a partner that trickles bytes cannot
/// hold a listener for longer.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(120);

/// What a session did, counted on the link (TLS payload: the frames).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq, ts_rs::TS)]
pub struct PeerReport {
    pub partner_device: String,
    pub partner_user: String,
    pub partner_role: String,
    /// Whether this session paired the two (a code was proven), rather than an earlier one.
    pub paired_now: bool,
    pub records_sent: usize,
    pub records_received: usize,
    /// Records the partner sent that this device did not take, `id: why`.
    pub refused: Vec<String>,
    /// Records this device sent that the partner did not take, `id: why`.
    pub refused_by_partner: Vec<String>,
    #[ts(type = "number")]
    pub bytes_up: u64,
    #[ts(type = "number")]
    pub bytes_down: u64,
    pub round_trips: u32,
}

impl PeerReport {
    /// A finished session's report: what was sent and taken, what the partner refused, and the
    /// bytes counted on `link`.
    fn of<S>(
        partner: &PeerIdentity,
        paired_now: bool,
        (sent, taken, refused_by_partner): (Vec<String>, crate::store::PeerTaken, Vec<String>),
        link: &Counted<S>,
    ) -> PeerReport {
        PeerReport {
            partner_device: partner.claims.device_id.clone(),
            partner_user: partner.claims.user.clone(),
            partner_role: partner.claims.role.to_string(),
            paired_now,
            records_sent: sent.len(),
            records_received: taken.taken.len(),
            refused: taken.refused,
            refused_by_partner,
            bytes_up: link.up,
            bytes_down: link.down,
            round_trips: 2,
        }
    }
}

/// Whether this device syncs with `partner` at all: a patrol device of the same division and
/// team, not this device, not revoked.
pub fn acceptable(
    own: &PeerIdentity,
    partner: &PeerIdentity,
    creds: &PeerCredentials,
) -> Result<()> {
    let (o, p) = (&own.claims, &partner.claims);
    let refuse = |why: &str| Err(Error::PeerRefused(why.to_string()));
    if p.device_id == o.device_id {
        return refuse("it is this device");
    }
    if creds.revoked.contains(&p.device_id) {
        return refuse("the server revoked that device");
    }
    if !matches!(p.role, Role::Officer | Role::Idva) {
        return refuse("only the officer's and the IDVA's devices sync in the car");
    }
    if p.division.is_empty() || p.division != o.division || p.team != o.team {
        return refuse("that device belongs to another division or team");
    }
    Ok(())
}

/// The partner's identity from its verified certificate, refused if not `acceptable`.
fn partner_of(
    certs: Option<&[rustls::pki_types::CertificateDer<'_>]>,
    creds: &PeerCredentials,
) -> Result<PeerIdentity> {
    let der = certs
        .and_then(|c| c.first())
        .ok_or_else(|| Error::PeerRefused("it presented no certificate".into()))?;
    let partner = certificate::claims_of(der)?;
    acceptable(&creds.own, &partner, creds)?;
    Ok(partner)
}

/// Records a refusal (`PeerRefused`) in the audit log, and passes the error on.
fn audited(store: &dyn StoreAccess, partner: Option<&PeerIdentity>, e: Error) -> Error {
    if let Error::PeerRefused(why) = &e {
        let _ = access(store, |s| {
            s.audit_peer_refusal(partner.map(|p| &p.claims), why)
        });
    }
    e
}

/// Shortens the reads of a handshake and returns when it must be over.
fn handshake_deadline(tcp: &TcpStream) -> Result<std::time::Instant> {
    tcp.set_read_timeout(Some(HANDSHAKE_TIMEOUT / 4))?;
    Ok(std::time::Instant::now() + HANDSHAKE_TIMEOUT)
}

fn own_certificate_valid(creds: &PeerCredentials) -> Result<()> {
    if creds.not_after_ms <= chrono::Utc::now().timestamp_millis() {
        return Err(Error::NoPeerCertificate);
    }
    Ok(())
}

fn timeouts(tcp: &TcpStream) -> Result<()> {
    tcp.set_read_timeout(Some(STEP_TIMEOUT))?;
    tcp.set_write_timeout(Some(STEP_TIMEOUT))?;
    tcp.set_nodelay(true)?;
    Ok(())
}

/// Counts what crosses a stream.
struct Counted<S> {
    inner: S,
    up: u64,
    down: u64,
    /// No message is waited for after this.
    deadline: std::time::Instant,
}

impl<S> Counted<S> {
    fn new(inner: S) -> Self {
        Counted {
            inner,
            up: 0,
            down: 0,
            deadline: std::time::Instant::now() + SESSION_TIMEOUT,
        }
    }
}

impl<S: Read + Write> Counted<S> {
    fn send(&mut self, m: &Message) -> Result<()> {
        self.up += message::send(&mut self.inner, m)?;
        Ok(())
    }

    /// The next message, of at most `max` bytes; a `Refused` from the partner becomes the
    /// error.
    fn receive(&mut self, max: usize) -> Result<Message> {
        if std::time::Instant::now() > self.deadline {
            return Err(Error::PeerUnreachable("the session took too long".into()));
        }
        let (m, n) = message::receive(&mut self.inner, max)?;
        self.down += n;
        match m {
            Message::Refused { reason } => {
                Err(Error::PeerRefused(format!("the partner said: {reason}")))
            }
            m => Ok(m),
        }
    }

    /// Tells the partner why, records a refusal in the audit log, then fails with `e`.
    fn refuse<T>(
        &mut self,
        store: &dyn StoreAccess,
        partner: Option<&PeerIdentity>,
        e: Error,
    ) -> Result<T> {
        let reason: String = e.to_string().chars().take(300).collect();
        let _ = self.send(&Message::Refused { reason });
        Err(audited(store, partner, e))
    }
}

/// A TLS stream to the partner, set up by `connect`.
pub type DialedStream = StreamOwned<ClientConnection, TcpStream>;

/// Connects to the partner at `addr` over mutual TLS and checks who it is: this device's
/// credentials, the stream, and the partner's verified identity.
pub fn connect(store: &Store, addr: &str) -> Result<(PeerCredentials, DialedStream, PeerIdentity)> {
    let creds = store.peer_credentials()?;
    let (tls, partner) = connect_with(&creds, addr)?;
    Ok((creds, tls, partner))
}

fn connect_with(creds: &PeerCredentials, addr: &str) -> Result<(DialedStream, PeerIdentity)> {
    own_certificate_valid(creds)?;
    let bad_addr = || Error::InvalidInput(format!("`{addr}` is not a partner address (HOST:PORT)"));
    let target: SocketAddr = addr
        .to_socket_addrs()
        .map_err(|_| bad_addr())?
        .next()
        .ok_or_else(bad_addr)?;
    let tcp = TcpStream::connect_timeout(&target, STEP_TIMEOUT)
        .map_err(|e| Error::PeerUnreachable(e.kind().to_string()))?;
    timeouts(&tcp)?;
    let name = ServerName::try_from(PEER_NAME).map_err(|_| Error::Internal("peer name".into()))?;
    let conn = ClientConnection::new(tls::client_config(creds)?, name)
        .map_err(|e| Error::Crypto(e.to_string()))?;
    let mut tls = StreamOwned::new(conn, tcp);
    let until = handshake_deadline(&tls.sock)?;
    while tls.conn.is_handshaking() {
        if std::time::Instant::now() > until {
            return Err(Error::PeerUnreachable("the handshake took too long".into()));
        }
        tls.conn
            .complete_io(&mut tls.sock)
            .map_err(message::link_error)?;
    }
    tls.sock.set_read_timeout(Some(STEP_TIMEOUT))?;
    let partner = partner_of(tls.conn.peer_certificates(), creds)?;
    Ok((tls, partner))
}

/// Dials the partner at `addr` and syncs once. `code` is the pairing code the partner shows:
/// needed the first time in a shift, after which the two stay paired.
pub fn dial(store: &mut Store, addr: &str, code: Option<&str>) -> Result<PeerReport> {
    dial_shared(&RefCell::new(store), addr, code)
}

/// `dial` over a store reached through `StoreAccess`, held only while a step needs it (never
/// while waiting on the partner).
pub fn dial_shared(store: &dyn StoreAccess, addr: &str, code: Option<&str>) -> Result<PeerReport> {
    let code = match code {
        Some(c) => Some(pairing::normalise(c).ok_or_else(|| {
            Error::InvalidInput(
                "the pairing code is 10 letters and digits, as the partner's screen shows it"
                    .into(),
            )
        })?),
        None => None,
    };
    let creds = access(store, |s| s.peer_credentials())?;
    let (tls, partner) = connect_with(&creds, addr).map_err(|e| audited(store, None, e))?;
    run_dialer(store, &creds, &partner, code.as_deref(), tls)
}

/// The dialer's half of a session, on an established stream with `partner`.
pub fn run_dialer<S: Read + Write>(
    store: &dyn StoreAccess,
    creds: &PeerCredentials,
    partner: &PeerIdentity,
    code: Option<&str>,
    stream: S,
) -> Result<PeerReport> {
    let mut link = Counted::new(stream);
    let own_key = &creds.own.key_fingerprint;
    let paired = access(store, |s| s.paired_with(partner))?;
    let proof = match code {
        Some(c) => pairing::proof(c, Side::Dialer, &partner.key_fingerprint, own_key)?.to_vec(),
        None if paired => vec![],
        None => return link.refuse(store, Some(partner), Error::PeerRefused(
            "this device is not paired with that one: enter the code the partner's screen shows"
                .into(),
        )),
    };
    let held = access(store, |s| s.peer_held(&partner.claims))?;
    link.send(&Message::Hello { proof, held })?;
    let Message::Offer {
        proof,
        docs,
        attested,
        held: theirs,
    } = link
        .receive(message::MAX_FRAME)
        .map_err(|e| audited(store, Some(partner), e))?
    else {
        return Err(Error::Protocol("the partner answered out of turn".into()));
    };
    let paired_now = match code {
        Some(c) => {
            if !pairing::verify(c, Side::Listener, &partner.key_fingerprint, own_key, &proof) {
                return link.refuse(store, Some(partner), Error::PeerRefused(
                    "the partner could not prove the pairing code: check the code on its screen"
                        .into(),
                ));
            }
            if let Err(e) = access(store, |s| s.record_pairing(partner)) {
                return link.refuse(store, Some(partner), e);
            }
            true
        }
        None => false,
    };
    let received = access(store, |s| {
        s.take_from_partner(partner, creds, &docs, &attested, &theirs)
    })?;
    let (push, attested) = access(store, |s| s.peer_offer(creds, &partner.claims, &theirs))?;
    let sent: Vec<String> = push.iter().map(|d| d.id.clone()).collect();
    link.send(&Message::Push {
        docs: push,
        attested,
    })?;
    let Message::Done { refused, .. } = link
        .receive(message::MAX_SMALL_FRAME)
        .map_err(|e| audited(store, Some(partner), e))?
    else {
        return Err(Error::Protocol("the partner answered out of turn".into()));
    };
    access(store, |s| s.audit_peer_session(partner, &sent, &received))?;
    Ok(PeerReport::of(
        partner,
        paired_now,
        (sent, received, refused),
        &link,
    ))
}

/// This device's address on the local network (the car's hotspot), for a listener bound to
/// every interface: the source address of a route out, found without sending anything.
pub fn lan_address() -> Option<std::net::IpAddr> {
    let probe = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    probe.connect("192.0.2.1:9").ok()?;
    probe
        .local_addr()
        .ok()
        .map(|a| a.ip())
        .filter(|ip| !ip.is_unspecified())
}

/// Reads what the dialer still sends, for a moment, before a refusal closes the connection:
/// closing with unread bytes would reset it, and the dialer would lose the reason.
fn drain(tcp: &mut TcpStream) {
    let _ = tcp.shutdown(std::net::Shutdown::Write);
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(2)));
    let mut sink = [0u8; 4096];
    while matches!(tcp.read(&mut sink), Ok(n) if n > 0) {}
}

/// A device waiting for its partner, with the pairing code it shows.
pub struct Listener {
    socket: TcpListener,
    code: String,
    wrong_proofs: u32,
}

impl Listener {
    /// Listens on `addr` with a fresh pairing code. Needs a valid certificate first.
    pub fn bind(store: &Store, addr: &str) -> Result<Listener> {
        own_certificate_valid(&store.peer_credentials()?)?;
        let socket = TcpListener::bind(addr).map_err(|e| {
            Error::InvalidInput(format!("cannot listen on `{addr}` ({})", e.kind()))
        })?;
        Ok(Listener {
            socket,
            code: pairing::new_code(),
            wrong_proofs: 0,
        })
    }

    pub fn local_addr(&self) -> Result<SocketAddr> {
        Ok(self.socket.local_addr()?)
    }

    /// The pairing code to show the partner (`ABCDE-FGHJK`).
    pub fn code(&self) -> &str {
        &self.code
    }

    /// Waits for one partner and serves its session. An error ends that session only.
    pub fn serve_one(&mut self, store: &mut Store) -> Result<PeerReport> {
        self.socket.set_nonblocking(false)?;
        let (tcp, _) = self.socket.accept()?;
        self.serve(&RefCell::new(store), tcp)
    }

    /// Waits up to `wait` for a partner to connect (the app's listening thread polls this, so
    /// it can stop, and holds the store only for a session).
    pub fn accept_within(&self, wait: Duration) -> Result<Option<TcpStream>> {
        self.socket.set_nonblocking(true)?;
        let until = std::time::Instant::now() + wait;
        loop {
            match self.socket.accept() {
                Ok((tcp, _)) => {
                    tcp.set_nonblocking(false)?;
                    return Ok(Some(tcp));
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if std::time::Instant::now() >= until {
                        return Ok(None);
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Serves the session of a partner that connected on `tcp`.
    pub fn serve(&mut self, store: &dyn StoreAccess, tcp: TcpStream) -> Result<PeerReport> {
        timeouts(&tcp)?;
        let creds = access(store, |s| s.peer_credentials())?;
        own_certificate_valid(&creds)?;
        let conn = ServerConnection::new(tls::server_config(&creds)?)
            .map_err(|e| Error::Crypto(e.to_string()))?;
        let mut tls = StreamOwned::new(conn, tcp);
        let until = handshake_deadline(&tls.sock)?;
        while tls.conn.is_handshaking() {
            if std::time::Instant::now() > until {
                return Err(Error::PeerUnreachable("the handshake took too long".into()));
            }
            if let Err(e) = tls.conn.complete_io(&mut tls.sock) {
                // the alert is out; the dialer reads it, not a reset
                drain(&mut tls.sock);
                return Err(audited(store, None, message::link_error(e)));
            }
        }
        tls.sock.set_read_timeout(Some(STEP_TIMEOUT))?;
        let partner = match partner_of(tls.conn.peer_certificates(), &creds) {
            Ok(p) => p,
            Err(e) => {
                let _ = message::send(
                    &mut tls,
                    &Message::Refused {
                        reason: e.to_string(),
                    },
                );
                drain(&mut tls.sock);
                let who = tls
                    .conn
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .and_then(|d| certificate::claims_of(d).ok());
                return Err(audited(store, who.as_ref(), e));
            }
        };
        self.run_listener(store, &creds, &partner, tls)
    }

    /// The listener's half of a session, on an established stream with `partner`.
    pub fn run_listener<S: Read + Write>(
        &mut self,
        store: &dyn StoreAccess,
        creds: &PeerCredentials,
        partner: &PeerIdentity,
        stream: S,
    ) -> Result<PeerReport> {
        let mut link = Counted::new(stream);
        let own_key = &creds.own.key_fingerprint;
        let Message::Hello {
            proof,
            held: theirs,
        } = link
            .receive(message::MAX_SMALL_FRAME)
            .map_err(|e| audited(store, Some(partner), e))?
        else {
            return link.refuse(
                store,
                Some(partner),
                Error::Protocol("the partner spoke out of turn".into()),
            );
        };
        let (answer, paired_now) = if proof.is_empty() {
            let paired = access(store, |s| s.paired_with(partner))?;
            if !paired {
                return link.refuse(store, Some(partner), Error::PeerRefused(
                    "that device is not paired with this one: it must enter the code this screen shows".into(),
                ));
            }
            (vec![], false)
        } else {
            if self.wrong_proofs >= MAX_WRONG_PROOFS {
                return link.refuse(
                    store,
                    Some(partner),
                    Error::PeerRefused("too many wrong pairing codes: show a new code".into()),
                );
            }
            if !pairing::verify(
                &self.code,
                Side::Dialer,
                own_key,
                &partner.key_fingerprint,
                &proof,
            ) {
                self.wrong_proofs += 1;
                return link.refuse(
                    store,
                    Some(partner),
                    Error::PeerRefused("the pairing code was wrong".into()),
                );
            }
            if let Err(e) = access(store, |s| s.record_pairing(partner)) {
                return link.refuse(store, Some(partner), e);
            }
            let mine = pairing::proof(
                &self.code,
                Side::Listener,
                own_key,
                &partner.key_fingerprint,
            )?;
            (mine.to_vec(), true)
        };
        let (docs, attested) = access(store, |s| s.peer_offer(creds, &partner.claims, &theirs))?;
        let sent: Vec<String> = docs.iter().map(|d| d.id.clone()).collect();
        let held = access(store, |s| s.peer_held(&partner.claims))?;
        link.send(&Message::Offer {
            proof: answer,
            docs,
            attested,
            held,
        })?;
        let Message::Push { docs, attested } = link
            .receive(message::MAX_FRAME)
            .map_err(|e| audited(store, Some(partner), e))?
        else {
            return link.refuse(
                store,
                Some(partner),
                Error::Protocol("the partner spoke out of turn".into()),
            );
        };
        let received = access(store, |s| {
            s.take_from_partner(partner, creds, &docs, &attested, &theirs)
        })?;
        link.send(&Message::Done {
            taken: received.taken.len() as u64,
            refused: received.refused.clone(),
        })?;
        access(store, |s| s.audit_peer_session(partner, &sent, &received))?;
        Ok(PeerReport::of(
            partner,
            paired_now,
            (sent, received, vec![]),
            &link,
        ))
    }
}
