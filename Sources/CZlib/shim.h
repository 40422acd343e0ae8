#ifndef PROMO_SYNC_CZLIB_SHIM_H
#define PROMO_SYNC_CZLIB_SHIM_H

// deflateInit2 and inflateInit2 are macros in zlib.h, which Swift cannot call; these wrappers can.

#include <zlib.h>

/// A gzip (not zlib or raw deflate) compressor: window bits 15 + 16.
static inline int ps_deflate_init_gzip(z_streamp stream, int level) {
    return deflateInit2(stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
}

/// A gzip decompressor: window bits 15 + 16.
static inline int ps_inflate_init_gzip(z_streamp stream) {
    return inflateInit2(stream, 15 + 16);
}

#endif
