/*
 * fuzz_words.c - the small word parsers of the registry and the chunk store,
 * against their rules written out plainly here, on any bytes:
 *
 *   - a stage word (mlfs_stage_parse): exactly None, Staging, Production or
 *     Archived, case-sensitive, one trailing '\n' allowed; it names the stage
 *     whose mlfs_stage_name() it is, and a refusal leaves the out-parameter
 *     alone;
 *   - an alias name (as mlfs_reg_alias_rename() checks both names): 1 to
 *     MLFS_NAME_MAX letters, digits, '_' and '-'; "latest" is mlfs's own
 *     (-EPERM); anything else -EINVAL, with a sentence in op->why;
 *   - a chunk name (mlfs_hash_parse, a C string): exactly 32 lowercase hex
 *     digits, which mlfs_hash_hex() spells back the same;
 *   - a status word (mlfs_status_parse), as for the stage.
 *
 * The input is split at its first NUL byte (if any) into two names for the
 * alias check; every parser also sees the whole input.
 */
#include "fuzz.h"
#include "chunk.h"
#include "index.h"
#include "names.h"
#include "registry.h"
#include "store.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const stages[] = { "None", "Staging", "Production", "Archived" };
static const char *const statuses[] = { "RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED" };

/* The index of the word s[0..len) is in words[] (one trailing '\n' allowed), or -1. */
static int ref_word(const char *const *words, int n, const char *s, size_t len)
{
	if (len && s[len - 1] == '\n')
		len--;
	for (int i = 0; i < n; i++)
		if (strlen(words[i]) == len && memcmp(words[i], s, len) == 0)
			return i;
	return -1;
}

static int ref_alias(const char *s, size_t len)
{
	if (len == 6 && memcmp(s, "latest", 6) == 0)
		return -EPERM;
	if (len == 0 || len > MLFS_NAME_MAX)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return -EINVAL;
	}
	return 0;
}

static void check_stage(const char *s, size_t len)
{
	enum mlfs_stage st = (enum mlfs_stage)77;
	int want = ref_word(stages, 4, s, len), r = mlfs_stage_parse(s, len, &st);

	if (want < 0) {
		EXPECT(r == -EINVAL);
		EXPECT(st == (enum mlfs_stage)77);
		return;
	}
	EXPECT(r == 0);
	EXPECT((int)st == want);
	EXPECT(strcmp(mlfs_stage_name(st), stages[want]) == 0);
}

static void check_status(const char *s, size_t len)
{
	enum mlfs_status st = (enum mlfs_status)77;
	int want = ref_word(statuses, 5, s, len), r = mlfs_status_parse(s, len, &st);

	if (want < 0) {
		EXPECT(r == -EINVAL);
		return;
	}
	EXPECT(r == 0);
	EXPECT(strcmp(mlfs_status_name(st), statuses[want]) == 0);
}

static void check_alias(const char *a, size_t alen, const char *b, size_t blen)
{
	struct mlfs_inode link = { .kind = MLFS_K_MLINK };
	struct mlfs_op op;
	int want = ref_alias(a, alen), r;

	if (want == 0)
		want = ref_alias(b, blen);
	mlfs_op_init(&op, 0, 0);
	r = mlfs_reg_alias_rename(&op, &link, a, alen, b, blen);
	EXPECT(r == want);
	if (r) {
		/* A refusal carries a sentence, and it ends inside the buffer. */
		EXPECT(op.why[0] != '\0');
		EXPECT(memchr(op.why, '\0', sizeof(op.why)) != NULL);
	}
	/* Only aliases live in aliases/. */
	link.kind = MLFS_K_AFILE;
	EXPECT(mlfs_reg_alias_rename(&op, &link, a, alen, b, blen) == -EPERM);
}

static void check_hash(const char *s, size_t len)
{
	char copy[40], hex[33];
	struct mlfs_hash h, orig;
	bool good;
	int r;

	/* The parser reads a C string: what comes after a NUL is not its business. */
	if (len >= sizeof(copy))
		return;
	memcpy(copy, s, len);
	copy[len] = '\0';
	len = strlen(copy);
	good = len == 32;
	for (size_t i = 0; i < len && good; i++)
		good = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f');
	memset(&h, 0xa5, sizeof(h));
	orig = h;
	r = mlfs_hash_parse(copy, &h);
	if (!good) {
		EXPECT(r == -EINVAL);
		EXPECT(memcmp(&h, &orig, sizeof(h)) == 0);
		return;
	}
	EXPECT(r == 0);
	mlfs_hash_hex(&h, hex);
	EXPECT(memcmp(hex, s, 32) == 0 && hex[32] == '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	const char *nul = memchr(s, '\0', size);
	size_t alen = nul ? (size_t)(nul - s) : size;

	check_stage(s, size);
	check_status(s, size);
	check_hash(s, size);
	if (nul)
		check_alias(s, alen, nul + 1, size - alen - 1);
	else
		check_alias(s, size, "champion", 8);
	return 0;
}
