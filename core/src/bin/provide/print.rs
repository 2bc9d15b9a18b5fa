//! Output: JSON for scripts (`--json`), plain lines for people.

use provide_core::directory::Service;
use provide_core::forms::Evaluation;
use provide_core::record::history::HistoryEntry;
use provide_core::store::{CaseSummary, CaseView, StoreStatus};
use provide_core::sync::{Progress, SyncReport};
use serde::Serialize;

pub fn json<T: Serialize + ?Sized>(v: &T) {
    println!("{}", serde_json::to_string_pretty(v).expect("serialisable"));
}

pub fn status(s: &StoreStatus, as_json: bool) {
    if as_json {
        return json(s);
    }
    if !s.exists {
        println!("no store");
    } else if s.wiped {
        println!("wiped");
    } else if s.wait_seconds > 0 {
        println!(
            "locked; {} failed attempts; next attempt in {} s",
            s.failed_attempts, s.wait_seconds
        );
    } else {
        println!(
            "locked; {} failed attempts; users: {}",
            s.failed_attempts,
            s.users.join(", ")
        );
    }
}

pub fn evaluation(id: &str, e: &Evaluation) {
    let score = e.score.map(|s| format!("score {s}, ")).unwrap_or_default();
    let marac = if e.meets_marac() {
        format!(
            "; meets the MARAC criteria ({})",
            e.marac_criteria.join(", ")
        )
    } else {
        String::new()
    };
    println!("assessment {id}: {score}level {}{marac}", e.level);
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() {
        "-"
    } else {
        s
    }
}

pub fn case_view(v: &CaseView) {
    let c = &v.record;
    println!("Case {} ({}, {})", v.id, c.deployment, c.status);
    println!(
        "  Risk:        {}",
        v.risk_level
            .map(|l| l.to_string())
            .unwrap_or_else(|| "not assessed".into())
    );
    println!(
        "  Incident:    {} at {}",
        or_dash(&c.incident.reference),
        c.incident.occurred_at.as_deref().unwrap_or("-")
    );
    println!("  Victim:      {}", or_dash(&c.victim.name));
    let yn = |b: Option<bool>| match b {
        Some(true) => "yes",
        Some(false) => "NO",
        None => "not known",
    };
    println!(
        "  Safe contact: call {}, text {}, voicemail {}; times: {}",
        yn(c.victim.safe_contact.call_ok),
        yn(c.victim.safe_contact.text_ok),
        yn(c.victim.safe_contact.voicemail_ok),
        or_dash(&c.victim.safe_contact.safe_times)
    );
    println!(
        "  Perpetrator: {} (in custody: {})",
        or_dash(&c.perpetrator.name),
        yn(c.perpetrator.in_custody)
    );
    println!(
        "  Children {}, referrals {}, visits {}, notes {}",
        c.children.len(),
        c.referrals.len(),
        c.visits.len(),
        c.notes.len()
    );
    for k in &v.conflicts {
        println!("  CONFLICT {}:", k.path);
        for val in &k.values {
            println!(
                "    {} by {} ({}) at {}",
                val.value, val.user, val.role, val.at
            );
        }
    }
}

pub fn case_list(rows: &[CaseSummary]) {
    for r in rows {
        let flag = if r.conflicts > 0 { " [conflict]" } else { "" };
        println!(
            "{}  {:<13} {:<11} {:<8} {}{flag}",
            r.id,
            r.deployment,
            r.status,
            r.risk_level.as_deref().unwrap_or("-"),
            r.victim_name
        );
    }
}

pub fn history(entries: &[HistoryEntry]) {
    for e in entries {
        let value = if e.value.is_null() {
            String::new()
        } else {
            format!(" = {}", e.value)
        };
        println!(
            "{} {} ({}) {} {}{value}",
            e.at, e.user, e.role, e.action, e.path
        );
    }
}

pub fn directory(services: &[&Service], as_json: bool) {
    if as_json {
        return json(services);
    }
    for s in services {
        println!(
            "{} — {} — {} — {}",
            s.name,
            s.area,
            s.phone.as_deref().unwrap_or("no number listed"),
            s.hours
        );
    }
}

/// One progress line on stderr while a sync runs.
pub fn sync_progress(p: &Progress) {
    if p.bytes_in_flight > 0 {
        eprintln!(
            "sync: sending {} B ({} records left to send{})",
            p.bytes_in_flight,
            p.docs_left,
            if p.more_to_receive {
                ", more to receive"
            } else {
                ""
            }
        );
    }
}

pub fn peer_report(r: &provide_core::peer::PeerReport, as_json: bool) {
    if as_json {
        println!("{}", serde_json::to_string(r).expect("serialisable"));
        return;
    }
    println!(
        "Synced with partner device {} ({}, {}): {} sent, {} received; {} B up, {} B down.",
        r.partner_device,
        r.partner_user,
        r.partner_role,
        r.records_sent,
        r.records_received,
        r.bytes_up,
        r.bytes_down
    );
    for refusal in &r.refused {
        println!("not taken from the partner: {refusal}");
    }
    for refusal in &r.refused_by_partner {
        println!("not taken by the partner: {refusal}");
    }
}

pub fn sync_report(r: &SyncReport, as_json: bool) {
    if as_json {
        json(r);
        return;
    }
    println!(
        "Synced: {} sent, {} received, {} removed from this device; {} round trip(s), {} B up, {} B down.",
        r.docs_sent, r.docs_received, r.docs_purged, r.round_trips, r.bytes_up, r.bytes_down
    );
    if r.unsynced_left > 0 {
        println!("{} record(s) still wait to be synced.", r.unsynced_left);
    }
    for refusal in &r.refused {
        println!("refused by the server: {refusal}");
    }
    for words in &r.erased {
        println!("{words}");
    }
    if r.revoked {
        println!("This device was revoked: its changes were uploaded and its data erased.");
    }
}
