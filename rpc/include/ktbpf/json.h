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
#include <stdbool.h>
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

/*
 * A writer of JSON text straight from C values, the same bytes
 * ktbpf_json_encode() writes for the equal jansson tree, without the tree
 * (the vm.snapshot answer: building, writing and freeing its tree was a
 * third of the daemon's time per answer). Start from a zeroed struct; call
 * w_object/w_key/.../w_end_object in document order (the writer puts the
 * commas); any failure (memory, a string not UTF-8) is sticky and makes
 * w_finish() return NULL. Keys are ours: ASCII, never repeated.
 */
struct ktbpf_json_writer {
	char *buf;
	size_t len, cap;
	unsigned depth; /* within ktbpf_json_w_value() */
	bool sep;	/* a value was written at this level: a comma before the next */
	bool failed;
};

void ktbpf_json_w_object(struct ktbpf_json_writer *w);
void ktbpf_json_w_end_object(struct ktbpf_json_writer *w);
void ktbpf_json_w_array(struct ktbpf_json_writer *w);
void ktbpf_json_w_end_array(struct ktbpf_json_writer *w);
void ktbpf_json_w_key(struct ktbpf_json_writer *w, const char *key);
/* len bytes of UTF-8 (else the writer fails). */
void ktbpf_json_w_string(struct ktbpf_json_writer *w, const char *s, size_t len);
/* The same, but a string that is not UTF-8 leaves the writer as it was: false. */
bool ktbpf_json_w_try_string(struct ktbpf_json_writer *w, const char *s, size_t len);
void ktbpf_json_w_int(struct ktbpf_json_writer *w, json_int_t i);
void ktbpf_json_w_bool(struct ktbpf_json_writer *w, bool b);
void ktbpf_json_w_null(struct ktbpf_json_writer *w);
/* A jansson value as ktbpf_json_encode() writes it; NULL fails the writer. */
void ktbpf_json_w_value(struct ktbpf_json_writer *w, const json_t *v);
/* Text that is already one JSON value (the caller's word for it). */
void ktbpf_json_w_raw(struct ktbpf_json_writer *w, const char *text, size_t len);
/*
 * The text (NUL-terminated, to free(); *ret_len its length), or NULL if
 * anything failed. The writer is zeroed either way.
 */
char *ktbpf_json_w_finish(struct ktbpf_json_writer *w, size_t *ret_len);

#endif
