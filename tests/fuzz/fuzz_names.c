/*
 * fuzz_names.c - the name, key, value and status checks against the
 * header's rules written out plainly here, on any bytes.
 */
#include "fuzz.h"
#include "names.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int ref_name(const char *s, size_t len)
{
	if (len == 0)
		return -EINVAL;
	if (len > MLFS_NAME_MAX)
		return -ENAMETOOLONG;
	if (s[0] == '.' || memchr(s, '/', len) || memchr(s, '\0', len))
		return -EINVAL;
	return 0;
}

static int ref_part(const char *s, size_t len)
{
	size_t i;

	if (len == 0)
		return -EINVAL;
	if (len > MLFS_KEY_MAX)
		return -ENAMETOOLONG;
	if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
		return -EINVAL;
	for (i = 0; i < len; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-. :",
			    s[i]) ||
		    s[i] == '\0')
			return -EINVAL;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	enum mlfs_status st = 0;
	size_t i, start;
	int r;

	EXPECT(mlfs_name_check(s, size) == ref_name(s, size));
	EXPECT(mlfs_key_part_check(s, size) == ref_part(s, size));

	/* A key is good when short enough and every part is. */
	r = mlfs_key_check(s, size);
	if (size == 0) {
		EXPECT(r == -EINVAL);
	} else if (size > MLFS_KEY_MAX) {
		EXPECT(r == -ENAMETOOLONG);
	} else {
		int want = 0;

		for (i = 0, start = 0; i <= size && want == 0; i++) {
			if (i < size && s[i] != '/')
				continue;
			want = ref_part(s + start, i - start);
			start = i + 1;
		}
		EXPECT(r == want);
	}

	EXPECT(mlfs_value_check(MLFS_VALUE_PARAM, s, size) ==
	       (size <= MLFS_PARAM_VALUE_MAX && !memchr(s, '\0', size) ? 0 : -EINVAL));
	EXPECT(mlfs_value_check(MLFS_VALUE_TAG, s, size) ==
	       (size <= MLFS_TAG_VALUE_MAX && !memchr(s, '\0', size) ? 0 : -EINVAL));
	EXPECT(mlfs_value_check(MLFS_VALUE_EXP_TAG, s, size) ==
	       (size <= MLFS_EXP_TAG_VALUE_MAX && !memchr(s, '\0', size) ? 0 : -EINVAL));

	/* Reserved names are never good names at the root, nor keys' worries. */
	if (mlfs_name_reserved_root(s, size))
		EXPECT(size > 0);
	if (size > 0 && s[0] == '.')
		EXPECT(mlfs_name_reserved_root(s, size));
	mlfs_name_reserved_exp(s, size);

	/* A status word parses to the one whose name it is. */
	r = mlfs_status_parse(s, size, &st);
	if (r == 0) {
		const char *w = mlfs_status_name(st);
		size_t n = strlen(w);

		EXPECT(size == n || (size == n + 1 && s[n] == '\n'));
		EXPECT(memcmp(s, w, n) == 0);
	} else {
		EXPECT(r == -EINVAL && st == 0);
	}
	return 0;
}
