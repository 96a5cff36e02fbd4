/*
 * cdc.h - content-defined chunking.
 *
 * Cuts a byte stream into chunks whose boundaries depend only on the bytes
 * near them (a gear rolling hash, FastCDC's normalized chunking), so that an
 * edit in the middle of a large file changes only the chunks around the edit
 * and every other chunk keeps its hash, and so its place in the chunk store.
 *
 * The caller owns the bytes; the chunker keeps only a little state (the hash
 * and the length of the chunk in progress), so a stream can be fed in pieces
 * of any size:
 *
 *     struct mlfs_cdc c = MLFS_CDC_INIT;
 *     while (have bytes) {
 *             size_t n = mlfs_cdc_next(&c, p, len, &cut);
 *             append p[0..n) to the current chunk;
 *             if (cut) emit the current chunk;  (the state is reset)
 *             p += n; len -= n;
 *     }
 *     emit what is left as the last chunk
 *
 * Guarantees: every chunk but the last is MLFS_CDC_MIN..MLFS_CDC_MAX bytes;
 * the cuts are a pure function of the bytes (the same for any way of feeding
 * them); chunks average about MLFS_CDC_AVG bytes on random data.
 */
#ifndef MLFS_CDC_H
#define MLFS_CDC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MLFS_CDC_MIN (64u * 1024)
#define MLFS_CDC_AVG (256u * 1024)
#define MLFS_CDC_MAX (1024u * 1024)

struct mlfs_cdc {
	uint64_t hash; /* gear hash of the bytes seen in this chunk */
	size_t len;    /* bytes of the current chunk seen so far */
};

#define MLFS_CDC_INIT ((struct mlfs_cdc){ 0, 0 })

/*
 * Scan buf[0..len).  Returns how many of its bytes belong to the current
 * chunk; sets *ret_cut when the chunk ends after them (and resets the state
 * for the next chunk).  Never fails.
 */
size_t mlfs_cdc_next(struct mlfs_cdc *c, const uint8_t *buf, size_t len, bool *ret_cut);

#endif
