/*
 * loop.h - the daemon's request loop: one receiving thread, a few workers.
 *
 * mlfs_loop_run() serves a mounted session until it is unmounted or told to
 * exit.  One thread (the caller) reads every request from /dev/fuse and runs
 * its callback at once: a small append is served on the CPU of the process
 * that wrote it, with no hand-off to another thread (a FUSE round trip costs
 * ~11 µs that way and ~108 µs across two CPUs, on the machine of issue 4).
 * A callback that may block for long (chunk I/O, compression, a commit of an
 * artifact, an fsync, waiting on the gc lock) hands its work to a worker with
 * mlfs_loop_defer() and returns; the worker replies (fuse_reply_* may be
 * called from any thread).
 *
 * Order: jobs of one key run one at a time, in the order they were deferred.
 * The callbacks use an open file's handle as its key, so a handle's writes,
 * its flush and its release run in arrival order, and a callback that finds
 * its handle busy (mlfs_loop_busy) defers too instead of overtaking.
 *
 * Buffers: the data a callback is given (a write's bytes) lies in the loop's
 * receive buffer, which the next request overwrites.  A callback that defers
 * keeps it with mlfs_loop_keep(): the buffer becomes the job's and the loop
 * reads the next request into a new one.
 *
 * Only the loop thread may call mlfs_loop_defer(), mlfs_loop_busy() and
 * mlfs_loop_keep(); elsewhere (or before the loop runs) defer fails and the
 * caller does the work itself.
 */
#ifndef MLFS_LOOP_H
#define MLFS_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fuse_session;

/* Serve se with `workers` workers until it exits; 0, or a negative errno. */
int mlfs_loop_run(struct fuse_session *se, int workers);

/*
 * Run fn(arg) on a worker after every job of key (non-zero) deferred before
 * it has finished.  0, or -ENOSYS when not called from the loop thread or
 * -ENOMEM: then fn has not been called and arg is still the caller's.
 */
int mlfs_loop_defer(uintptr_t key, void (*fn)(void *arg), void *arg);

/* Does key have a job queued or running?  (The loop thread only.) */
bool mlfs_loop_busy(uintptr_t key);

/*
 * Keep size bytes at data past the callback's return: the address they are
 * at from now on (data itself when they lie in the receive buffer, which the
 * caller then owns, else a copy), and in *ret_mem what to free() when done.
 * NULL on -ENOMEM.
 */
const void *mlfs_loop_keep(const void *data, size_t size, void **ret_mem);

#endif
