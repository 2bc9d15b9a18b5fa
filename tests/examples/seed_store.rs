//! Makes a device store holding N realistic fictional cases (each with a DASH assessment,
//! notes, a referral and a safety plan), for the app benchmark (`make bench`):
//! `cargo run --release -p provide-tests --example seed_store -- DIR N`. The passphrase is
//! `PROVIDE_PASSPHRASE`; the key derivation is the product's default, so unlock costs what it
//! costs on a patrol laptop.

use provide_core::model::Role;
use provide_core::store::NewUser;
use provide_core::{InitOptions, Store};
use provide_tests::workload::shift_case;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(n)) = (
        args.next(),
        args.next().and_then(|n| n.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: seed_store DIR N   (passphrase from PROVIDE_PASSPHRASE)");
        std::process::exit(2);
    };
    let pass = std::env::var("PROVIDE_PASSPHRASE").unwrap_or_else(|_| {
        eprintln!("set PROVIDE_PASSPHRASE");
        std::process::exit(2);
    });
    let user = NewUser {
        name: "idva.bench.fictional".into(),
        role: Role::Idva,
        division: "west".into(),
        team: "t1".into(),
    };
    let mut store = Store::init(
        std::path::Path::new(&dir),
        user,
        &pass,
        InitOptions::default(),
    )
    .unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1);
    });
    for i in 0..n {
        shift_case(&mut store, i);
    }
    println!("{n} cases in {dir}");
}
