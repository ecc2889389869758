// A stand-in for Windows' bcryptprimitives.dll in the Wine prefix of `npm run test:platforms`:
// Wine 8 has no such DLL, and Rust's standard library asks it for ProcessPrng, its source of
// random bytes since Windows 10. Here it is advapi32's RtlGenRandom (SystemFunction036), which
// Wine has. scripts/platform-tools.sh builds it with mingw-w64; it never ships with the package.
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
  while (length > 0) {
    ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
    if (!SystemFunction036(data, chunk)) return FALSE;
    data += chunk;
    length -= chunk;
  }
  return TRUE;
}
