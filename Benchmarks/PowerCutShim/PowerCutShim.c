// Records what a process has made durable, so that a test can cut its files back to that after a
// SIGKILL: what a power cut would leave of a disk that keeps its promises (docs/RELIABILITY.md,
// "Power cuts"). Interposes fsync and fdatasync (SQLite's unix VFS calls the latter); after the
// real call succeeds, appends "<size> <path>\n" to $PROMO_POWERCUT_LOG for regular files under
// $PROMO_POWERCUT_DIR. Recording after the sync can only under-report what is durable. Sizes
// only: a cut removes what was appended and not synced (a commit's new WAL frames), but keeps
// bytes overwritten in place without a sync (frames rewritten after the WAL restarts), which a
// real power cut might lose; so the campaign is exact for appends and lenient for overwrites.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "PowerCutShim.h"

static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int log_fd = -1;
static char folder[4096];
static size_t folder_length;

__attribute__((constructor)) static void promo_power_cut_init(void) {
    real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    real_fdatasync = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    const char *log = getenv("PROMO_POWERCUT_LOG");
    const char *dir = getenv("PROMO_POWERCUT_DIR");
    if (log == NULL || dir == NULL || strlen(dir) >= sizeof folder - 2) return;
    strcpy(folder, dir);
    folder_length = strlen(folder);
    if (folder_length > 0 && folder[folder_length - 1] != '/') folder[folder_length++] = '/';
    folder[folder_length] = 0;
    log_fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
}

static void record(int fd) {
    if (log_fd < 0) return;
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0) return;
    path[n] = 0;
    if (strncmp(path, folder, folder_length) != 0) return;
    struct stat info;
    if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) return;
    char line[4200];
    int length = snprintf(line, sizeof line, "%lld %s\n", (long long)info.st_size, path);
    if (length > 0 && length < (int)sizeof line) {
        // O_APPEND and one write per line: lines from several threads never interleave.
        ssize_t written = write(log_fd, line, (size_t)length);
        (void)written;
    }
}

int fsync(int fd) {
    int result = real_fsync(fd);
    if (result == 0) record(fd);
    return result;
}

int fdatasync(int fd) {
    int result = real_fdatasync(fd);
    if (result == 0) record(fd);
    return result;
}
