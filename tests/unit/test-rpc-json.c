/* SPDX-License-Identifier: MIT */
/*
 * rpc/json.c held to jansson: every text decodes to a value equal to
 * json_loadb()'s (or fails where it fails), every value encodes to
 * json_dumps()'s bytes. Hand-picked edge cases, then random mutations of a
 * snapshot-shaped document (bytes flipped, cut, duplicated) as hostile input.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ktbpf/codec.h"
#include "ktbpf/json.h"

/* ours and jansson's agree on text[0, len): both fail, or both give equal values. */
static void agree(const char *text, size_t len)
{
	json_error_t je;
	json_t *want = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
	json_t *got = ktbpf_json_decode(text, len, NULL);

	if (!want)
		cr_assert_null(got, "accepted what jansson refuses (%s): %.*s", je.text, (int)len,
			       text);
	else
		cr_assert(got && json_equal(got, want), "differs from jansson: %.*s", (int)len,
			  text);
	if (got) {
		char *a = ktbpf_json_encode(got, NULL);
		char *b = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);

		cr_assert_str_eq(a, b);
		free(a);
		free(b);
	}
	json_decref(got);
	json_decref(want);
}

static void agree_s(const char *text)
{
	agree(text, strlen(text));
}

Test(rpc_json, decode_agrees_with_jansson_on_edge_cases)
{
	static const char *const cases[] = {"{}",
					    "[]",
					    " \t\r\n{ } \n",
					    "0",
					    "-0",
					    "-",
					    "01",
					    "-01",
					    "1.",
					    "1.5",
					    "1e3",
					    "1E+3",
					    "1e",
					    ".5",
					    "9223372036854775807",
					    "9223372036854775808",
					    "-9223372036854775808",
					    "-9223372036854775809",
					    "99999999999999999999",
					    "true",
					    "false",
					    "null",
					    "tru",
					    "truex",
					    "nul",
					    "\"\"",
					    "\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"",
					    "\"\\u0041\\u00e9\"",
					    "\"\\u0000\"",
					    "\"\\ud83d\\ude00\"",
					    "\"\\ud83d\"",
					    "\"\\ude00\"",
					    "\"\\ud83dx\"",
					    "\"\\u12\"",
					    "\"\\x\"",
					    "\"abc",
					    "\"\xc3\xa9\"",
					    "\"\xc3\"",
					    "\"\xe0\x80\x80\"",
					    "\"\xed\xa0\x80\"",
					    "\"\xf4\x90\x80\x80\"",
					    "\"\xf0\x9f\x98\x80\"",
					    "\"\xff\"",
					    "\"\x01\"",
					    "{\"a\":1,\"a\":2}",
					    "{\"a\":1,}",
					    "[1,]",
					    "[1 2]",
					    "{\"a\" 1}",
					    "{1:2}",
					    "{\"a\":1}x",
					    "[1]]",
					    "[[[]]]",
					    "{\"\":{\"\":[]}}",
					    "[true,false,null]",
					    "{\"a\\u0000b\":1}",
					    "{\"k\":\"\\u001f\\u007f\"}",
					    "[-1,-12,345,-0,0]",
					    "",
					    "   ",
					    "[",
					    "{",
					    "{\"a\":",
					    "\"\\",
					    "[1e999]",
					    "[1.0e-999]"};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		agree_s(cases[i]);
	agree("[1,\0 2]", 7);
	agree("\"a\0b\"", 5);
}

Test(rpc_json, nesting_past_the_depth_cap_fails_like_jansson)
{
	size_t n = KTBPF_JSON_MAX_DEPTH + 1;
	char *t = malloc(2 * n + 1);

	for (size_t depth = n - 1; depth <= n; depth++) {
		memset(t, '[', depth);
		memset(t + depth, ']', depth);
		agree(t, 2 * depth);
	}
	free(t);
}

Test(rpc_json, encode_writes_jansson_bytes_for_strings_with_controls_and_utf8)
{
	json_t *v = json_pack("{s:s, s:s%, s:I, s:I, s:f, s:[], s:{}, s:b, s:n}", "s",
			      "tab\there \"q\" back\\slash /\x1f\x7f caf\xc3\xa9", "nul", "a\0b",
			      (size_t)3, "min", (json_int_t)INT64_MIN, "max", (json_int_t)INT64_MAX,
			      "real", 0.1, "a", "o", "t", 1, "z");
	char *a, *b;
	size_t len;

	cr_assert_not_null(v);
	a = ktbpf_json_encode(v, &len);
	b = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	cr_assert_str_eq(a, b);
	cr_assert_eq(len, strlen(b));
	free(a);
	free(b);
	json_decref(v);
}

Test(rpc_json, encode_refuses_invalid_utf8_like_jansson)
{
	json_t *v = json_pack("[o]", json_string_nocheck("bad \xff"));

	cr_assert_null(ktbpf_json_encode(v, NULL));
	cr_assert_null(json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY));
	json_decref(v);
}

/* A vm.snapshot-shaped answer: nested objects, arrays, hex strings, counters. */
static char *sample(void)
{
	json_t *progs = json_array(), *doc;
	char *s;

	for (int i = 0; i < 16; i++)
		json_array_append_new(
			progs, json_pack("{s:i, s:s, s:s, s:I, s:b, s:n}", "id", i + 1, "name",
					 "prog\xc3\xa9", "addr", "0xffffffff81000000", "run_cnt",
					 (json_int_t)i * 123456789, "ok", i & 1, "x"));
	doc = json_pack("{s:s, s:i, s:{s:o, s:s}}", "jsonrpc", "2.0", "id", 7, "result", "progs",
			progs, "msg", "line\nbreak \\u \"quoted\"");
	s = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	return s;
}

Test(rpc_json, random_mutations_of_a_snapshot_agree_with_jansson)
{
	char *base = sample();
	size_t n = strlen(base);
	char *t = malloc(2 * n + 8);
	static const char pick[] = "{}[]\",:\\u0123456789-+.eE truefalsnl\x80\xc3\xff\x01";

	agree(base, n);
	srand(8);
	for (int iter = 0; iter < 8000; iter++) {
		size_t len = n;

		memcpy(t, base, n);
		for (int k = 0, edits = 1 + rand() % 4; k < edits; k++) {
			size_t at = (size_t)rand() % len;

			switch (rand() % 4) {
			case 0: /* replace a byte */
				t[at] = pick[rand() % (int)(sizeof(pick) - 1)];
				break;
			case 1: /* cut */
				len = at;
				break;
			case 2: /* delete one byte */
				memmove(t + at, t + at + 1, len - at - 1);
				len--;
				break;
			default: /* duplicate a stretch */
				if (len + 8 < 2 * n) {
					memmove(t + at + 8, t + at, len - at);
					len += 8;
				}
			}
			if (!len)
				break;
		}
		agree(t, len);
	}
	free(t);
	free(base);
}

/* rpc/codec.c: guest text on its way to a terminal (ktbpfctl prints it). */
Test(rpc_json, codec_text_turns_terminal_controls_into_question_marks)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{"sched\x1b]0;pwned\x07", "sched?]0;pwned?"}, /* ESC, BEL */
		{"a\x1b[2Jb\rc\x7f", "a?[2Jb?c?"},	      /* CSI, CR, DEL */
		{"c1 \xc2\x9b"
		 "31m",
		 "c1 ??31m"},					    /* U+009B, 8-bit CSI */
		{"exit dump\n\tline 2\n", "exit dump\n\tline 2\n"}, /* kept */
		{"caf\xc3\xa9 \xc2\xa0", "caf\xc3\xa9 \xc2\xa0"},   /* UTF-8 kept */
		{"bad \xff\x1b utf8", "bad ?? utf8"},		    /* both at once */
		{"tail \xc2", "tail ?"},			    /* cut sequence */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *j = ktbpf_codec_text(cases[i].in);

		cr_assert_not_null(j, "case %zu", i);
		cr_assert_str_eq(json_string_value(j), cases[i].want, "case %zu", i);
		json_decref(j);
	}
	cr_assert_null(ktbpf_codec_text(NULL));
}
