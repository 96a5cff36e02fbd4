/*
 * fault.h - fault injection for the durability paths (as SQLite's
 * SimulateIOError).
 *
 * The code that writes the store asks mlfs_fault(point) just before each
 * write, fsync (or syncfs) and rename it makes, and fails that call with the
 * code it gets instead of making it.  Faults are armed by the environment
 * variable MLFS_FAULT, read once at the first call, as a comma-separated list
 * of
 *
 *     POINT:N[+][:ERRNO]
 *
 * POINT is write, fsync, rename or commit (an LMDB write commit); the N-th call (counting from 1) at that
 * point in this process fails, and with '+' every later one too (a full
 * disk); ERRNO is EIO (the default), ENOSPC, EDQUOT, EROFS or ENOMEM.  For
 * example MLFS_FAULT=write:3:ENOSPC,rename:1.  A malformed MLFS_FAULT is
 * logged and arms nothing.
 *
 * Unarmed, mlfs_fault() costs two loads and a branch.  It is thread-safe; which
 * thread gets the N-th call is up to the scheduler.
 */
#ifndef MLFS_FAULT_H
#define MLFS_FAULT_H

enum mlfs_fault_point {
	MLFS_FAULT_WRITE,
	MLFS_FAULT_FSYNC,
	MLFS_FAULT_RENAME,
	MLFS_FAULT_COMMIT, /* an LMDB write transaction's commit (index.c) */
	MLFS_FAULT_NR,
};

/* 0, or the negative errno the caller must fail this call with. */
int mlfs_fault(enum mlfs_fault_point p);

/*
 * For tests: forget MLFS_FAULT and every count, and arm spec instead (same
 * syntax; NULL or "" arms nothing).  -EINVAL if spec is malformed (then
 * nothing is armed).  Not safe while other threads call mlfs_fault().
 */
int mlfs_fault_set(const char *spec);

#endif
