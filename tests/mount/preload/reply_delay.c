/*
 * reply_delay.c - an LD_PRELOAD library for the daemon in t_handles.sh: it
 * makes "a callback touched its open-file handle after it replied" happen
 * every time instead of once in thousands, and makes it fail loudly.
 *
 * Once the kernel has a reply, the process that asked can close the file,
 * and the release that frees the handle runs on another daemon thread.  A
 * callback that still uses the handle after its reply (its lock, most
 * often) races with that free; the race is lost only if the thread is
 * preempted in a window of a few instructions, so it shows as a rare heap
 * corruption (a daemon SIGSEGV in a later, unrelated LMDB call).  Here:
 *
 *   - every fuse_reply_* that a callback with a handle uses returns only
 *     after MLFS_REPLY_DELAY_MS (default 50) milliseconds, so the close and
 *     the release are done by then;
 *   - pthread_mutex_destroy() remembers the mutex and a later
 *     pthread_mutex_init() or lock forgets it again (the memory was reused);
 *     pthread_mutex_unlock() of a remembered one, i.e. of a handle that was
 *     released meanwhile, prints a line and aborts the daemon.
 *
 * The first delayed reply prints "reply_delay: active" on stderr (the
 * daemon's log), so that the test knows the library is in.  It is built
 * without the sanitizers, so that it can be preloaded into either build.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

/* Destroyed mutexes, by address; a ring: the oldest is forgotten first. */
#define NDEAD 4096
static void *dead[NDEAD];
static unsigned dead_next;
static atomic_flag dead_lock = ATOMIC_FLAG_INIT; /* not a pthread mutex: those are wrapped */

static void lock_dead(void)
{
	while (atomic_flag_test_and_set_explicit(&dead_lock, memory_order_acquire))
		;
}

static void unlock_dead(void)
{
	atomic_flag_clear_explicit(&dead_lock, memory_order_release);
}

/* Forget m; whether it was there. */
static int forget(void *m)
{
	int found = 0;

	lock_dead();
	for (unsigned i = 0; i < NDEAD; i++) {
		if (dead[i] == m) {
			dead[i] = NULL;
			found = 1;
		}
	}
	unlock_dead();
	return found;
}

static void *next_sym(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);

	if (!p) {
		fprintf(stderr, "reply_delay: no %s to wrap\n", name);
		abort();
	}
	return p;
}

int pthread_mutex_init(pthread_mutex_t *m, const pthread_mutexattr_t *a)
{
	static int (*real)(pthread_mutex_t *, const pthread_mutexattr_t *);

	if (!real)
		real = next_sym("pthread_mutex_init");
	forget(m);
	return real(m, a);
}

int pthread_mutex_destroy(pthread_mutex_t *m)
{
	static int (*real)(pthread_mutex_t *);

	if (!real)
		real = next_sym("pthread_mutex_destroy");
	lock_dead();
	dead[dead_next++ % NDEAD] = m;
	unlock_dead();
	return real(m);
}

int pthread_mutex_lock(pthread_mutex_t *m)
{
	static int (*real)(pthread_mutex_t *);

	if (!real)
		real = next_sym("pthread_mutex_lock");
	forget(m); /* memory reused for a mutex that was never initialised (calloc) */
	return real(m);
}

int pthread_mutex_trylock(pthread_mutex_t *m)
{
	static int (*real)(pthread_mutex_t *);

	if (!real)
		real = next_sym("pthread_mutex_trylock");
	forget(m);
	return real(m);
}

int pthread_mutex_unlock(pthread_mutex_t *m)
{
	static int (*real)(pthread_mutex_t *);

	if (!real)
		real = next_sym("pthread_mutex_unlock");
	if (forget(m)) {
		static const char msg[] = "reply_delay: unlock of a destroyed mutex: a callback "
					  "used its handle after the handle was released\n";

		if (write(2, msg, sizeof(msg) - 1) < 0) {
			/* aborting anyway */
		}
		abort();
	}
	return real(m);
}

static void delay(void)
{
	static atomic_int said;
	const char *e = getenv("MLFS_REPLY_DELAY_MS");
	long ms = e ? atol(e) : 50;
	struct timespec ts = {ms / 1000, ms % 1000 * 1000000};

	if (!atomic_exchange(&said, 1)) {
		fprintf(stderr, "reply_delay: active, %ld ms after each reply\n", ms);
		fflush(stderr);
	}
	while (nanosleep(&ts, &ts) < 0)
		;
}

/* Each wrapper: the real reply, then the pause. */
#define WRAP(name, params, args)                                                                   \
	int name params                                                                            \
	{                                                                                          \
		static int(*real) params;                                                          \
		int r;                                                                             \
                                                                                                   \
		if (!real)                                                                         \
			real = next_sym(#name);                                                    \
		r = real args;                                                                     \
		delay();                                                                           \
		return r;                                                                          \
	}

WRAP(fuse_reply_err, (fuse_req_t req, int err), (req, err))
WRAP(fuse_reply_buf, (fuse_req_t req, const char *buf, size_t size), (req, buf, size))
WRAP(fuse_reply_write, (fuse_req_t req, size_t count), (req, count))
WRAP(fuse_reply_open, (fuse_req_t req, const struct fuse_file_info *fi), (req, fi))
WRAP(fuse_reply_create,
     (fuse_req_t req, const struct fuse_entry_param *e, const struct fuse_file_info *fi),
     (req, e, fi))
WRAP(fuse_reply_attr, (fuse_req_t req, const struct stat *attr, double timeout),
     (req, attr, timeout))
