/*
 * grow.h - room for one more element at the end of a growing array.
 *
 * An array is a pointer, a count n of elements in use and a capacity cap,
 * all the caller's.  Before storing element n, call
 *
 *     r = mlfs_grow(&v, &cap, n, sizeof(*v));
 *
 * which, when n == cap, reallocates v to twice its capacity (16 elements
 * the first time).  On failure (-ENOMEM) v and cap are as they were, so the
 * caller still owns, and frees, the old array.
 */
#ifndef MLFS_GROW_H
#define MLFS_GROW_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* pv points at the array's pointer (of any element type). 0 or -ENOMEM. */
static inline int mlfs_grow(void *pv, size_t *cap, size_t n, size_t size)
{
	void *v, *nv;
	size_t nc;

	if (n < *cap)
		return 0;
	nc = *cap ? *cap * 2 : 16;
	memcpy(&v, pv, sizeof(v));
	nv = realloc(v, nc * size);
	if (!nv)
		return -ENOMEM;
	memcpy(pv, &nv, sizeof(nv));
	*cap = nc;
	return 0;
}

#endif
