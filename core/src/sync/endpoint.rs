//! Which server addresses a device will talk to: HTTPS anywhere, plain HTTP only to this
//! machine (loopback), never anything else. Case records must not cross a network in clear.

use std::net::IpAddr;

use reqwest::Url;

use crate::error::{Error, Result};

/// Parses a server address and refuses plain HTTP to anything but loopback.
pub fn checked_url(address: &str) -> Result<Url> {
    let url = Url::parse(address.trim())
        .map_err(|_| Error::InvalidInput(format!("`{address}` is not a server address")))?;
    let host = url
        .host_str()
        .ok_or_else(|| Error::InvalidInput(format!("`{address}` names no host")))?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(host) => Ok(url),
        "http" => Err(Error::InvalidInput(
            "plain http is only allowed to this machine (loopback); use https".into(),
        )),
        other => Err(Error::InvalidInput(format!(
            "`{other}` is not a supported scheme; use https"
        ))),
    }
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_to_loopback() {
        assert!(checked_url("https://sync.example.org").is_ok());
        assert!(checked_url("http://127.0.0.1:8443").is_ok());
        assert!(checked_url("http://127.5.0.1:8443").is_ok());
        assert!(checked_url("http://localhost:1").is_ok());
        assert!(checked_url("http://[::1]:9000").is_ok());
        for bad in [
            "http://sync.example.org",
            "http://10.0.0.1:80",
            "http://127.0.0.1.example.org",
            "ftp://127.0.0.1",
            "not a url",
            "",
        ] {
            assert!(checked_url(bad).is_err(), "{bad} accepted");
        }
    }
}
