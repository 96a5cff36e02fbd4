/*
 * loop.c - see loop.h.
 *
 * What runs where:
 *   loop thread  reads /dev/fuse and runs every callback; cheap requests
 *                (lookup, getattr, readdir, opens, metric and value writes,
 *                releases of those, mkdir, rename...) are answered there.
 *   workers      run deferred jobs: what ops.c sends them (artifact reads,
 *                writes, flushes, releases, truncates, every fsync, writes
 *                of a model stage), and each reply of those.
 *   syncer       (daemon.c) flushes the store about once a second.
 *
 * Invariants:
 *  1. Jobs of one key run one at a time and in the order they were queued:
 *     a worker takes the first queued job whose key no worker is running
 *     (every earlier job of that key has then finished, since the queue is
 *     in arrival order and a key's first queued job is its oldest).
 *  2. A callback on a handle that has jobs (mlfs_loop_busy) defers too, so
 *     no request overtakes one queued before it on the same handle.  Only
 *     the loop thread queues jobs: a busy() that says no stays true until
 *     the loop queues the next one.
 *  3. The receive buffer belongs to the loop until a callback keeps it
 *     (mlfs_loop_keep); from then on it is the job's, and the loop reads the
 *     next request into a new one.  Nothing else points into it.
 *  4. The loop thread never waits for a worker (the queue is unbounded:
 *     the kernel bounds it, one request in flight per calling thread and
 *     max_background for readahead), and never calls
 *     fuse_lowlevel_notify_inval_entry(): that waits on a directory lock
 *     that a lookup may hold while it waits for the loop.  Workers may (the
 *     loop stays free to answer that lookup).  Invalidating an inode's
 *     attributes only (offset -1) takes no such lock and is fine anywhere.
 *     (If no worker could be started, or a job cannot be queued for want of
 *     memory, the callback runs on the loop: the daemon then serves as a
 *     single-threaded one would.)
 *  5. When the session ends, the workers finish every queued job (releases
 *     commit artifacts) before mlfs_loop_run() returns; the store outlives
 *     them.
 *  6. Workers (and the syncer, daemon.c) block SIGHUP, SIGINT and SIGTERM,
 *     so that the signal lands on the loop thread and interrupts its wait.
 *  7. /dev/fuse is non-blocking for the loop: after each request it polls
 *     the device for up to SPIN_NS (yielding the CPU between tries) before
 *     it sleeps in poll().  A writer's next request usually comes within a
 *     few microseconds, and finding it awake saves waking a sleeping thread,
 *     which on the machines of issue 4 costs more than the request (Python,
 *     one write per point: 18k points/s sleeping at once, 54k spinning on
 *     an idle machine; 36-50k either way with both CPUs busy).
 */
#include "loop.h"

#include <fuse_lowlevel.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"

#define MAX_WORKERS 16

struct job {
	struct job *next;
	uintptr_t key;
	void (*fn)(void *arg);
	void *arg;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t work;	/* a job was queued or finished, or stop */
	struct job *head, **tail; /* protected by lock */
	uintptr_t running[MAX_WORKERS]; /* key each worker runs, 0 if none; protected by lock */
	bool stop;		/* protected by lock */
	atomic_size_t pending;	/* queued + running; only the loop adds */
	int n; /* workers started; the loop thread's */
	pthread_t threads[MAX_WORKERS];
} pool = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.work = PTHREAD_COND_INITIALIZER,
	.tail = &pool.head,
};

/* The loop thread's receive buffer, and which thread is the loop. */
static struct fuse_buf rbuf;
static _Thread_local bool on_loop;

static bool key_running(uintptr_t key)
{
	for (int i = 0; i < MAX_WORKERS; i++)
		if (pool.running[i] == key)
			return true;
	return false;
}

/* The first queued job that may run now (invariant 1), unlinked; NULL if none. */
static struct job *take_runnable(void)
{
	for (struct job **p = &pool.head; *p; p = &(*p)->next) {
		struct job *j = *p;

		if (key_running(j->key))
			continue;
		*p = j->next;
		if (!*p)
			pool.tail = p;
		return j;
	}
	return NULL;
}

static void *worker(void *arg)
{
	int me = (int)(intptr_t)arg;
	struct job *j;

	pthread_mutex_lock(&pool.lock);
	for (;;) {
		j = take_runnable();
		if (!j) {
			if (pool.stop && !pool.head)
				break;
			pthread_cond_wait(&pool.work, &pool.lock);
			continue;
		}
		pool.running[me] = j->key;
		pthread_mutex_unlock(&pool.lock);
		j->fn(j->arg);
		free(j);
		pthread_mutex_lock(&pool.lock);
		pool.running[me] = 0;
		atomic_fetch_sub(&pool.pending, 1);
		/* A job of this key may be runnable now, for a worker that found none. */
		if (pool.head || pool.stop)
			pthread_cond_broadcast(&pool.work);
	}
	pthread_mutex_unlock(&pool.lock);
	return NULL;
}

int mlfs_loop_defer(uintptr_t key, void (*fn)(void *arg), void *arg)
{
	struct job *j;

	if (!on_loop || !pool.n)
		return -ENOSYS;
	j = malloc(sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->next = NULL;
	j->key = key;
	j->fn = fn;
	j->arg = arg;
	pthread_mutex_lock(&pool.lock);
	*pool.tail = j;
	pool.tail = &j->next;
	atomic_fetch_add(&pool.pending, 1);
	pthread_cond_signal(&pool.work);
	pthread_mutex_unlock(&pool.lock);
	return 0;
}

bool mlfs_loop_busy(uintptr_t key)
{
	bool busy;

	/* Only the loop adds jobs: none pending now means none until it adds one. */
	if (!on_loop || atomic_load(&pool.pending) == 0)
		return false;
	pthread_mutex_lock(&pool.lock);
	busy = key_running(key);
	for (struct job *j = pool.head; j && !busy; j = j->next)
		busy = j->key == key;
	pthread_mutex_unlock(&pool.lock);
	return busy;
}

const void *mlfs_loop_keep(const void *data, size_t size, void **ret_mem)
{
	const char *p = data, *mem = rbuf.mem;
	void *copy;

	if (on_loop && mem && !(rbuf.flags & FUSE_BUF_IS_FD) && p >= mem &&
	    p + size <= mem + rbuf.size) {
		*ret_mem = rbuf.mem;
		rbuf.mem = NULL; /* the next receive allocates another */
		return data;
	}
	copy = malloc(size ? size : 1);
	if (!copy)
		return NULL;
	memcpy(copy, data, size);
	*ret_mem = copy;
	return copy;
}

/* The signals libfuse's handlers catch go to the loop thread only (invariant 6). */
static void block_signals(sigset_t *old)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, old);
}

static void stop_workers(void)
{
	pthread_mutex_lock(&pool.lock);
	pool.stop = true;
	pthread_cond_broadcast(&pool.work);
	pthread_mutex_unlock(&pool.lock);
	for (int i = 0; i < pool.n; i++)
		pthread_join(pool.threads[i], NULL);
	pool.n = 0;
	pool.stop = false;
}

/* How long the loop polls /dev/fuse after a request before it sleeps in poll(). */
#define SPIN_NS 50000

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int mlfs_loop_run(struct fuse_session *se, int workers)
{
	sigset_t old;
	uint64_t idle_since = 0;
	bool spin;
	int r = 0, fd;

	if (workers > MAX_WORKERS)
		workers = MAX_WORKERS;
	block_signals(&old);
	for (int i = 0; i < workers; i++) {
		if (pthread_create(&pool.threads[pool.n], NULL, worker, (void *)(intptr_t)i)) {
			log_errno(-errno, "cannot start a worker thread; %d run", pool.n);
			break;
		}
		pthread_setname_np(pool.threads[pool.n], "mlfs-worker");
		pool.n++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	on_loop = true;
	memset(&rbuf, 0, sizeof(rbuf));
	fd = fuse_session_fd(se);
	spin = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == 0;
	while (!fuse_session_exited(se)) {
		r = fuse_session_receive_buf(se, &rbuf);
		if (r == -EAGAIN) {
			struct pollfd p = { .fd = fd, .events = POLLIN };
			uint64_t now = now_ns();

			if (!idle_since)
				idle_since = now;
			r = 0; /* nothing read is not an error of the session */
			if (now - idle_since < SPIN_NS) {
				sched_yield();
				continue;
			}
			poll(&p, 1, -1);
			idle_since = 0;
			continue;
		}
		idle_since = 0;
		if (r == -EINTR) {
			r = 0;
			continue;
		}
		if (r <= 0)
			break;
		fuse_session_process_buf(se, &rbuf);
	}
	if (spin)
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	on_loop = false;
	free(rbuf.mem);
	rbuf.mem = NULL;
	stop_workers();
	fuse_session_reset(se);
	return r < 0 ? r : 0;
}
