/*
 * err.h - error codes and the daemon's log.
 *
 * Every function in mlfs returns an int: 0 or a count on success, a negative
 * errno on failure.  Conditions that no errno names get a reserved negative
 * range below MLFS_E_BASE; mlfs_strerror() covers both ranges, and
 * mlfs_errno() maps any of them to the errno a FUSE caller should see.
 *
 * The log is one stream (stderr unless mlfs_log_open() names a file).  The
 * log_* helpers write one line and return the code they were given, so that a
 * failure is logged and returned in one expression:
 *
 *     return log_errno(r, "cannot open chunk '%s'", hex);
 *
 * Messages follow git's style: lowercase, what failed first, the subject in
 * quotes.  The log functions are thread-safe (one write(2) per line).
 */
#ifndef MLFS_ERR_H
#define MLFS_ERR_H

#include <errno.h>

enum {
	MLFS_E_BASE = -30900,
	MLFS_E_CORRUPT = MLFS_E_BASE - 1,  /* an index record does not decode */
	MLFS_E_FORMAT = MLFS_E_BASE - 2,   /* the store has another format version */
	MLFS_E_LOCKED = MLFS_E_BASE - 3,   /* another daemon serves this store */
	MLFS_E_NOTSTORE = MLFS_E_BASE - 4, /* the directory is not an mlfs store */
	MLFS_E_LAST = MLFS_E_BASE - 5,
};

/* A sentence for any code this project returns (negative errno or MLFS_E_*). */
const char *mlfs_strerror(int r);

/* The positive errno to hand to a kernel or a shell for code r (< 0). */
int mlfs_errno(int r);

/* Send the log to the file at path (appended); NULL restores stderr. */
int mlfs_log_open(const char *path);

/* Write "mlfs: <message>" and return 0. */
int log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Write "mlfs: <message>: <mlfs_strerror(r)>" and return r. */
int log_errno(int r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
