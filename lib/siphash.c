/* SPDX-License-Identifier: MIT */
/*
 * SipHash-2-4, from the paper's description (siphash-internal.h says why it
 * is used): four 64-bit lanes, two compression rounds per 8-byte word, the
 * length in the top byte of the last word, four finalisation rounds.
 */
#include <endian.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "siphash-internal.h"

static inline uint64_t rotl(uint64_t x, unsigned int b)
{
	return (x << b) | (x >> (64 - b));
}

static inline uint64_t le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

#define SIPROUND                                                                                   \
	do {                                                                                       \
		v0 += v1;                                                                          \
		v1 = rotl(v1, 13) ^ v0;                                                            \
		v0 = rotl(v0, 32);                                                                 \
		v2 += v3;                                                                          \
		v3 = rotl(v3, 16) ^ v2;                                                            \
		v0 += v3;                                                                          \
		v3 = rotl(v3, 21) ^ v0;                                                            \
		v2 += v1;                                                                          \
		v1 = rotl(v1, 17) ^ v2;                                                            \
		v2 = rotl(v2, 32);                                                                 \
	} while (0)

uint64_t ktbpf_siphash24(const uint8_t key[16], const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t k0 = le64(key), k1 = le64(key + 8), m, last = (uint64_t)n << 56;
	uint64_t v0 = 0x736f6d6570736575ull ^ k0, v1 = 0x646f72616e646f6dull ^ k1;
	uint64_t v2 = 0x6c7967656e657261ull ^ k0, v3 = 0x7465646279746573ull ^ k1;
	size_t i;

	for (i = 0; i + 8 <= n; i += 8) {
		m = le64(b + i);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	for (size_t j = 0; i + j < n; j++)
		last |= (uint64_t)b[i + j] << (8 * j);
	v3 ^= last;
	SIPROUND;
	SIPROUND;
	v0 ^= last;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

static uint8_t process_key[16];
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static void make_key(void)
{
	struct timespec ts;
	uint64_t fallback[2];

	if (getrandom(process_key, sizeof(process_key), 0) == (ssize_t)sizeof(process_key))
		return;
	/* No getrandom (a very old kernel): unpredictable enough to a guest, which sees neither. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	fallback[0] = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)getpid();
	fallback[1] = (uint64_t)(uintptr_t)&ts ^ (uint64_t)time(NULL) << 20;
	memcpy(process_key, fallback, sizeof(process_key));
}

uint64_t ktbpf_siphash_process(const void *p, size_t n)
{
	pthread_once(&key_once, make_key);
	return ktbpf_siphash24(process_key, p, n);
}
