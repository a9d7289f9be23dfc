/* SPDX-License-Identifier: MIT */
/*
 * SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF",
 * 2012): a 64-bit keyed hash. With a key the guest cannot learn, a guest
 * cannot choose bytes that hash like another guest's, which an unkeyed hash
 * lets it do by solving for a word or two. Thread safety: no state but the
 * process key, made once.
 */
#ifndef KTBPF_SIPHASH_INTERNAL_H
#define KTBPF_SIPHASH_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* SipHash-2-4 of p[0, n) under key (16 bytes, little-endian k0 then k1). */
uint64_t ktbpf_siphash24(const uint8_t key[16], const void *p, size_t n);

/* SipHash-2-4 of p[0, n) under this process's random key (getrandom(), made once). */
uint64_t ktbpf_siphash_process(const void *p, size_t n);

#endif
