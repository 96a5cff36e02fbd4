/* fault.c - see fault.h. */
#include "fault.h"
#include "err.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct fault {
	unsigned long nth; /* the call that fails, from 1; 0: never */
	bool persist;	   /* and every call after it */
	int err;	   /* negative errno */
};

static const char *const point_names[MLFS_FAULT_NR] = {
    [MLFS_FAULT_WRITE] = "write",
    [MLFS_FAULT_FSYNC] = "fsync",
    [MLFS_FAULT_RENAME] = "rename",
    [MLFS_FAULT_COMMIT] = "commit",
};

static const struct {
	const char *name;
	int err;
} errno_names[] = {
    {"EIO", EIO}, {"ENOSPC", ENOSPC}, {"EDQUOT", EDQUOT}, {"EROFS", EROFS}, {"ENOMEM", ENOMEM},
};

static pthread_once_t env_once = PTHREAD_ONCE_INIT;
/* faults[] is written only while armed is false, and read only after it is seen true. */
static atomic_bool armed;
static struct fault faults[MLFS_FAULT_NR];
static atomic_ulong calls[MLFS_FAULT_NR];

/* Parse one "POINT:N[+][:ERRNO]" of len bytes into out[]. */
static int parse_item(const char *s, size_t len, struct fault out[MLFS_FAULT_NR])
{
	char item[64], *field[3], *end, *next;
	unsigned long n;
	int nfields = 0, p, e;

	if (len == 0 || len >= sizeof(item))
		return -EINVAL;
	memcpy(item, s, len);
	item[len] = '\0';
	/* Split at ':' by hand: strtok would let "write::1" through. */
	for (char *f = item; f; f = next) {
		next = strchr(f, ':');
		if (next)
			*next++ = '\0';
		if (nfields == 3 || !*f)
			return -EINVAL;
		field[nfields++] = f;
	}
	if (nfields < 2)
		return -EINVAL;

	for (p = 0; p < MLFS_FAULT_NR; p++)
		if (!strcmp(field[0], point_names[p]))
			break;
	if (p == MLFS_FAULT_NR)
		return -EINVAL;

	if (field[1][0] < '1' || field[1][0] > '9')
		return -EINVAL;
	n = strtoul(field[1], &end, 10);
	if (*end && strcmp(end, "+"))
		return -EINVAL;

	e = EIO;
	if (nfields == 3) {
		size_t i;

		for (i = 0; i < sizeof(errno_names) / sizeof(errno_names[0]); i++)
			if (!strcmp(field[2], errno_names[i].name))
				break;
		if (i == sizeof(errno_names) / sizeof(errno_names[0]))
			return -EINVAL;
		e = errno_names[i].err;
	}

	out[p] = (struct fault){.nth = n, .persist = *end == '+', .err = -e};
	return 0;
}

/* Arm spec (NULL or "" arms nothing); on -EINVAL nothing is armed. */
static int arm(const char *spec)
{
	struct fault parsed[MLFS_FAULT_NR] = {0};
	const char *s = spec;
	int r;

	atomic_store(&armed, false);
	while (s && *s) {
		size_t len = strcspn(s, ",");

		r = parse_item(s, len, parsed);
		if (r < 0)
			return r;
		s += len;
		/* After a comma, another item must follow. */
		if (*s == ',' && !*++s)
			return -EINVAL;
	}
	for (int p = 0; p < MLFS_FAULT_NR; p++) {
		faults[p] = parsed[p];
		atomic_store(&calls[p], 0);
	}
	atomic_store(&armed, spec && *spec);
	return 0;
}

static void load_env(void)
{
	const char *spec = getenv("MLFS_FAULT");

	if (arm(spec) < 0)
		log_errno(-EINVAL, "ignoring malformed MLFS_FAULT '%s'", spec);
}

int mlfs_fault(enum mlfs_fault_point p)
{
	const struct fault *f = &faults[p];
	unsigned long n;

	pthread_once(&env_once, load_env);
	if (!atomic_load_explicit(&armed, memory_order_acquire) || !f->nth)
		return 0;
	n = atomic_fetch_add_explicit(&calls[p], 1, memory_order_relaxed) + 1;
	if (n == f->nth || (f->persist && n > f->nth))
		return f->err;
	return 0;
}

int mlfs_fault_set(const char *spec)
{
	pthread_once(&env_once, load_env);
	return arm(spec);
}
