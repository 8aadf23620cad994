/* save_file.h - writing a file whole or not at all: the bytes go to a
 * temporary name beside the destination (so that rename stays within one
 * file system), and only a complete, flushed file is renamed over it. A
 * failure at any point leaves the destination as it was and no temporary
 * file behind. Every writer of the engine (./run quantize's two formats)
 * writes through it. */
#ifndef SAVE_FILE_H
#define SAVE_FILE_H

#include <stdbool.h>
#include <stdio.h>

#include "model.h"

typedef struct {
    FILE *f;           /* write here, between save_begin and save_end */
    char *temp;        /* the temporary name */
    const char *path;  /* the destination (the caller's string) */
} SaveFile;

/* Opens a new temporary file beside path, with the permissions a new file
 * gets. Returns 0, or -1 with "path: cannot write: why" in err. */
int save_begin(SaveFile *s, const char *path, char err[ERROR_SIZE]);

/* ok: whether every write succeeded. Flushes, syncs and closes the file and,
 * when everything went well, renames it to the destination; otherwise
 * removes it. Returns 0, or -1 with "path: writing failed: why" in err. */
int save_end(SaveFile *s, bool ok, char err[ERROR_SIZE]);

#endif
