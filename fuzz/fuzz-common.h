/* SPDX-License-Identifier: MIT */
#ifndef KTBPF_FUZZ_COMMON_H
#define KTBPF_FUZZ_COMMON_H

/*
 * Shared by the libFuzzer targets in fuzz/. Each target also writes its own
 * seed corpus: run it with KTBPF_FUZZ_SEEDS=DIR and LLVMFuzzerInitialize()
 * writes the seeds into DIR and exits, so the seeds are built in code by the
 * same kit the target uses (no opaque blobs in the tree).
 */

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/*
 * Each target defines fuzz_write_seeds() (its seed corpus, written into dir)
 * and may define fuzz_setup() (state built once, before any input: the
 * default does nothing). The shared LLVMFuzzerInitialize() calls them.
 */
void fuzz_setup(void);
void fuzz_write_seeds(const char *dir);

/* The seed directory when KTBPF_FUZZ_SEEDS is set (seed-writing mode), else NULL. */
const char *fuzz_seed_dir(void);

/* Write one seed file DIR/name; aborts on failure. */
void fuzz_seed_write(const char *dir, const char *name, const void *buf, size_t len);

/* A memfd holding len bytes of buf, offset 0; aborts on failure. */
int fuzz_memfd(const void *buf, size_t len);

/* Abort with a message (a fuzz-found invariant violation is a crash). */
void fuzz_die(const char *what, const char *detail) __attribute__((noreturn));

/*
 * An output sink (rpc/peer.h: ktbpf_peer_send_fn) for the JSON-RPC
 * targets: each line must be one JSON object or array without a newline,
 * else the target dies.
 */
int fuzz_json_line_sink(void *ud, const char *line, size_t len, const int *fds, unsigned int nfds);

/* Little-endian loads from fuzz bytes (no alignment assumed). */
static inline uint64_t fuzz_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static inline uint32_t fuzz_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

#endif
