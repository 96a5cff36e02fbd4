/*
 * names.h - what a name, a key and a value may be, and the run status words.
 *
 * Experiment, run and model names: 1..255 bytes, no NUL or '/', not starting
 * with '.'.  Too long is -ENAMETOOLONG, anything else wrong -EINVAL.
 *
 * Keys of params, metrics and tags follow MLflow: letters, digits, '_', '-',
 * '.', '/', ':' and space, at most MLFS_KEY_MAX bytes in all; no empty part,
 * no part "." or "..", no leading or trailing '/'.  Over length is
 * -ENAMETOOLONG, anything else -EINVAL.  A key with '/' lives as folders, so
 * a single path component is checked with mlfs_key_part_check() and the whole
 * key with mlfs_key_check().
 *
 * Values: params up to 6000 bytes, run tags 8000, experiment tags 5000
 * (MLflow's limits); over is -EINVAL.  Values may hold any bytes but NUL.
 *
 * Reserved names (mkdir of one is -EINVAL): at the root "models",
 * "index.html" and every name starting with '.'; in an experiment "meta",
 * "tags", "index.html", "runs.csv", "plots".
 *
 * All functions are pure and thread-safe.
 */
#ifndef MLFS_NAMES_H
#define MLFS_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#define MLFS_NAME_MAX 255
#define MLFS_KEY_MAX 250
#define MLFS_PARAM_VALUE_MAX 6000
#define MLFS_TAG_VALUE_MAX 8000
#define MLFS_EXP_TAG_VALUE_MAX 5000

enum mlfs_status {
	MLFS_RUNNING = 1,
	MLFS_SCHEDULED = 2,
	MLFS_FINISHED = 3,
	MLFS_FAILED = 4,
	MLFS_KILLED = 5,
};

enum mlfs_value_kind {
	MLFS_VALUE_PARAM,
	MLFS_VALUE_TAG,
	MLFS_VALUE_EXP_TAG,
};

/* Experiment, run or model name of len bytes: 0, -EINVAL or -ENAMETOOLONG. */
int mlfs_name_check(const char *name, size_t len);

/* One path component of a key: 0, -EINVAL or -ENAMETOOLONG. */
int mlfs_key_part_check(const char *part, size_t len);

/* A whole key such as "train/loss": 0, -EINVAL or -ENAMETOOLONG. */
int mlfs_key_check(const char *key, size_t len);

/* A value of len bytes of that kind: 0 or -EINVAL. */
int mlfs_value_check(enum mlfs_value_kind kind, const char *value, size_t len);

/* True if mkdir of name at the root, or in an experiment, is refused as reserved. */
bool mlfs_name_reserved_root(const char *name, size_t len);
bool mlfs_name_reserved_exp(const char *name, size_t len);

/*
 * Parse a status word (exactly one of RUNNING SCHEDULED FINISHED FAILED
 * KILLED, case-sensitive, one trailing '\n' allowed): 0 or -EINVAL.
 */
int mlfs_status_parse(const char *s, size_t len, enum mlfs_status *ret);

/* The word for a status; "UNKNOWN" for a value out of range. */
const char *mlfs_status_name(enum mlfs_status s);

/* True for FINISHED, FAILED and KILLED: the run has ended. */
bool mlfs_status_terminal(enum mlfs_status s);

#endif
