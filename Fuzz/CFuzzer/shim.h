#ifndef PROMO_SYNC_CFUZZER_SHIM_H
#define PROMO_SYNC_CFUZZER_SHIM_H

// libFuzzer's driver (compiler-rt's FuzzerDriver.cpp), linked in by -sanitize=fuzzer.
//
// SwiftPM links an executable target with its own `main` (the module's top-level code, renamed so
// that tests can link the module), so libFuzzer's `main` is never the entry point; the top-level
// code calls this instead, with the command line and the function that takes one input.

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
