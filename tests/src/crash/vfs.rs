//! A SQLite VFS of our own that records file operations: a copy of the platform's default VFS
//! whose files wrap the platform's, registered as the process's default so that every
//! connection (the store's included) goes through it. Reads, locks and the shared-memory
//! index pass straight through; writes, truncations, fsyncs and deletions of files in the
//! traced folder are recorded (`trace`) before they are passed on.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::path::Path;
use std::sync::OnceLock;

use rusqlite::ffi;

use super::trace::{self, Event};

/// Our file: SQLite's base struct first, then the traced name, then the platform's file.
#[repr(C)]
struct TracedFile {
    base: ffi::sqlite3_file,
    /// The file's name in the traced folder, or null if it is not traced.
    name: *mut String,
}

const HEADER: usize = std::mem::size_of::<TracedFile>();

struct Platform(*mut ffi::sqlite3_vfs);
// SAFETY: the platform VFS is a static object of SQLite's, safe to use from any thread.
unsafe impl Send for Platform {}
unsafe impl Sync for Platform {}

static PLATFORM: OnceLock<Platform> = OnceLock::new();

fn platform() -> *mut ffi::sqlite3_vfs {
    PLATFORM.get().expect("the VFS is installed").0
}

/// Registers the recording VFS as the default, once per process.
pub fn install() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| unsafe {
        // SAFETY: sqlite3_vfs_find(NULL) returns the default VFS, which lives for the process;
        // the copy we register is leaked, so it does too.
        assert_eq!(ffi::sqlite3_initialize(), ffi::SQLITE_OK);
        let real = ffi::sqlite3_vfs_find(std::ptr::null());
        assert!(!real.is_null(), "SQLite has a default VFS");
        let _ = PLATFORM.set(Platform(real));
        let mut ours: ffi::sqlite3_vfs = std::ptr::read(real);
        ours.zName = c"provide-crash-trace".as_ptr();
        ours.pNext = std::ptr::null_mut();
        ours.szOsFile = (*real).szOsFile + HEADER as c_int;
        ours.xOpen = Some(x_open);
        ours.xDelete = Some(x_delete);
        let ours = Box::leak(Box::new(ours));
        assert_eq!(ffi::sqlite3_vfs_register(ours, 1), ffi::SQLITE_OK);
    });
}

/// The platform's file inside ours.
unsafe fn inner(f: *mut ffi::sqlite3_file) -> *mut ffi::sqlite3_file {
    (f as *mut u8).add(HEADER) as *mut ffi::sqlite3_file
}

unsafe fn name_of(f: *mut ffi::sqlite3_file) -> Option<&'static String> {
    let n = (*(f as *mut TracedFile)).name;
    (!n.is_null()).then(|| &*n)
}

unsafe fn methods(f: *mut ffi::sqlite3_file) -> &'static ffi::sqlite3_io_methods {
    &*(*inner(f)).pMethods
}

unsafe fn path_of(z: *const c_char) -> Option<&'static Path> {
    if z.is_null() {
        return None;
    }
    CStr::from_ptr(z).to_str().ok().map(Path::new)
}

unsafe extern "C" fn x_open(
    _vfs: *mut ffi::sqlite3_vfs,
    z_name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let traced = path_of(z_name).and_then(|p| {
        let existed = p.exists();
        trace::relative(p).map(|n| (n, existed))
    });
    let real = platform();
    let rc = ((*real).xOpen.expect("xOpen"))(real, z_name, inner(file), flags, out_flags);
    let t = file as *mut TracedFile;
    if rc != ffi::SQLITE_OK || (*inner(file)).pMethods.is_null() {
        (*t).base.pMethods = std::ptr::null();
        (*t).name = std::ptr::null_mut();
        return rc;
    }
    (*t).name = match traced {
        Some((name, existed)) => {
            if !existed {
                trace::push(Event::Create { file: name.clone() });
            }
            Box::into_raw(Box::new(name))
        }
        None => std::ptr::null_mut(),
    };
    (*t).base.pMethods = &METHODS;
    rc
}

unsafe extern "C" fn x_delete(
    _vfs: *mut ffi::sqlite3_vfs,
    z_name: *const c_char,
    sync_dir: c_int,
) -> c_int {
    let real = platform();
    let rc = ((*real).xDelete.expect("xDelete"))(real, z_name, sync_dir);
    if rc == ffi::SQLITE_OK {
        if let Some(file) = path_of(z_name).and_then(trace::relative) {
            trace::push(Event::Delete { file });
        }
    }
    rc
}

unsafe extern "C" fn x_close(f: *mut ffi::sqlite3_file) -> c_int {
    let rc = (methods(f).xClose.expect("xClose"))(inner(f));
    let t = f as *mut TracedFile;
    if !(*t).name.is_null() {
        drop(Box::from_raw((*t).name));
        (*t).name = std::ptr::null_mut();
    }
    rc
}

unsafe extern "C" fn x_read(
    f: *mut ffi::sqlite3_file,
    buf: *mut c_void,
    n: c_int,
    off: i64,
) -> c_int {
    (methods(f).xRead.expect("xRead"))(inner(f), buf, n, off)
}

unsafe extern "C" fn x_write(
    f: *mut ffi::sqlite3_file,
    buf: *const c_void,
    n: c_int,
    off: i64,
) -> c_int {
    let rc = (methods(f).xWrite.expect("xWrite"))(inner(f), buf, n, off);
    if rc == ffi::SQLITE_OK {
        if let Some(file) = name_of(f) {
            let data = std::slice::from_raw_parts(buf as *const u8, n.max(0) as usize).to_vec();
            trace::push(Event::Write {
                file: file.clone(),
                offset: off as u64,
                data,
            });
        }
    }
    rc
}

unsafe extern "C" fn x_truncate(f: *mut ffi::sqlite3_file, size: i64) -> c_int {
    let rc = (methods(f).xTruncate.expect("xTruncate"))(inner(f), size);
    if rc == ffi::SQLITE_OK {
        if let Some(file) = name_of(f) {
            trace::push(Event::Truncate {
                file: file.clone(),
                size: size as u64,
            });
        }
    }
    rc
}

unsafe extern "C" fn x_sync(f: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    let rc = (methods(f).xSync.expect("xSync"))(inner(f), flags);
    if rc == ffi::SQLITE_OK {
        if let Some(file) = name_of(f) {
            trace::push(Event::Sync { file: file.clone() });
        }
    }
    rc
}

unsafe extern "C" fn x_file_size(f: *mut ffi::sqlite3_file, size: *mut i64) -> c_int {
    (methods(f).xFileSize.expect("xFileSize"))(inner(f), size)
}

unsafe extern "C" fn x_lock(f: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    (methods(f).xLock.expect("xLock"))(inner(f), level)
}

unsafe extern "C" fn x_unlock(f: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    (methods(f).xUnlock.expect("xUnlock"))(inner(f), level)
}

unsafe extern "C" fn x_check_reserved_lock(f: *mut ffi::sqlite3_file, out: *mut c_int) -> c_int {
    (methods(f).xCheckReservedLock.expect("xCheckReservedLock"))(inner(f), out)
}

unsafe extern "C" fn x_file_control(
    f: *mut ffi::sqlite3_file,
    op: c_int,
    arg: *mut c_void,
) -> c_int {
    (methods(f).xFileControl.expect("xFileControl"))(inner(f), op, arg)
}

unsafe extern "C" fn x_sector_size(f: *mut ffi::sqlite3_file) -> c_int {
    (methods(f).xSectorSize.expect("xSectorSize"))(inner(f))
}

unsafe extern "C" fn x_device_characteristics(f: *mut ffi::sqlite3_file) -> c_int {
    (methods(f)
        .xDeviceCharacteristics
        .expect("xDeviceCharacteristics"))(inner(f))
}

unsafe extern "C" fn x_shm_map(
    f: *mut ffi::sqlite3_file,
    page: c_int,
    size: c_int,
    extend: c_int,
    out: *mut *mut c_void,
) -> c_int {
    match methods(f).xShmMap {
        Some(m) => m(inner(f), page, size, extend, out),
        None => ffi::SQLITE_IOERR,
    }
}

unsafe extern "C" fn x_shm_lock(
    f: *mut ffi::sqlite3_file,
    off: c_int,
    n: c_int,
    flags: c_int,
) -> c_int {
    match methods(f).xShmLock {
        Some(m) => m(inner(f), off, n, flags),
        None => ffi::SQLITE_IOERR,
    }
}

unsafe extern "C" fn x_shm_barrier(f: *mut ffi::sqlite3_file) {
    if let Some(m) = methods(f).xShmBarrier {
        m(inner(f))
    }
}

unsafe extern "C" fn x_shm_unmap(f: *mut ffi::sqlite3_file, delete: c_int) -> c_int {
    match methods(f).xShmUnmap {
        Some(m) => m(inner(f), delete),
        None => ffi::SQLITE_OK,
    }
}

unsafe extern "C" fn x_fetch(
    f: *mut ffi::sqlite3_file,
    off: i64,
    n: c_int,
    out: *mut *mut c_void,
) -> c_int {
    match methods(f).xFetch {
        Some(m) => m(inner(f), off, n, out),
        None => {
            *out = std::ptr::null_mut();
            ffi::SQLITE_OK
        }
    }
}

unsafe extern "C" fn x_unfetch(f: *mut ffi::sqlite3_file, off: i64, p: *mut c_void) -> c_int {
    match methods(f).xUnfetch {
        Some(m) => m(inner(f), off, p),
        None => ffi::SQLITE_OK,
    }
}

static METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(x_close),
    xRead: Some(x_read),
    xWrite: Some(x_write),
    xTruncate: Some(x_truncate),
    xSync: Some(x_sync),
    xFileSize: Some(x_file_size),
    xLock: Some(x_lock),
    xUnlock: Some(x_unlock),
    xCheckReservedLock: Some(x_check_reserved_lock),
    xFileControl: Some(x_file_control),
    xSectorSize: Some(x_sector_size),
    xDeviceCharacteristics: Some(x_device_characteristics),
    xShmMap: Some(x_shm_map),
    xShmLock: Some(x_shm_lock),
    xShmBarrier: Some(x_shm_barrier),
    xShmUnmap: Some(x_shm_unmap),
    xFetch: Some(x_fetch),
    xUnfetch: Some(x_unfetch),
};
