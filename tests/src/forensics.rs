//! What someone holding a device's files finds in them, for tests that a purged record left
//! nothing behind. A raw scan of an encrypted file proves nothing (every page is ciphertext),
//! so this also decrypts every page of a SQLCipher database and of its WAL with the store's
//! data key, as SQLCipher itself would, including pages SQLite no longer uses (free pages,
//! stale WAL frames) that a query could never reach.
//!
//! The store keys SQLCipher 4 with a raw 256-bit key (`schema::apply_key`), so the page key is
//! that key itself; pages are 4,096 bytes with 80 reserved at the end (a 16-byte IV, then a
//! 64-byte HMAC-SHA512); each page's content is AES-256-CBC under the IV; page 1 begins with
//! the file's 16-byte salt, which is not encrypted. A WAL is a 32-byte header, then frames of a
//! 24-byte header and one page each.

use std::path::{Path, PathBuf};

use aes::cipher::{BlockDecryptMut, KeyIvInit};

const PAGE: usize = 4096;
const RESERVE: usize = 80;
const IV: usize = 16;
const SALT: usize = 16;
const WAL_HEADER: usize = 32;
const FRAME_HEADER: usize = 24;

type Decryptor = cbc::Decryptor<aes::Aes256>;

/// Decrypts one page (`number` counts from 1, as SQLite's do). A page of zeros (a hole, or
/// never written) reads as zeros.
pub fn decrypt_page(page: &[u8], number: usize, key: &[u8; 32]) -> Vec<u8> {
    assert_eq!(page.len(), PAGE, "a whole page");
    if page.iter().all(|b| *b == 0) {
        return page.to_vec();
    }
    let start = if number == 1 { SALT } else { 0 };
    let end = PAGE - RESERVE;
    let iv = &page[end..end + IV];
    let mut body = page[start..end].to_vec();
    Decryptor::new(key.into(), iv.into())
        .decrypt_padded_mut::<cipher::block_padding::NoPadding>(&mut body)
        .expect("whole AES blocks");
    body
}

/// Every page of a database file, decrypted.
pub fn database_pages(file: &[u8], key: &[u8; 32]) -> Vec<Vec<u8>> {
    file.chunks(PAGE)
        .filter(|p| p.len() == PAGE)
        .enumerate()
        .map(|(i, p)| decrypt_page(p, i + 1, key))
        .collect()
}

/// Every frame's page of a WAL file, decrypted (the page number is in the frame's header).
pub fn wal_pages(file: &[u8], key: &[u8; 32]) -> Vec<Vec<u8>> {
    if file.len() < WAL_HEADER {
        return Vec::new();
    }
    file[WAL_HEADER..]
        .chunks(FRAME_HEADER + PAGE)
        .filter(|f| f.len() == FRAME_HEADER + PAGE)
        .map(|f| {
            let number = u32::from_be_bytes([f[0], f[1], f[2], f[3]]) as usize;
            decrypt_page(&f[FRAME_HEADER..], number, key)
        })
        .collect()
}

/// Whether the first page decrypts to a SQLite header's page-size field, as a check that
/// the key and the layout above are right (a test must prove its scanner can see).
pub fn decrypts_as_sqlite(file: &[u8], key: &[u8; 32]) -> bool {
    let Some(first) = file.get(..PAGE) else {
        return false;
    };
    let page = decrypt_page(first, 1, key);
    // offset 16 of the header (here 0, after the salt) is the page size, big-endian
    u16::from_be_bytes([page[0], page[1]]) as usize == PAGE
}

/// Every file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Where `needle` was found, as `file (how it was read)`: each file under `dir` raw, and the
/// database and its WAL also decrypted with `key`, page by page. Empty when found nowhere.
pub fn find(dir: &Path, key: &[u8; 32], needle: &str) -> Vec<String> {
    let variants = [
        needle.as_bytes().to_vec(),
        needle.to_lowercase().into_bytes(),
        needle.to_uppercase().into_bytes(),
    ];
    let contains = |hay: &[u8]| {
        variants
            .iter()
            .any(|v| !v.is_empty() && hay.windows(v.len()).any(|w| w == v.as_slice()))
    };
    let mut found = Vec::new();
    for file in files_under(dir) {
        let bytes = std::fs::read(&file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        if contains(&bytes) {
            found.push(format!("{name} (raw)"));
        }
        let pages = if name.ends_with(".db") {
            database_pages(&bytes, key)
        } else if name.ends_with(".db-wal") {
            wal_pages(&bytes, key)
        } else {
            continue;
        };
        for (i, p) in pages.iter().enumerate() {
            if contains(p) {
                found.push(format!(
                    "{name} (decrypted, {} {})",
                    if name.ends_with("-wal") {
                        "frame"
                    } else {
                        "page"
                    },
                    i + 1
                ));
            }
        }
    }
    found
}

/// The embedded store's key, read from its key file.
pub fn server_key(server: &crate::TestServer) -> [u8; 32] {
    let text = std::fs::read_to_string(server.data.dir.join("server.key")).unwrap();
    let mut key = [0u8; 32];
    key.copy_from_slice(&hex::decode(text.trim()).unwrap());
    key
}

/// Every row of every table of the PostgreSQL database, as text.
pub fn pg_rows(url: &str) -> String {
    let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
    let tables: Vec<String> = c
        .query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut all = String::new();
    for t in tables {
        for r in c.query(&format!("SELECT t::text FROM {t} t"), &[]).unwrap() {
            all.push_str(&r.get::<_, String>(0));
            all.push('\n');
        }
    }
    all
}

/// Where a canary is on the server: its files (raw and decrypted) or its database rows.
pub fn found_on_server(server: &crate::TestServer, canary: &str) -> Vec<String> {
    match &server.data.database_url {
        None => find(&server.data.dir, &server_key(server), canary),
        Some(url) => {
            let rows = pg_rows(url);
            // bytea is shown as hex in a row's text
            let hex_canary = hex::encode(canary.as_bytes());
            let mut found = vec![];
            if rows.contains(canary) || rows.contains(&hex_canary) {
                found.push("a database row".to_string());
            }
            found
        }
    }
}
