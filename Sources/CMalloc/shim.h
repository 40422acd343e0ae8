#ifndef PROMO_SYNC_CMALLOC_SHIM_H
#define PROMO_SYNC_CMALLOC_SHIM_H
#if defined(__GLIBC__) || defined(__linux__)
#include <malloc.h>
#endif

/// Caps glibc's malloc arenas (mallopt M_ARENA_MAX); returns 1 on success, 0 where there is no
/// such setting (other C libraries).
static inline int promo_limit_malloc_arenas(int arenas) {
#if defined(M_ARENA_MAX)
    return mallopt(M_ARENA_MAX, arenas);
#else
    (void)arenas;
    return 0;
#endif
}
#endif
