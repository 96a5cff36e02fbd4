/* test_names.c - names, keys, values, reserved names and status words. */
#include "names.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "t.h"

/* Check s from an exact-size heap copy, so that ASan sees any read past len. */
static int check_with(int (*fn)(const char *, size_t), const char *s, size_t len)
{
	char *copy = malloc(len ? len : 1);
	int r;

	if (len)
		memcpy(copy, s, len);
	r = fn(copy, len);
	free(copy);
	return r;
}

#define NAME(s) check_with(mlfs_name_check, s, strlen(s))
#define PART(s) check_with(mlfs_key_part_check, s, strlen(s))
#define KEY(s) check_with(mlfs_key_check, s, strlen(s))

static void test_names(void)
{
	char buf[300];

	CHECK(NAME("exp1") == 0);
	CHECK(NAME("run 42") == 0);
	CHECK(NAME("a.b") == 0);
	CHECK(NAME("x..") == 0);
	CHECK(NAME("models") == 0); /* reserved only at the root: a separate check */
	CHECK(NAME("naïve-ü") == 0);
	CHECK(NAME("~\\:*?\"<>|") == 0);

	CHECK(NAME("") == -EINVAL);
	CHECK(NAME(".") == -EINVAL);
	CHECK(NAME("..") == -EINVAL);
	CHECK(NAME(".hidden") == -EINVAL);
	CHECK(NAME("a/b") == -EINVAL);
	CHECK(NAME("/") == -EINVAL);
	CHECK(NAME("a/") == -EINVAL);
	CHECK(check_with(mlfs_name_check, "a\0b", 3) == -EINVAL);
	CHECK(check_with(mlfs_name_check, "ab\0", 3) == -EINVAL);
	CHECK(mlfs_name_check(NULL, 0) == -EINVAL);

	/* The length counts bytes, and stops at len. */
	memset(buf, 'n', sizeof(buf));
	CHECK(check_with(mlfs_name_check, buf, 1) == 0);
	CHECK(check_with(mlfs_name_check, buf, 255) == 0);
	CHECK(check_with(mlfs_name_check, buf, 256) == -ENAMETOOLONG);
	CHECK(check_with(mlfs_name_check, buf, 300) == -ENAMETOOLONG);
	CHECK(mlfs_name_check("ab/", 2) == 0);
}

static void test_key_parts(void)
{
	char buf[300];

	CHECK(PART("loss") == 0);
	CHECK(PART("val_acc-1.5:top k") == 0);
	CHECK(PART("ABCxyz0189") == 0);
	CHECK(PART("...") == 0);
	CHECK(PART(".x") == 0);
	CHECK(PART(" ") == 0);

	CHECK(PART("") == -EINVAL);
	CHECK(PART(".") == -EINVAL);
	CHECK(PART("..") == -EINVAL);
	CHECK(PART("a/b") == -EINVAL);
	CHECK(PART("a\tb") == -EINVAL);
	CHECK(PART("a\nb") == -EINVAL);
	CHECK(PART("loss!") == -EINVAL);
	CHECK(PART("a@b") == -EINVAL);
	CHECK(PART("naïve") == -EINVAL);
	CHECK(PART("a\\b") == -EINVAL);
	CHECK(PART("a,b") == -EINVAL);
	CHECK(PART("a=b") == -EINVAL);
	CHECK(check_with(mlfs_key_part_check, "a\0", 2) == -EINVAL);

	memset(buf, 'k', sizeof(buf));
	CHECK(check_with(mlfs_key_part_check, buf, 250) == 0);
	CHECK(check_with(mlfs_key_part_check, buf, 251) == -ENAMETOOLONG);
}

static void test_keys(void)
{
	char buf[300];
	int c;

	CHECK(KEY("loss") == 0);
	CHECK(KEY("train/loss") == 0);
	CHECK(KEY("a/b/c/d") == 0);
	CHECK(KEY("eval: acc") == 0);
	CHECK(KEY("x/.../y") == 0);
	CHECK(KEY("x/.y") == 0);

	CHECK(KEY("") == -EINVAL);
	CHECK(KEY("/") == -EINVAL);
	CHECK(KEY("/loss") == -EINVAL);
	CHECK(KEY("loss/") == -EINVAL);
	CHECK(KEY("a//b") == -EINVAL);
	CHECK(KEY("./a") == -EINVAL);
	CHECK(KEY("a/.") == -EINVAL);
	CHECK(KEY("a/../b") == -EINVAL);
	CHECK(KEY("..") == -EINVAL);
	CHECK(KEY("a/b!") == -EINVAL);
	CHECK(check_with(mlfs_key_check, "a/\0", 3) == -EINVAL);

	/* 250 bytes in all, slashes counted. */
	memset(buf, 'k', sizeof(buf));
	for (c = 10; c < 250; c += 11)
		buf[c] = '/';
	CHECK(check_with(mlfs_key_check, buf, 250) == 0);
	CHECK(check_with(mlfs_key_check, buf, 251) == -ENAMETOOLONG);
	memset(buf, 'k', sizeof(buf));
	CHECK(check_with(mlfs_key_check, buf, 250) == 0);
	CHECK(check_with(mlfs_key_check, buf, 251) == -ENAMETOOLONG);
	CHECK(check_with(mlfs_key_check, buf, 300) == -ENAMETOOLONG);
	/* Over length wins over a bad character, as for names. */
	buf[0] = '!';
	CHECK(check_with(mlfs_key_check, buf, 251) == -ENAMETOOLONG);
	CHECK(check_with(mlfs_key_check, buf, 250) == -EINVAL);

	/* Every byte: only the MLflow set passes. */
	for (c = 1; c < 256; c++) {
		char s[3] = {'a', (char)c, 'b'};
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			 (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.' || c == ' ' ||
			 c == ':' || c == '/';

		CHECK(check_with(mlfs_key_check, s, 3) == (ok ? 0 : -EINVAL));
		CHECK(check_with(mlfs_key_part_check, s, 3) == (ok && c != '/' ? 0 : -EINVAL));
	}
}

static void test_values(void)
{
	static const struct {
		enum mlfs_value_kind kind;
		size_t max;
	} kinds[] = {
	    {MLFS_VALUE_PARAM, 6000},
	    {MLFS_VALUE_TAG, 8000},
	    {MLFS_VALUE_EXP_TAG, 5000},
	};
	char *buf = malloc(9000);
	size_t i;

	REQUIRE(buf);
	memset(buf, 'v', 9000);
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		CHECK(mlfs_value_check(kinds[i].kind, buf, 0) == 0);
		CHECK(mlfs_value_check(kinds[i].kind, "0.01", 4) == 0);
		CHECK(mlfs_value_check(kinds[i].kind, "a b\n\t\xff/.", 8) == 0);
		CHECK(mlfs_value_check(kinds[i].kind, buf, kinds[i].max) == 0);
		CHECK(mlfs_value_check(kinds[i].kind, buf, kinds[i].max + 1) == -EINVAL);
		CHECK(mlfs_value_check(kinds[i].kind, "a\0b", 3) == -EINVAL);
		buf[kinds[i].max - 1] = '\0';
		CHECK(mlfs_value_check(kinds[i].kind, buf, kinds[i].max) == -EINVAL);
		buf[kinds[i].max - 1] = 'v';
	}
	CHECK(mlfs_value_check((enum mlfs_value_kind)99, "x", 1) == -EINVAL);
	free(buf);
}

#define ROOT(s) mlfs_name_reserved_root(s, strlen(s))
#define EXP(s) mlfs_name_reserved_exp(s, strlen(s))

static void test_reserved(void)
{
	static const char *const root[] = {"models", "index.html", ".",	    "..",
					   ".mlfs",  ".trash",	   ".runs", ".x"};
	static const char *const exp[] = {"meta", "tags", "index.html", "runs.csv", "plots"};
	static const char *const neither[] = {
	    "model",   "models2", "Models", "index.htm", "meta.", "tag",   "tags ",	 "runs",
	    "run.csv", "plot",	  "PLOTS",  "x.mlfs",	 "exp1",  "metas", "index.html~"};
	size_t i;

	for (i = 0; i < sizeof(root) / sizeof(root[0]); i++)
		CHECK(ROOT(root[i]));
	for (i = 0; i < sizeof(exp) / sizeof(exp[0]); i++) {
		CHECK(EXP(exp[i]));
		/* The experiment's words are free at the root, but for index.html. */
		CHECK(ROOT(exp[i]) == (strcmp(exp[i], "index.html") == 0));
	}
	for (i = 0; i < sizeof(neither) / sizeof(neither[0]); i++) {
		CHECK(!ROOT(neither[i]));
		CHECK(!EXP(neither[i]));
	}
	CHECK(!EXP("models"));
	CHECK(!EXP(".hidden"));
	CHECK(!ROOT(""));
	CHECK(!EXP(""));
	/* Only len bytes count. */
	CHECK(mlfs_name_reserved_root("modelsX", 6));
	CHECK(!mlfs_name_reserved_root("models", 5));
	CHECK(mlfs_name_reserved_exp("tags/x", 4));
	CHECK(!mlfs_name_reserved_exp("meta", 3));
}

static void test_status(void)
{
	static const char *const words[] = {"RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"};
	static const char *const bad[] = {
	    "",		 "\n",		 "running", "Finished",	 "FINISHED\n\n", "FINISHED ",
	    " FINISHED", "FINISHED\r\n", "FINISH",  "FINISHEDD", "DONE",	 "UNKNOWN",
	    "KILLED\t",	 "\nKILLED",	 "FAIL",    "RUNNINGX"};
	enum mlfs_status s;
	char line[32];
	size_t i;

	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		s = 0;
		CHECK(mlfs_status_parse(words[i], strlen(words[i]), &s) == 0);
		CHECK((int)s == (int)i + 1);
		CHECK(strcmp(mlfs_status_name(s), words[i]) == 0);
		snprintf(line, sizeof(line), "%s\n", words[i]);
		s = 0;
		CHECK(mlfs_status_parse(line, strlen(line), &s) == 0);
		CHECK((int)s == (int)i + 1);
		/* Only len bytes count. */
		CHECK(mlfs_status_parse(line, strlen(words[i]) - 1, &s) == -EINVAL);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		s = MLFS_KILLED;
		CHECK(mlfs_status_parse(bad[i], strlen(bad[i]), &s) == -EINVAL);
		CHECK(s == MLFS_KILLED);
	}
	CHECK(mlfs_status_parse("FINISHED\0", 9, &s) == -EINVAL);
	CHECK(mlfs_status_parse(NULL, 0, &s) == -EINVAL);

	CHECK(strcmp(mlfs_status_name(0), "UNKNOWN") == 0);
	CHECK(strcmp(mlfs_status_name(6), "UNKNOWN") == 0);
	CHECK(strcmp(mlfs_status_name(-1), "UNKNOWN") == 0);
	CHECK(strcmp(mlfs_status_name(1000), "UNKNOWN") == 0);

	CHECK(!mlfs_status_terminal(MLFS_RUNNING));
	CHECK(!mlfs_status_terminal(MLFS_SCHEDULED));
	CHECK(mlfs_status_terminal(MLFS_FINISHED));
	CHECK(mlfs_status_terminal(MLFS_FAILED));
	CHECK(mlfs_status_terminal(MLFS_KILLED));
	CHECK(!mlfs_status_terminal(0));
	CHECK(!mlfs_status_terminal(6));
}

int main(void)
{
	T_RUN(test_names);
	T_RUN(test_key_parts);
	T_RUN(test_keys);
	T_RUN(test_values);
	T_RUN(test_reserved);
	T_RUN(test_status);
	return T_DONE();
}
