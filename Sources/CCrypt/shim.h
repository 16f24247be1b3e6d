#ifndef CCRYPT_SHIM_H
#define CCRYPT_SHIM_H
#include <stddef.h>
#include <crypt.h>

/// Size of `struct crypt_data` (32 KiB with libxcrypt). Swift allocates it on the heap
/// with this size so the large struct is never materialised on a Swift stack frame.
static inline size_t ccrypt_data_size(void) { return sizeof(struct crypt_data); }

/// `crypt_r` taking the per-call work area as an untyped pointer (heap memory of
/// `ccrypt_data_size()` zeroed bytes). Returns NULL or a failure token starting with '*'
/// when the setting is rejected.
static inline const char *_Nullable ccrypt_r(const char *_Nonnull phrase,
                                             const char *_Nonnull setting,
                                             void *_Nonnull data) {
    return crypt_r(phrase, setting, (struct crypt_data *)data);
}
#include <unistd.h>
#include <sys/syscall.h>

#include <sched.h>

/// Moves the calling thread to Linux's SCHED_IDLE class (value 5): it runs only when no other thread wants the CPU.
/// Returns 0 on success.
static inline int ccrypt_make_current_thread_idle(void) {
    struct sched_param param = { 0 };
    return sched_setscheduler(0, 5, &param);
}

#endif
