//! The device store's folder: where it goes when nobody says, and keeping it to its user.
//!
//! - **Default place.** On Windows a store lives in `%LOCALAPPDATA%\Provide`: local, never
//!   `%APPDATA%`, whose roaming profile would copy the encrypted store (and its key slots) to the
//!   domain's file server at every sign-out. Elsewhere there is no default here: the command
//!   line asks for `--data-dir` and the app shell uses its platform's app-data folder, where
//!   stores already in the field live.
//! - **Only its user.** On Unix the folder is mode 0700 (and the files written in it 0600). On
//!   Windows it gets a protected DACL (nothing inherited from above) with a single entry: full
//!   control for the user running the program, inherited by every file and folder made inside
//!   it. Not even Administrators are listed: an administrator can take ownership, but no
//!   process of another user, or of a service, reads the store by default.
//!
//! `make_private` is called on every folder a store is created in; `is_private` says whether a
//! folder is so (the tests check it on each platform). On Windows "so" means: the DACL's every
//! entry allows the user, or LocalSystem (which, like root on Unix, can read anything anyway),
//! and at least one allows the user.
//!
//! The DACL is written with `SetFileSecurityW`, not `SetNamedSecurityInfoW`: both work on
//! Windows, for a folder just made (children made later inherit either way), but Wine 8, where
//! the Windows suites run, ignores the latter for files. Wine keeps no DACL of its own: it maps
//! the one it is given to the Unix mode (0770 for this one) and reports a DACL made from that
//! mode (the user and LocalSystem, without the protected flag), which is what `is_private`
//! accepts and why it does not ask for the flag.

use std::io;
use std::path::{Path, PathBuf};

/// The name of the store's folder under `%LOCALAPPDATA%` on Windows.
pub const WINDOWS_FOLDER: &str = "Provide";

/// Where a store goes when no folder is given: `%LOCALAPPDATA%\Provide` on Windows; `None`
/// elsewhere, and on Windows when `%LOCALAPPDATA%` is not set.
pub fn default_dir() -> Option<PathBuf> {
    if cfg!(windows) {
        std::env::var_os("LOCALAPPDATA")
            .filter(|v| !v.is_empty())
            .map(|base| PathBuf::from(base).join(WINDOWS_FOLDER))
    } else {
        None
    }
}

/// Makes `dir` (which must exist) readable and writable by the current user only, and
/// everything later created inside it too.
pub fn make_private(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
    }
    #[cfg(windows)]
    {
        windows::make_private(dir)
    }
    #[cfg(not(any(unix, windows)))]
    {
        let _ = dir;
        Ok(())
    }
}

/// Whether only the current user can reach into `dir`: mode `0700` or stricter on Unix; on
/// Windows a DACL whose every entry allows the current user (or LocalSystem), and one does.
pub fn is_private(dir: &Path) -> io::Result<bool> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        Ok(std::fs::metadata(dir)?.permissions().mode() & 0o077 == 0)
    }
    #[cfg(windows)]
    {
        windows::is_private(dir)
    }
    #[cfg(not(any(unix, windows)))]
    {
        let _ = dir;
        Ok(false)
    }
}

#[cfg(windows)]
mod windows {
    //! The folder's DACL through the Win32 security API.

    use std::ffi::c_void;
    use std::io;
    use std::os::windows::ffi::OsStrExt;
    use std::path::Path;
    use std::ptr::null_mut;

    use windows_sys::Win32::Foundation::{CloseHandle, LocalFree, ERROR_SUCCESS, HANDLE};
    use windows_sys::Win32::Security::Authorization::{
        ConvertSidToStringSidW, ConvertStringSecurityDescriptorToSecurityDescriptorW,
        GetNamedSecurityInfoW, SDDL_REVISION_1, SE_FILE_OBJECT,
    };
    use windows_sys::Win32::Security::{
        EqualSid, GetAce, GetTokenInformation, IsWellKnownSid, SetFileSecurityW, TokenUser,
        WinLocalSystemSid, ACCESS_ALLOWED_ACE, ACE_HEADER, ACL, DACL_SECURITY_INFORMATION,
        PSECURITY_DESCRIPTOR, TOKEN_QUERY, TOKEN_USER,
    };
    use windows_sys::Win32::System::SystemServices::ACCESS_ALLOWED_ACE_TYPE;
    use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

    /// Memory the security API allocated, freed with `LocalFree`.
    struct Local(*mut c_void);

    impl Drop for Local {
        fn drop(&mut self) {
            if !self.0.is_null() {
                // SAFETY: the pointer came from an API documented to allocate with LocalAlloc
                unsafe { LocalFree(self.0) };
            }
        }
    }

    fn wide(path: &Path) -> Vec<u16> {
        path.as_os_str().encode_wide().chain([0]).collect()
    }

    fn check(ok: i32) -> io::Result<()> {
        if ok == 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    fn status(code: u32) -> io::Result<()> {
        if code == ERROR_SUCCESS {
            Ok(())
        } else {
            Err(io::Error::from_raw_os_error(code as i32))
        }
    }

    /// The current process's user, as the bytes of a `TOKEN_USER` (its SID points inside).
    fn token_user() -> io::Result<Vec<u64>> {
        let mut token: HANDLE = null_mut();
        // SAFETY: the pseudo-handle of our own process; `token` is written on success
        check(unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) })?;
        let mut needed = 0u32;
        // SAFETY: a size query with no buffer, then a buffer of that size (u64 for alignment)
        let result = unsafe {
            GetTokenInformation(token, TokenUser, null_mut(), 0, &mut needed);
            let mut buf = vec![0u64; (needed as usize).div_ceil(8)];
            let ok = GetTokenInformation(
                token,
                TokenUser,
                buf.as_mut_ptr().cast(),
                needed,
                &mut needed,
            );
            check(ok).map(|()| buf)
        };
        // SAFETY: the token handle opened above
        unsafe { CloseHandle(token) };
        result
    }

    fn user_sid(user: &[u64]) -> *mut c_void {
        // SAFETY: `user` holds a TOKEN_USER written by GetTokenInformation
        unsafe { (*(user.as_ptr() as *const TOKEN_USER)).User.Sid }
    }

    pub fn make_private(dir: &Path) -> io::Result<()> {
        let user = token_user()?;
        let mut sid_text: *mut u16 = null_mut();
        // SAFETY: a valid SID; the string is freed by `Local`
        check(unsafe { ConvertSidToStringSidW(user_sid(&user), &mut sid_text) })?;
        let sid_text = Local(sid_text.cast());
        // SAFETY: a NUL-terminated string from ConvertSidToStringSidW
        let sid = unsafe {
            let p = sid_text.0 as *const u16;
            let len = (0..).take_while(|&i| *p.add(i) != 0).count();
            String::from_utf16_lossy(std::slice::from_raw_parts(p, len))
        };
        // P: protected (nothing inherited from above); OICI: files and folders inside inherit
        // it; FA: full access; for this user alone
        let sddl: Vec<u16> = format!("D:P(A;OICI;FA;;;{sid})")
            .encode_utf16()
            .chain([0])
            .collect();
        let mut sd: PSECURITY_DESCRIPTOR = null_mut();
        // SAFETY: a NUL-terminated SDDL string; the descriptor is freed by `Local`
        check(unsafe {
            ConvertStringSecurityDescriptorToSecurityDescriptorW(
                sddl.as_ptr(),
                SDDL_REVISION_1,
                &mut sd,
                null_mut(),
            )
        })?;
        let sd = Local(sd);
        let path = wide(dir);
        // SAFETY: a NUL-terminated path and the self-relative descriptor made above
        check(unsafe { SetFileSecurityW(path.as_ptr(), DACL_SECURITY_INFORMATION, sd.0) })
    }

    pub fn is_private(dir: &Path) -> io::Result<bool> {
        let user = token_user()?;
        let path = wide(dir);
        let mut dacl: *mut ACL = null_mut();
        let mut sd: PSECURITY_DESCRIPTOR = null_mut();
        // SAFETY: a NUL-terminated path; the descriptor (which owns the DACL) is freed by `Local`
        status(unsafe {
            GetNamedSecurityInfoW(
                path.as_ptr(),
                SE_FILE_OBJECT,
                DACL_SECURITY_INFORMATION,
                null_mut(),
                null_mut(),
                &mut dacl,
                null_mut(),
                &mut sd,
            )
        })?;
        let _sd = Local(sd);
        // a missing DACL allows everyone
        if dacl.is_null() {
            return Ok(false);
        }
        // SAFETY: the DACL inside the descriptor, read entry by entry within its count
        unsafe {
            let mut user_allowed = false;
            for i in 0..u32::from((*dacl).AceCount) {
                let mut ace: *mut c_void = null_mut();
                check(GetAce(dacl, i, &mut ace))?;
                let header = &*(ace as *const ACE_HEADER);
                if u32::from(header.AceType) != ACCESS_ALLOWED_ACE_TYPE {
                    return Ok(false);
                }
                let sid = std::ptr::addr_of_mut!((*(ace as *mut ACCESS_ALLOWED_ACE)).SidStart);
                if EqualSid(sid.cast(), user_sid(&user)) != 0 {
                    user_allowed = true;
                } else if IsWellKnownSid(sid.cast(), WinLocalSystemSid) == 0 {
                    return Ok(false);
                }
            }
            Ok(user_allowed)
        }
    }
}
