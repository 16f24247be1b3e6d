#ifndef CMARIADB_SHIM_H
#define CMARIADB_SHIM_H
#include <stddef.h>
#include <mysql.h>

/// `mysql_library_init` is a macro alias that Swift cannot see.
static inline int cmariadb_library_init(void) {
    return mysql_library_init(0, NULL, NULL);
}

/// MYSQL_BIND.is_null / .error are `my_bool *`; helpers keep the Swift side simple.
static inline void cmariadb_bind_set_is_null(MYSQL_BIND *_Nonnull bind, my_bool *_Nullable ptr) { bind->is_null = ptr; }
static inline void cmariadb_bind_set_length(MYSQL_BIND *_Nonnull bind, unsigned long *_Nullable ptr) { bind->length = ptr; }
static inline void cmariadb_bind_set_error(MYSQL_BIND *_Nonnull bind, my_bool *_Nullable ptr) { bind->error = ptr; }
/// Array binding (bulk execution): one indicator per row (STMT_INDICATOR_NULL marks a NULL); `u` is a union.
static inline void cmariadb_bind_set_indicator(MYSQL_BIND *_Nonnull bind, char *_Nullable ptr) { bind->u.indicator = ptr; }
#endif
