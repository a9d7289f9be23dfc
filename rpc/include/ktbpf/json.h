/* SPDX-License-Identifier: MIT */
#ifndef KTBPF_JSON_H
#define KTBPF_JSON_H

/*
 * The wire's JSON text, both ways, several times faster than jansson's own
 * json_loadb()/json_dumps() (which read and write a character at a time
 * through callbacks and format numbers with printf): a vm.snapshot answer of
 * the 64-program guest is 14 KB, and jansson spent 290 us parsing it and
 * 110 us writing it, most of the round trip.
 *
 * Same values, same text: ktbpf_json_decode() accepts exactly what
 * json_loadb(JSON_REJECT_DUPLICATES | JSON_DECODE_ANY) accepts (RFC 8259,
 * UTF-8 only, no "\u0000", no duplicate keys, integers within int64, nesting
 * at most KTBPF_JSON_MAX_DEPTH) and builds equal jansson values;
 * ktbpf_json_encode() writes the bytes json_dumps(JSON_COMPACT |
 * JSON_ENCODE_ANY) writes. tests/unit/test-rpc-json.c and fuzz/fuzz-rpc.c
 * hold both to jansson.
 *
 * Thread safety: none shared; any number of threads may call them at once.
 */

#include <jansson.h>
#include <stddef.h>

/* Deepest nesting of arrays and objects accepted (jansson's JSON_PARSER_MAX_DEPTH). */
#define KTBPF_JSON_MAX_DEPTH 2048

/*
 * Parse the len bytes at buf as one JSON value (surrounding whitespace
 * allowed). Returns a new reference, or NULL with err (may be NULL) filled:
 * err->position is the byte offset of the fault, err->text says what it is
 * (also "out of memory").
 */
json_t *ktbpf_json_decode(const char *buf, size_t len, json_error_t *err);

/*
 * v as compact JSON text, NUL-terminated, to free(); *ret_len (may be NULL)
 * its length. NULL on allocation failure, for a string holding invalid
 * UTF-8 (only json_*_nocheck() can make one) or nesting deeper than
 * KTBPF_JSON_MAX_DEPTH (a cycle).
 */
char *ktbpf_json_encode(const json_t *v, size_t *ret_len);

#endif
