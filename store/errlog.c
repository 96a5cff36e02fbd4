/* errlog.c - see errlog.h. */
#include "errlog.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char *ring[MLFS_ERRLOG_MAX]; /* protected by lock */
static size_t head, count;          /* protected by lock */

void mlfs_errlog_add(const char *path, const char *sentence)
{
	char when[32], *line;
	struct tm tm;
	time_t now = time(NULL);

	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (asprintf(&line, "%s %s: %s\n", when, path, sentence) < 0)
		return;
	log_info("refused %s: %s", path, sentence);
	pthread_mutex_lock(&lock);
	free(ring[head]);
	ring[head] = line;
	head = (head + 1) % MLFS_ERRLOG_MAX;
	if (count < MLFS_ERRLOG_MAX)
		count++;
	pthread_mutex_unlock(&lock);
}

int mlfs_errlog_render(char **ret, size_t *ret_len)
{
	size_t len = 0, pos = 0, first;
	char *buf;

	pthread_mutex_lock(&lock);
	first = (head + MLFS_ERRLOG_MAX - count) % MLFS_ERRLOG_MAX;
	for (size_t i = 0; i < count; i++)
		len += strlen(ring[(first + i) % MLFS_ERRLOG_MAX]);
	buf = malloc(len + 1);
	if (!buf) {
		pthread_mutex_unlock(&lock);
		return -ENOMEM;
	}
	for (size_t i = 0; i < count; i++) {
		const char *l = ring[(first + i) % MLFS_ERRLOG_MAX];
		size_t n = strlen(l);

		memcpy(buf + pos, l, n);
		pos += n;
	}
	buf[pos] = 0;
	pthread_mutex_unlock(&lock);
	*ret = buf;
	*ret_len = pos;
	return 0;
}
