/*
 * errlog.h - the recent refusals, each with a sentence a person can read.
 *
 * FUSE carries only an errno back to a caller; the daemon also keeps the
 * last MLFS_ERRLOG_MAX refused operations as lines
 *     "<UTC time> <path>: <sentence>\n"
 * which it prints in its log as they happen and serves at /.mlfs/errors.
 * The ring is in memory and thread-safe; it does not survive a restart (the
 * log file does).
 */
#ifndef MLFS_ERRLOG_H
#define MLFS_ERRLOG_H

#include <stddef.h>

#define MLFS_ERRLOG_MAX 1000

/* Record a refusal of path (relative to the mount) with its sentence; logs it too. */
void mlfs_errlog_add(const char *path, const char *sentence);

/* A malloc'd copy of the lines, oldest first, in *ret (length *ret_len). */
int mlfs_errlog_render(char **ret, size_t *ret_len);

#endif
