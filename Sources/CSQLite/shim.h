#ifndef PROMO_SYNC_CSQLITE_SHIM_H
#define PROMO_SYNC_CSQLITE_SHIM_H
#include <sqlite3.h>

/// Turns the triggers of one connection on or off (SQLITE_DBCONFIG_ENABLE_TRIGGER). sqlite3_db_config
/// is variadic, which Swift cannot call; this wrapper is not. Statements prepared under the other
/// setting are expired by SQLite and prepared again on their next step.
/// Returns SQLITE_OK, or an error code; *now receives the setting in force afterwards.
static inline int promo_sqlite_enable_triggers(sqlite3 *db, int enable, int *now) {
    return sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_TRIGGER, enable, now);
}

/// Turns off SQLite's memory statistics (SQLITE_CONFIG_MEMSTATUS) for the process, so that its
/// allocations take no global mutex. sqlite3_config is variadic, and works only before SQLite is
/// initialised (the first connection opened); afterwards it returns SQLITE_MISUSE and changes nothing.
static inline int promo_sqlite_without_memory_statistics(void) {
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

#endif
