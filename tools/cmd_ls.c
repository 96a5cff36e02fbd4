/* cmd_ls.c - mlfs ls STORE [EXPERIMENT] */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "builtin.h"
#include "err.h"
#include "metric.h"
#include "names.h"
#include "store.h"
#include "tree.h"

static const char usage[] =
	"usage: mlfs ls STORE [EXPERIMENT]\n\n"
	"Without EXPERIMENT, list the experiments.  With it, list its runs as a\n"
	"table: name, status, start time, then one column per param and one per\n"
	"metric (its latest value), as MLflow's run search shows them.  Reads the\n"
	"store directly; works with or without a mount.\n";

#define CELL_MAX 32

/* A table of strings that grows; column widths are measured when printed. */
struct table {
	char **cells; /* rows * cols, NULL for an empty cell */
	size_t rows, cols, cap_rows;
	char **head;  /* cols */
	size_t cap_cols;
};

static int table_col(struct table *t, const char *name, size_t len)
{
	for (size_t c = 0; c < t->cols; c++)
		if (strlen(t->head[c]) == len && !memcmp(t->head[c], name, len))
			return (int)c;
	if (t->cols == t->cap_cols) {
		size_t nc = t->cap_cols ? t->cap_cols * 2 : 16;
		char **nh = realloc(t->head, nc * sizeof(*nh));
		char **ncells;

		if (!nh)
			return -ENOMEM;
		t->head = nh;
		ncells = calloc(t->cap_rows * nc, sizeof(*ncells));
		if (!ncells && t->cap_rows)
			return -ENOMEM;
		for (size_t r = 0; r < t->rows; r++)
			for (size_t c = 0; c < t->cols; c++)
				ncells[r * nc + c] = t->cells[r * t->cap_cols + c];
		free(t->cells);
		t->cells = ncells;
		t->cap_cols = nc;
	}
	t->head[t->cols] = strndup(name, len);
	return (int)t->cols++;
}

/* A new empty row; call after the first table_col(), which sizes the rows. */
static int table_row(struct table *t)
{
	if (t->rows == t->cap_rows) {
		size_t nr = t->cap_rows ? t->cap_rows * 2 : 64;
		char **nc = realloc(t->cells, nr * t->cap_cols * sizeof(*nc));

		if (!nc)
			return -ENOMEM;
		memset(nc + t->cap_rows * t->cap_cols, 0,
		       (nr - t->cap_rows) * t->cap_cols * sizeof(*nc));
		t->cells = nc;
		t->cap_rows = nr;
	}
	return (int)t->rows++;
}

static void table_set(struct table *t, size_t row, int col, const char *text, size_t len)
{
	if (col < 0)
		return;
	free(t->cells[row * t->cap_cols + col]);
	t->cells[row * t->cap_cols + col] = strndup(text, len);
}

static void table_print(struct table *t)
{
	size_t *w = calloc(t->cols ? t->cols : 1, sizeof(*w));

	for (size_t c = 0; c < t->cols; c++) {
		w[c] = strlen(t->head[c]);
		for (size_t r = 0; r < t->rows; r++) {
			const char *s = t->cells[r * t->cap_cols + c];
			size_t n = s ? strlen(s) : 1;

			if (n > w[c])
				w[c] = n;
		}
		if (w[c] > CELL_MAX)
			w[c] = CELL_MAX;
	}
	for (size_t r = 0; r <= t->rows; r++) {
		for (size_t c = 0; c < t->cols; c++) {
			const char *s = r == 0 ? t->head[c] : t->cells[(r - 1) * t->cap_cols + c];

			if (!s)
				s = "-";
			printf("%s%-*.*s", c ? "  " : "", c + 1 == t->cols ? 0 : (int)w[c], (int)w[c],
			       s);
		}
		printf("\n");
	}
	free(w);
}

static void table_free(struct table *t)
{
	for (size_t i = 0; i < t->rows * t->cap_cols; i++)
		free(t->cells[i]);
	for (size_t c = 0; c < t->cols; c++)
		free(t->head[c]);
	free(t->cells);
	free(t->head);
}

struct ls_ctx {
	struct mlfs_store *s;
	MDB_txn *txn;
	struct table t;
	size_t row;
	char prefix;
	int fixed; /* columns before the params */
};

static int put_key(void *c, const char *key, size_t len, uint64_t ino)
{
	struct ls_ctx *x = c;
	struct mlfs_inode in;
	const char *payload;
	char name[300], val[32];
	int col, r;

	r = mlfs_ino_get(x->txn, x->s->idx, ino, &in, &payload);
	if (r)
		return r == -ENOENT ? 0 : r;
	snprintf(name, sizeof(name), "%s.%.*s", x->prefix == 'p' ? "params" : "metrics", (int)len,
		 key);
	col = table_col(&x->t, name, strlen(name));
	if (col < 0)
		return col;
	if (in.kind == MLFS_K_PARAM && (in.flags & MLFS_IF_VALUE_SET))
		table_set(&x->t, x->row, col, payload, in.payload_len);
	else if (in.kind == MLFS_K_METRIC && in.u.metric.npoints) {
		int n = mlfs_value_format(in.u.metric.last_value, val);

		table_set(&x->t, x->row, col, val, n);
	}
	return 0;
}

static int put_run(void *c, uint64_t ino, const char *name, size_t len)
{
	struct ls_ctx *x = c;
	struct mlfs_inode run;
	char when[32];
	struct tm tm;
	time_t secs;
	int r, row;

	r = mlfs_ino_get(x->txn, x->s->idx, ino, &run, NULL);
	if (r)
		return r;
	if (run.kind != MLFS_K_RUN || run.deleted_ms)
		return 0; /* what is in .trash is not listed, as MLflow's search shows active runs */
	row = table_row(&x->t);
	if (row < 0)
		return row;
	x->row = row;
	table_set(&x->t, row, 0, name, len);
	table_set(&x->t, row, 1, mlfs_status_name(run.u.run.status),
		  strlen(mlfs_status_name(run.u.run.status)));
	secs = run.u.run.start_ms / 1000;
	gmtime_r(&secs, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	table_set(&x->t, row, 2, when, strlen(when));
	x->prefix = 'p';
	r = mlfs_rkey_walk(x->txn, x->s->idx, ino, MLFS_SEC_PARAM, put_key, x);
	if (r)
		return r;
	x->prefix = 'm';
	return mlfs_rkey_walk(x->txn, x->s->idx, ino, MLFS_SEC_METRIC, put_key, x);
}

static int put_exp(void *c, uint64_t ino, const char *name, size_t len)
{
	struct ls_ctx *x = c;
	struct mlfs_inode exp;
	char id[32];
	int r, row;

	r = mlfs_ino_get(x->txn, x->s->idx, ino, &exp, NULL);
	if (r || exp.kind != MLFS_K_EXP || exp.deleted_ms)
		return r;
	row = table_row(&x->t);
	if (row < 0)
		return row;
	snprintf(id, sizeof(id), "%" PRIu64, exp.u.exp.id);
	table_set(&x->t, row, 0, id, strlen(id));
	table_set(&x->t, row, 1, name, len);
	return 0;
}

/* Columns after the fixed ones: params, then metrics, each by name (as MLflow shows them). */
static int cmp_str(const void *a, const void *b)
{
	const char *x = *(char *const *)a, *y = *(char *const *)b;
	int px = x[0] == 'p', py = y[0] == 'p';

	if (px != py)
		return py - px;
	return strcmp(x, y);
}

static void sort_columns(struct table *t, size_t fixed)
{
	size_t n = t->cols - fixed, *order = malloc(n * sizeof(*order) + 1);
	char **names = malloc(n * sizeof(*names) + 1), **cells;

	for (size_t i = 0; i < n; i++)
		names[i] = t->head[fixed + i];
	qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++)
			if (t->head[fixed + j] == names[i])
				order[i] = j;
	cells = malloc(t->cap_cols * sizeof(*cells) + 1);
	for (size_t r = 0; r < t->rows; r++) {
		char **row = t->cells + r * t->cap_cols;

		for (size_t i = 0; i < n; i++)
			cells[i] = row[fixed + order[i]];
		memcpy(row + fixed, cells, n * sizeof(*cells));
	}
	memcpy(t->head + fixed, names, n * sizeof(*names));
	free(cells);
	free(names);
	free(order);
}

int cmd_ls(int argc, char **argv)
{
	struct ls_ctx x = { 0 };
	struct mlfs_inode exp;
	int r;

	if (wants_help(argc, argv, usage))
		return 0;
	if (argc != 2 && argc != 3)
		return usage_error(usage);
	if (open_store(argv[1], MLFS_STORE_RDONLY, &x.s))
		return 1;
	r = mlfs_txn_begin(x.s->idx, false, &x.txn);
	if (r)
		goto out;
	if (argc == 2) {
		table_col(&x.t, "id", 2);
		table_col(&x.t, "experiment", 10);
		r = mlfs_dir_walk(x.txn, x.s->idx, MLFS_ROOT_INO, 0, put_exp, &x);
	} else {
		r = mlfs_resolve(x.s, x.txn, argv[2], &exp);
		if (r == 0 && (exp.kind != MLFS_K_EXP || strchr(argv[2], '/')))
			r = -ENOTDIR;
		if (r == 0) {
			table_col(&x.t, "run", 3);
			table_col(&x.t, "status", 6);
			table_col(&x.t, "start", 5);
			r = mlfs_dir_walk(x.txn, x.s->idx, exp.ino, 0, put_run, &x);
			if (r == 0)
				sort_columns(&x.t, 3);
		}
	}
	mlfs_txn_abort(x.txn);
	if (r == 0)
		table_print(&x.t);
out:
	table_free(&x.t);
	mlfs_store_free(x.s);
	if (r) {
		fprintf(stderr, "mlfs: cannot list '%s': %s\n", argc == 3 ? argv[2] : argv[1],
			r == -ENOENT ? "no such experiment" : mlfs_strerror(r));
		return 1;
	}
	return 0;
}
