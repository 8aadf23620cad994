/* fuzz_common.h - shared by the libFuzzer harnesses: the engine's loaders
 * take a path, so each input is written to an in-memory file (memfd) and
 * handed over as /proc/self/fd/N. Linux only, like the fuzzing itself. */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Stops the run with a message: libFuzzer records the input as a crash. */
#define FUZZ_CHECK(cond, ...)                                                       \
    do {                                                                           \
        if (!(cond)) {                                                             \
            fprintf(stderr, "fuzz invariant violated at %s:%d: %s\n  ", __FILE__, \
                    __LINE__, #cond);                                              \
            fprintf(stderr, __VA_ARGS__);                                          \
            fputc('\n', stderr);                                                   \
            abort();                                                               \
        }                                                                          \
    } while (0)

typedef struct {
    int fd;
    char path[64];
} FuzzFile;

/* One in-memory file, reused for every input (it is truncated each time). */
static void fuzz_file_open(FuzzFile *f, const char *name)
{
    f->fd = memfd_create(name, MFD_CLOEXEC);
    if (f->fd < 0) {
        /* No memfd (old kernel): an unlinked temporary file works the same way. */
        char tmpl[256];
        const char *dir = getenv("TMPDIR");
        snprintf(tmpl, sizeof tmpl, "%s/fuzz-XXXXXX", dir && *dir ? dir : "/tmp");
        f->fd = mkstemp(tmpl);
        if (f->fd >= 0)
            unlink(tmpl);
    }
    if (f->fd < 0) {
        fprintf(stderr, "fuzz: cannot create a scratch file: %s\n", strerror(errno));
        exit(1);
    }
    snprintf(f->path, sizeof f->path, "/proc/self/fd/%d", f->fd);
}

/* Replaces the file's contents with data; returns the path to open. */
static const char *fuzz_file_write(FuzzFile *f, const uint8_t *data, size_t size)
{
    if (ftruncate(f->fd, 0) != 0) {
        fprintf(stderr, "fuzz: ftruncate: %s\n", strerror(errno));
        exit(1);
    }
    size_t done = 0;
    while (done < size) {
        ssize_t n = pwrite(f->fd, data + done, size - done, (off_t)done);
        if (n <= 0) {
            fprintf(stderr, "fuzz: cannot write the scratch file: %s\n", strerror(errno));
            exit(1);
        }
        done += (size_t)n;
    }
    return f->path;
}

/* Reads every byte of p (n), so that ASan sees any pointer that is off. */
static inline unsigned fuzz_touch(const void *p, size_t n)
{
    const volatile unsigned char *b = p;
    unsigned sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += b[i];
    return sum;
}

#endif
