/* save_file.c - a file written under a temporary name and renamed when
 * complete (see save_file.h). */
#include "save_file.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int save_begin(SaveFile *s, const char *path, char err[ERROR_SIZE])
{
    const char suffix[] = ".tmp-XXXXXX";
    memset(s, 0, sizeof *s);
    s->path = path;
    s->temp = malloc(strlen(path) + sizeof suffix);
    if (!s->temp)
        return file_error(err, path, "cannot write: out of memory");
    strcpy(s->temp, path);
    strcat(s->temp, suffix);
    int fd = mkstemp(s->temp);
    if (fd >= 0) {  /* mkstemp's file is private (0600): give it the permissions a new file gets */
        const mode_t mask = umask(0);
        umask(mask);
        fchmod(fd, 0666 & ~mask);
    }
    s->f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!s->f) {
        int why = errno;
        if (fd >= 0) {
            close(fd);
            unlink(s->temp);
        }
        free(s->temp);
        s->temp = NULL;
        return file_error(err, path, "cannot write: %s", strerror(why));
    }
    return 0;
}

int save_end(SaveFile *s, bool ok, char err[ERROR_SIZE])
{
    /* A write error sets errno; so does a failing flush or sync. */
    int why = ok ? 0 : errno;
    if (ok && (fflush(s->f) != 0 || fsync(fileno(s->f)) != 0)) {
        why = errno;
        ok = false;
    }
    if (fclose(s->f) != 0 && ok) {
        why = errno;
        ok = false;
    }
    if (ok && rename(s->temp, s->path) != 0) {
        why = errno;
        ok = false;
    }
    if (!ok)
        unlink(s->temp);
    free(s->temp);
    const char *path = s->path;
    memset(s, 0, sizeof *s);
    if (!ok)
        return file_error(err, path, "writing failed: %s", why ? strerror(why) : "a write error");
    return 0;
}
