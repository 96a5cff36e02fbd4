/* value.c - see value.h. */
#include "value.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "names.h"
#include "registry.h"

bool mlfs_kind_is_value(int kind)
{
	switch (kind) {
	case MLFS_K_PARAM:
	case MLFS_K_TAG:
	case MLFS_K_XTAG:
	case MLFS_K_STATUS:
	case MLFS_K_RUN_META:
	case MLFS_K_EXP_META:
	case MLFS_K_SOURCE:
	case MLFS_K_STAGE:
		return true;
	}
	return false;
}

static int render_run_meta(struct mlfs_store *s, MDB_txn *txn, uint64_t run_ino, char *buf,
			   size_t cap)
{
	struct mlfs_inode run, exp;
	const char *user, *name, *ename;
	size_t nlen, elen;
	char id[33], end[32];
	int r;

	if ((r = mlfs_ino_get(txn, s->idx, run_ino, &run, &user)) ||
	    (r = mlfs_ino_get(txn, s->idx, run.parent, &exp, NULL)) ||
	    (r = mlfs_child_name(txn, s->idx, run.parent, run.ino, &name, &nlen)) ||
	    (r = mlfs_child_name(txn, s->idx, exp.parent, exp.ino, &ename, &elen)))
		return r;
	for (int i = 0; i < 16; i++)
		snprintf(id + 2 * i, 3, "%02x", run.u.run.id[i]);
	if (run.u.run.end_ms)
		snprintf(end, sizeof(end), "%" PRId64, run.u.run.end_ms);
	else
		snprintf(end, sizeof(end), "null");
	r = snprintf(buf, cap,
		     "run_id: %s\n"
		     "run_name: %.*s\n"
		     "experiment_id: %" PRIu64 "\n"
		     "experiment_name: %.*s\n"
		     "user_id: %.*s\n"
		     "status: %s\n"
		     "start_time: %" PRId64 "\n"
		     "end_time: %s\n"
		     "lifecycle_stage: active\n",
		     id, (int)nlen, name, exp.u.exp.id, (int)elen, ename, (int)run.payload_len,
		     user, mlfs_status_name(run.u.run.status), run.u.run.start_ms, end);
	return r < (int)cap ? r : -ENOBUFS;
}

static int render_exp_meta(struct mlfs_store *s, MDB_txn *txn, uint64_t exp_ino, char *buf,
			   size_t cap)
{
	struct mlfs_inode exp;
	const char *name;
	size_t nlen;
	int r;

	if ((r = mlfs_ino_get(txn, s->idx, exp_ino, &exp, NULL)) ||
	    (r = mlfs_child_name(txn, s->idx, exp.parent, exp.ino, &name, &nlen)))
		return r;
	r = snprintf(buf, cap,
		     "experiment_id: %" PRIu64 "\n"
		     "name: %.*s\n"
		     "creation_time: %" PRId64 "\n"
		     "lifecycle_stage: active\n",
		     exp.u.exp.id, (int)nlen, name, exp.u.exp.created_ms);
	return r < (int)cap ? r : -ENOBUFS;
}

int mlfs_render(struct mlfs_store *s, MDB_txn *txn, const struct mlfs_inode *in,
		const char *payload, char *buf, size_t cap)
{
	struct mlfs_inode run;
	int r;

	switch (in->kind) {
	case MLFS_K_STAGE:
		r = mlfs_ino_get(txn, s->idx, in->parent, &run, NULL); /* the version */
		if (r)
			return r;
		r = snprintf(buf, cap, "%s\n", mlfs_stage_name(run.u.version.stage));
		return r < (int)cap ? r : -ENOBUFS;
	case MLFS_K_SOURCE:
	case MLFS_K_PARAM:
		if (!(in->flags & MLFS_IF_VALUE_SET))
			return 0;
		/* fall through */
	case MLFS_K_TAG:
	case MLFS_K_XTAG:
		if ((size_t)in->payload_len + 1 > cap)
			return -ENOBUFS;
		if (in->payload_len)
			memcpy(buf, payload, in->payload_len);
		buf[in->payload_len] = '\n';
		return in->payload_len + 1;
	case MLFS_K_STATUS:
		r = mlfs_ino_get(txn, s->idx, in->parent, &run, NULL);
		if (r)
			return r;
		r = snprintf(buf, cap, "%s\n", mlfs_status_name(run.u.run.status));
		return r < (int)cap ? r : -ENOBUFS;
	case MLFS_K_RUN_META:
		return render_run_meta(s, txn, in->parent, buf, cap);
	case MLFS_K_EXP_META:
		return render_exp_meta(s, txn, in->parent, buf, cap);
	}
	return -EINVAL;
}

static int write_status(MDB_txn *txn, struct mlfs_store *s, struct mlfs_op *op,
			const struct mlfs_inode *in, const char *v, size_t len)
{
	struct mlfs_inode run;
	enum mlfs_status st;
	int r;

	if (mlfs_status_parse(v, len, &st))
		return mlfs_refuse(op, -EINVAL,
				   "'%.*s' is not a run status (RUNNING, SCHEDULED, FINISHED, "
				   "FAILED or KILLED)",
				   (int)(len > 64 ? 64 : len), v);
	r = mlfs_ino_get(txn, s->idx, in->parent, &run, NULL);
	if (r)
		return r;
	run.u.run.status = st;
	run.u.run.end_ms = mlfs_status_terminal(st) ? op->now_ns / 1000000 : 0;
	run.mtime_ns = run.ctime_ns = op->now_ns;
	return mlfs_ino_update(txn, s->idx, &run);
}

int mlfs_value_write(struct mlfs_store *s, struct mlfs_op *op, uint64_t ino, const char *content,
		     size_t len, bool replace_own)
{
	struct mlfs_inode in;
	const char *payload;
	MDB_txn *txn;
	size_t vlen = len;
	bool newly_set = false;
	int r;

	if (vlen && content[vlen - 1] == '\n')
		vlen--;
	r = mlfs_txn_begin(s->idx, true, &txn);
	if (r)
		return r;
	r = mlfs_ino_get(txn, s->idx, ino, &in, &payload);
	if (r)
		goto fail;
	switch (in.kind) {
	case MLFS_K_PARAM:
		if (mlfs_value_check(MLFS_VALUE_PARAM, content, vlen)) {
			r = mlfs_refuse(op, -EINVAL, "param value is %zu bytes; the limit is %d",
					vlen, MLFS_PARAM_VALUE_MAX);
			goto fail;
		}
		if ((in.flags & MLFS_IF_VALUE_SET) && !replace_own) {
			if (vlen == in.payload_len && !memcmp(content, payload, vlen)) {
				mlfs_txn_abort(txn); /* the same value again */
				return 0;
			}
			r = mlfs_refuse(op, -EPERM, "param is fixed at %.*s; refused %.*s",
					(int)(in.payload_len > 200 ? 200 : in.payload_len), payload,
					(int)(vlen > 200 ? 200 : vlen), content);
			goto fail;
		}
		in.flags |= MLFS_IF_VALUE_SET;
		newly_set = true;
		break;
	case MLFS_K_TAG:
	case MLFS_K_XTAG:
		if (mlfs_value_check(in.kind == MLFS_K_TAG ? MLFS_VALUE_TAG : MLFS_VALUE_EXP_TAG,
				     content, vlen)) {
			r = mlfs_refuse(op, -EINVAL, "tag value is %zu bytes; the limit is %d", vlen,
					in.kind == MLFS_K_TAG ? MLFS_TAG_VALUE_MAX
							      : MLFS_EXP_TAG_VALUE_MAX);
			goto fail;
		}
		in.flags |= MLFS_IF_VALUE_SET;
		break;
	case MLFS_K_STATUS:
		r = write_status(txn, s, op, &in, content, vlen);
		if (r)
			goto fail;
		in.mtime_ns = in.ctime_ns = op->now_ns;
		r = mlfs_ino_update(txn, s->idx, &in);
		if (r)
			goto fail;
		return mlfs_store_commit(s, txn);
	case MLFS_K_STAGE:
		r = mlfs_reg_write_stage(txn, s, op, &in, content, len);
		if (r)
			goto fail;
		return mlfs_store_commit(s, txn);
	case MLFS_K_SOURCE:
		r = mlfs_reg_write_source(txn, s, op, &in, payload, content, len);
		if (r)
			goto fail;
		return mlfs_store_commit(s, txn);
	default:
		r = mlfs_refuse(op, -EACCES, "meta is read-only");
		goto fail;
	}
	in.mtime_ns = in.ctime_ns = op->now_ns;
	r = mlfs_ino_put(txn, s->idx, &in, content, vlen);
	if (r)
		goto fail;
	r = mlfs_store_commit(s, txn);
	return r ? r : newly_set;
fail:
	mlfs_txn_abort(txn);
	return r;
}
