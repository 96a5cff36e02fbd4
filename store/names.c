/*
 * names.c - see names.h.
 *
 * Keys: MLflow checks a key with the pattern [/\w.\- :]* and refuses one that
 * posixpath.normpath() would change.  Python's \w also matches non-ASCII
 * letters; we take the header's narrower ASCII set, so that a key is always
 * a plain file name.  NEEDSWORK: accept UTF-8 letters as MLflow does?
 */
#include "names.h"

#include <errno.h>
#include <string.h>

/* True if the len bytes at s are exactly the NUL-terminated word w. */
static bool word_is(const char *s, size_t len, const char *w)
{
	return len == strlen(w) && memcmp(s, w, len) == 0;
}

static bool key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-' || c == '.' || c == ' ' || c == ':';
}

int mlfs_name_check(const char *name, size_t len)
{
	if (len == 0)
		return -EINVAL;
	if (len > MLFS_NAME_MAX)
		return -ENAMETOOLONG;
	if (name[0] == '.')
		return -EINVAL;
	if (memchr(name, '\0', len) || memchr(name, '/', len))
		return -EINVAL;
	return 0;
}

int mlfs_key_part_check(const char *part, size_t len)
{
	size_t i;

	if (len == 0)
		return -EINVAL;
	if (len > MLFS_KEY_MAX)
		return -ENAMETOOLONG;
	if (word_is(part, len, ".") || word_is(part, len, ".."))
		return -EINVAL;
	for (i = 0; i < len; i++)
		if (!key_char(part[i]))
			return -EINVAL;
	return 0;
}

int mlfs_key_check(const char *key, size_t len)
{
	size_t start = 0, i;
	int r;

	if (len == 0)
		return -EINVAL;
	if (len > MLFS_KEY_MAX)
		return -ENAMETOOLONG;
	/* Each part in turn; i == len closes the last one. */
	for (i = 0; i <= len; i++) {
		if (i < len && key[i] != '/')
			continue;
		r = mlfs_key_part_check(key + start, i - start);
		if (r < 0)
			return r;
		start = i + 1;
	}
	return 0;
}

int mlfs_value_check(enum mlfs_value_kind kind, const char *value, size_t len)
{
	size_t max;

	switch (kind) {
	case MLFS_VALUE_PARAM:
		max = MLFS_PARAM_VALUE_MAX;
		break;
	case MLFS_VALUE_TAG:
		max = MLFS_TAG_VALUE_MAX;
		break;
	case MLFS_VALUE_EXP_TAG:
		max = MLFS_EXP_TAG_VALUE_MAX;
		break;
	default:
		return -EINVAL;
	}
	if (len > max)
		return -EINVAL;
	if (len && memchr(value, '\0', len))
		return -EINVAL;
	return 0;
}

bool mlfs_name_reserved_root(const char *name, size_t len)
{
	if (len == 0)
		return false;
	return name[0] == '.' || word_is(name, len, "models") || word_is(name, len, "index.html");
}

bool mlfs_name_reserved_exp(const char *name, size_t len)
{
	static const char *const reserved[] = {"meta", "tags", "index.html", "runs.csv", "plots"};
	size_t i;

	for (i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (word_is(name, len, reserved[i]))
			return true;
	return false;
}

static const char *const status_words[] = {
    [MLFS_RUNNING] = "RUNNING", [MLFS_SCHEDULED] = "SCHEDULED", [MLFS_FINISHED] = "FINISHED",
    [MLFS_FAILED] = "FAILED",	[MLFS_KILLED] = "KILLED",
};

int mlfs_status_parse(const char *s, size_t len, enum mlfs_status *ret)
{
	int i;

	if (len && s[len - 1] == '\n')
		len--;
	for (i = MLFS_RUNNING; i <= MLFS_KILLED; i++) {
		if (word_is(s, len, status_words[i])) {
			*ret = (enum mlfs_status)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *mlfs_status_name(enum mlfs_status s)
{
	if ((int)s < MLFS_RUNNING || (int)s > MLFS_KILLED)
		return "UNKNOWN";
	return status_words[s];
}

bool mlfs_status_terminal(enum mlfs_status s)
{
	return s == MLFS_FINISHED || s == MLFS_FAILED || s == MLFS_KILLED;
}
