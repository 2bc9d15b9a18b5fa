/* bcryptprimitives.dll for Wine 8, which has none: Rust's standard library (1.78 and later)
 * takes its randomness (HashMap keys, and every crate that asks std) from ProcessPrng, which
 * Windows 10 and 11 export from bcryptprimitives.dll. Without this shim no Rust program starts
 * under Wine 8 ("module not found").
 *
 * It exports ProcessPrng over BCryptGenRandom with the system's preferred generator, which Wine
 * has. Test harness only (scripts/with-wine.sh puts it in the throwaway prefix's system32): it
 * is never shipped, because every supported Windows has the real DLL.
 *
 * Built with mingw-w64: x86_64-w64-mingw32-gcc -shared -o bcryptprimitives.dll processprng.c -lbcrypt
 */
#include <windows.h>
#include <bcrypt.h>

/* Windows documents ProcessPrng as always returning TRUE; a generator that fails cannot be
 * papered over, so the process stops rather than use unfilled bytes. */
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!BCRYPT_SUCCESS(BCryptGenRandom(NULL, data, chunk, BCRYPT_USE_SYSTEM_PREFERRED_RNG)))
            ExitProcess(70);
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
