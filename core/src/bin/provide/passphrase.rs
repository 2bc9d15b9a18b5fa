//! Passphrases come from an environment variable when it is set, otherwise from a no-echo
//! prompt on the terminal. They are held in zeroizing buffers.

use provide_core::{Error, Result};
use zeroize::Zeroizing;

pub fn read(env: &str, prompt: &str) -> Result<Zeroizing<String>> {
    if let Ok(p) = std::env::var(env) {
        return Ok(Zeroizing::new(p));
    }
    rpassword::prompt_password(prompt)
        .map(Zeroizing::new)
        .map_err(|_| Error::NoPassphrase)
}

/// A new passphrase: from the environment, or typed twice.
pub fn read_new(env: &str) -> Result<Zeroizing<String>> {
    if let Ok(p) = std::env::var(env) {
        return Ok(Zeroizing::new(p));
    }
    let a = read(env, "New passphrase: ")?;
    let b = read(env, "Repeat it: ")?;
    if *a != *b {
        return Err(Error::InvalidInput("the two passphrases differ".into()));
    }
    Ok(a)
}
