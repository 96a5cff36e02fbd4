/*
 * cdc.c - see cdc.h.
 *
 * The gear hash: for each byte b, hash = (hash << 1) + gear[b].  A byte's
 * contribution is shifted out after 64 more bytes, so the hash is a function
 * of the last 64 bytes only, and its top bits depend on all of them (the
 * low bits see fewer: bit k sees only the last k + 1 bytes).  A chunk ends
 * where the top bits of the hash are all zero.
 *
 * Normalized chunking (FastCDC): no cut in the first MLFS_CDC_MIN bytes (they
 * are not even hashed), then a strict condition (MASK_S, 20 zero bits) up to
 * MLFS_CDC_AVG bytes and a loose one (MASK_L, 15 zero bits) after it, and a
 * forced cut at MLFS_CDC_MAX.  That pulls chunk sizes towards the average:
 * on random data the mean is about 266 KiB (64 KiB skipped, about one chunk
 * in six cut between 64 and 256 KiB, the rest about 32 KiB after 256 KiB),
 * and a forced cut at MLFS_CDC_MAX has odds of about 3e-11.  MASK_L's bits
 * are a subset of MASK_S's, so a strict cut point is also a loose one.
 *
 * On-disk format: the cut points decide every chunk's bytes and so its name
 * in the chunk store, and dedup across versions of mlfs depends on them
 * staying put.  The gear table, the masks and the three sizes are therefore
 * frozen; tests/unit/test_cdc.c pins the cuts of a fixed stream.
 */
#include "cdc.h"

#define MASK_S (~0ull << (64 - 20))
#define MASK_L (~0ull << (64 - 15))

_Static_assert((MASK_L & MASK_S) == MASK_L, "a strict cut point must also be a loose one");
_Static_assert(MLFS_CDC_MIN < MLFS_CDC_AVG && MLFS_CDC_AVG < MLFS_CDC_MAX, "chunk sizes");

/*
 * gear[i] is the (i + 1)-th output of splitmix64 (Vigna's reference
 * constants) seeded with 0x6d6c66732d636463, "mlfs-cdc" in ASCII.  Written
 * out rather than computed so that no compiler or start-up order can change
 * it.
 */
static const uint64_t gear[256] = {
    0x12f4d63d86075033ull, 0x6daf2a9645232282ull, 0xedcf246f99bf91cdull, 0x2767a986c5528f7eull,
    0x072d6af06138f294ull, 0x5e2b16ce0024e994ull, 0x245a860cd08ced3dull, 0x25023f26549fc309ull,
    0x04c9a7662c3a510eull, 0x1da64ae6ad4c802cull, 0x4d7e4ab4cda180abull, 0xb1862e3492f11b10ull,
    0xeb3fd9469081cf8aull, 0x757515b8608c81b7ull, 0x775911c6b915830bull, 0x7ec1f50235b4d7c1ull,
    0xeb80c23d4ac0f190ull, 0xbf92ed91e06e1cd5ull, 0xbc25cb4987496a87ull, 0xbf22eead032224e2ull,
    0x7a33c49c208b4830ull, 0xe1e5719c0904a547ull, 0xd2cb2a9c4a4cec73ull, 0x0f7bd4bbc4fd72bbull,
    0x080d62bdc63939cbull, 0x938b3ec504bb7c26ull, 0x2733108641717b65ull, 0xcfc034f2e78a9c07ull,
    0x6b090fd334059645ull, 0xe115996d0e10b90aull, 0x752a3a22b482693cull, 0x5049ce476091b5d2ull,
    0xf0a79fed5d531a0bull, 0x508741045306acdeull, 0x5a8020f895a68769ull, 0x33299439257cb8b2ull,
    0xf7ca3223f8f9dfedull, 0x9518d876a537549full, 0x584a15fef398c468ull, 0x32478a31cc3a7c09ull,
    0x05b6ea2079eff8e2ull, 0x4a43ef1ca465ce6full, 0x2ec24c84b1ac6741ull, 0x6c45804232400cbaull,
    0xfecfd946ca765877ull, 0x2ab073cad731d31dull, 0x855d0f26c965f38full, 0xf0f105974300ef3eull,
    0x1177513219df6992ull, 0x9cbbd2fb83ddc81cull, 0xb7b152954d083d6eull, 0xd7b3829d02009812ull,
    0x168e1a650bfe987cull, 0x179afee8df700d44ull, 0x062b04bc1bc40e6eull, 0x0da27116fd8bdf5eull,
    0xf928b5e1aa89babbull, 0xdf16f2154715e0caull, 0x38f5e4252a7a20e3ull, 0xd268de6957971295ull,
    0x63964c82647eb435ull, 0xc234caa7c195560eull, 0xe5c288a30bf0e3bfull, 0xdf570840b6ea6dbbull,
    0x183dd94d6f28ec93ull, 0xc7dc1899430c229dull, 0xedb2cd3cf5a7180dull, 0x7cd19e1759e2b175ull,
    0x1215f46b63cc27f7ull, 0x767822fdd672aaa2ull, 0xecae67787c812664ull, 0x0157f866ae8e7dbaull,
    0x2bcd7bf63ce2b113ull, 0xde6be9a5e6b830e0ull, 0x6c0ba6ffdea8b2c0ull, 0xeb1392d437347006ull,
    0xb9abfde3d945f057ull, 0x0455c179373eed07ull, 0xdd55ee89c475b658ull, 0x796f21c874c7415eull,
    0x6ec7370cf0e67deaull, 0xc3fdb8e859a0b604ull, 0xaa72138b12eac462ull, 0x6731993a759c4101ull,
    0xc37869872969824eull, 0xbd51e3fcbf045656ull, 0xe9767ebd6f4e0615ull, 0x7c656bad700f9c82ull,
    0x639b53051816c107ull, 0x7d6dbbb723fe168dull, 0xb6b0bde862f9a2baull, 0x886a93f78a626d7eull,
    0xdfad5735debd5335ull, 0xc51d5debe6a0593cull, 0xeae51d1640a19219ull, 0x74de1da33df46765ull,
    0x671629b22447663aull, 0x0d56b7588a4ac9deull, 0x3843b6d4b0d76ed4ull, 0xe90c0e71d1e2222eull,
    0xc9433beb6aa37876ull, 0x7b91529457a7e402ull, 0x28ca85f6bdbfb7ccull, 0x71143e4acdaa051eull,
    0x61654bbdb04be3e1ull, 0x5fafa03a79c596c5ull, 0x2cf07b2aefbc8a9cull, 0x0b767f40d15a7c4dull,
    0xc2e0180c76660a19ull, 0x46608d1d25fce8b3ull, 0x1bcfce894548fe8bull, 0x095914569b29736bull,
    0xdc604ed6d3913812ull, 0x8382c47f5c6b148aull, 0x01f9bcdf01166e4aull, 0x1c3789d94ddb4cf1ull,
    0x3911990fbd25c698ull, 0xdc436b08030c5147ull, 0xa2c4f89e3069b39aull, 0x26801f07617a4618ull,
    0x77471268ce54199cull, 0x3f784b0b3d7a4bafull, 0x7345896326814ff1ull, 0x8c22a07677e46af3ull,
    0x5fcd42a99ba9235bull, 0x813442c9223fbeb3ull, 0x5d4bf8c588a9db20ull, 0xd1419fdfa9666ab4ull,
    0x1a8099fd10424b58ull, 0x982670e67d00b4a5ull, 0x2d8bae4bfb10edc2ull, 0x2bfce070ff6d59b3ull,
    0x2725bb27705a8200ull, 0x0974115a57d4899dull, 0x6b2034011d1cc805ull, 0xe2708c9ac616d157ull,
    0xbc543a6a3e427c95ull, 0xd82cd669539281e8ull, 0x57b56c36e0865a76ull, 0x6c0a2bc324bd644cull,
    0x487044e19567a2f2ull, 0x186c8267732203e7ull, 0x60d42da58fb51ffaull, 0xf0d7085f339257b3ull,
    0x906950c110e0761cull, 0x75fcd05a1313b30bull, 0x3f7d50f18ab1a258ull, 0x25f6ed89ff69b2b4ull,
    0xb40f089c990f077dull, 0xb341896c4b9d502aull, 0xb4b2ec36a05eb5d6ull, 0xdc0835dac2a2a0cbull,
    0x97e36d015f14f99eull, 0x2d071f4a1a3eb985ull, 0xa2ce1b1e274cf43aull, 0x8379b3d18becfa03ull,
    0x64290364673aa7d2ull, 0xd1a324bf1a39dfcfull, 0xee32af7107f7df52ull, 0xf2bf508491b22a00ull,
    0x0ee4e1b26927476eull, 0x25978da6a8fd20dbull, 0xdc1d77cdd030f5c9ull, 0x49aa3762926f2e89ull,
    0xa5e9aca93fa932ecull, 0x8be0cc353c369883ull, 0xb206ece24c3af057ull, 0x4c164749e3e53050ull,
    0xea29a87a405c0548ull, 0xb49ccc3ed9699349ull, 0x887b1bd3d024d1e1ull, 0x36111f33c6f00ed0ull,
    0xce4ae2432223575dull, 0x001b67fce167300aull, 0xe440629c678fd894ull, 0x7981f98c63920668ull,
    0x0511511931ce5c24ull, 0xb90f733964b3efdaull, 0x2cfd193a5fd19777ull, 0x562d1987f6e524b5ull,
    0x99d915590904a282ull, 0x8969337d35e1a414ull, 0xb84877bd62782850ull, 0xb6bfa16040529e30ull,
    0x26d9bf13533ea6c6ull, 0x618802c692788471ull, 0xbb54dee5c5a642baull, 0xe8195efebbc68854ull,
    0x893df189d9405687ull, 0x463acb1d7cf1b475ull, 0x9a730947194edfbcull, 0x58d322a08586ea18ull,
    0x9a410bad55ad5694ull, 0xa860c03b247ca49bull, 0x6216a1c0b2720713ull, 0x71b2c03da1531801ull,
    0x4d9efa82067ce634ull, 0x64492448507c1cd3ull, 0x3d7d36abdd354bdfull, 0x689a0acb2e83bccdull,
    0x40f7214d9d1a3e8bull, 0x1fcaf800acb02d44ull, 0x5dd10ebfe89ab072ull, 0x71f95e281f603e89ull,
    0x23fec504f136fd08ull, 0x35d2525808a46424ull, 0x963cb5f114f12abeull, 0x6f8298d3bb755e9aull,
    0x744c87ee4e49f652ull, 0x88a5ddd6fc169797ull, 0x6d786b2ecd00d2b4ull, 0x63c431aa6d304ed6ull,
    0x1d21eeca5bdac376ull, 0x0550fa947bb36a3dull, 0xe05980d025ee5cddull, 0x021fe93fd544d86aull,
    0x900b0e2a499f0b6full, 0x7de146410f52fb80ull, 0x5b1621578a6aea13ull, 0xef7d9a293aa5f1dcull,
    0xb7d560bac76257f2ull, 0x879d170693112d2dull, 0xfc3ad87c35e8a239ull, 0xfc208b634ef8b6ceull,
    0x3c9cdcd82e22c219ull, 0x21f8f7103e0c3963ull, 0xf7362cad51b16af8ull, 0xfbf583caad79e308ull,
    0x27d853f669b38f13ull, 0x488e2de7ec0f0c12ull, 0xfaa61c88a2f6bf11ull, 0x076b7ac3a8d5b2feull,
    0x3104858d62501773ull, 0x48c56353ed516666ull, 0x3b93cd4f19bf06c1ull, 0x8494b2a057caedc8ull,
    0xeabb92515b1589fdull, 0xdc1fb32f6bbef39bull, 0x7a7dbbe8f484a1a6ull, 0xd586b4d571ea6dceull,
    0xe82f37abd4d63708ull, 0xa4b52900be7878faull, 0xbb0064444811df92ull, 0x27a7aaad9271359full,
    0x693c22e3f87a5f0eull, 0x3135a74a48476a6bull, 0x38b4402ffe081339ull, 0x5ff06ee6d13871abull,
    0xd9fdaa9eb5b7e287ull, 0xf862644a85dfa00full, 0x5960be8134f148d7ull, 0xcc481c71692b0e0full,
    0xdea2f2a3245e0140ull, 0x9ee72223824fbd34ull, 0x56e2068ad32eb7acull, 0xec57bb6eb380f7e0ull,
};

static inline size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

size_t mlfs_cdc_next(struct mlfs_cdc *c, const uint8_t *buf, size_t len, bool *ret_cut)
{
	uint64_t hash = c->hash;
	size_t pos = c->len; /* length of the chunk so far, up to buf[i] */
	size_t i = 0, end;

	if (pos < MLFS_CDC_MIN) {
		/* No cut can fall here, so these bytes need no hashing. */
		if (len <= MLFS_CDC_MIN - pos) {
			c->len = pos + len;
			*ret_cut = false;
			return len;
		}
		i = MLFS_CDC_MIN - pos;
		pos = MLFS_CDC_MIN;
	}

	/*
	 * Each loop runs to one bound; pos is set to its value at that bound
	 * up front, which is all it is needed for when no cut is found.
	 */
	if (pos < MLFS_CDC_AVG) {
		end = i + min_size(len - i, MLFS_CDC_AVG - pos);
		pos += end - i;
		while (i < end) {
			hash = (hash << 1) + gear[buf[i++]];
			if (!(hash & MASK_S))
				goto cut;
		}
	}
	end = i + min_size(len - i, MLFS_CDC_MAX - pos);
	pos += end - i;
	while (i < end) {
		hash = (hash << 1) + gear[buf[i++]];
		if (!(hash & MASK_L))
			goto cut;
	}
	if (pos == MLFS_CDC_MAX)
		goto cut;

	c->hash = hash;
	c->len = pos;
	*ret_cut = false;
	return i;
cut:
	*c = MLFS_CDC_INIT;
	*ret_cut = true;
	return i;
}
