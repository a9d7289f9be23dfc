/* SPDX-License-Identifier: MIT */
/*
 * rpc/json.c held to jansson: every text decodes to a value equal to
 * json_loadb()'s (or fails where it fails), every value encodes to
 * json_dumps()'s bytes. Hand-picked edge cases, then random mutations of a
 * snapshot-shaped document (bytes flipped, cut, duplicated) as hostile input.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ktbpf/codec.h"
#include "ktbpf/json.h"
#include "ktbpf/jsonrpc.h"

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

/* The writer (ktbpf_json_w_*): commas, nesting, a refused string undone, a real via jansson. */
Test(rpc_json, writer_writes_what_encode_writes_for_the_same_value)
{
	struct ktbpf_json_writer w = {0};
	json_t *real = json_pack("{s:f, s:[i]}", "r", 0.5, "a", 7);
	char *want_real = json_dumps(real, JSON_COMPACT), *text;
	size_t len;

	ktbpf_json_w_object(&w);
	ktbpf_json_w_key(&w, "a");
	ktbpf_json_w_array(&w);
	ktbpf_json_w_int(&w, INT64_MIN);
	ktbpf_json_w_bool(&w, false);
	ktbpf_json_w_null(&w);
	ktbpf_json_w_object(&w);
	ktbpf_json_w_end_object(&w);
	ktbpf_json_w_array(&w);
	ktbpf_json_w_end_array(&w);
	ktbpf_json_w_end_array(&w);
	ktbpf_json_w_key(&w, "s");
	cr_assert_not(ktbpf_json_w_try_string(&w, "bad \xff", 5));
	cr_assert(ktbpf_json_w_try_string(&w, "t\x01\"\xc3\xa9", 5));
	ktbpf_json_w_key(&w, "real");
	ktbpf_json_w_value(&w, real);
	ktbpf_json_w_key(&w, "q\"\xc3\xa9"); /* a key that needs escaping */
	ktbpf_json_w_null(&w);
	ktbpf_json_w_end_object(&w);
	text = ktbpf_json_w_finish(&w, &len);
	cr_assert_not_null(text);
	cr_assert_eq(len, strlen(text));
	{
		char want[256];

		snprintf(want, sizeof(want),
			 "{\"a\":[-9223372036854775808,false,null,{},[]],\"s\":"
			 "\"t\\u0001\\\"\xc3\xa9\","
			 "\"real\":%s,\"q\\\"\xc3\xa9\":null}",
			 want_real);
		cr_assert_str_eq(text, want);
		agree_s(text); /* and jansson reads it back to the bytes */
	}
	free(text);
	/* A failure is sticky: no text at all. */
	ktbpf_json_w_array(&w);
	ktbpf_json_w_string(&w, "\xc0\x80", 2);
	ktbpf_json_w_int(&w, 1);
	ktbpf_json_w_end_array(&w);
	cr_assert_null(ktbpf_json_w_finish(&w, NULL));
	ktbpf_json_w_value(&w, NULL);
	cr_assert_null(ktbpf_json_w_finish(&w, NULL));
	free(want_real);
	json_decref(real);
}

/*
 * rpc/codec.c writes a snapshot straight to text: the bytes of the tree
 * (ktbpf_codec_snapshot()), in the Snapshot schema's member order, with guest
 * text made safe exactly as ktbpf_codec_text() makes it.
 */
Test(rpc_json, codec_snapshot_text_keeps_the_shape_and_scrubs_guest_text)
{
	static const char *hostile[] = {
		"sched\x1b]0;pwned\x07", "c1 \xc2\x9b", "bad \xff\x1b utf8", "tail \xc2",
		"caf\xc3\xa9",
	};
	static struct ktbpf_prog progs[5];
	static struct ktbpf_st_instance inst;
	static struct ktbpf_snapshot s;
	struct ktbpf_kernel_info ki = {.nr_cpu_ids = 2, .kaslr_offset = 0x1000000};
	struct ktbpf_json_writer w = {0};
	char *text, *tree_text;
	json_t *tree, *p;
	size_t len;

	snprintf(ki.release, sizeof(ki.release), "6.1\x1b[31m");
	for (size_t i = 0; i < 5; i++) {
		progs[i] = (struct ktbpf_prog){.id = (uint32_t)i + 1, .cnt = UINT64_MAX};
		snprintf(progs[i].name, sizeof(progs[i].name), "%s", hostile[i]);
		snprintf(progs[i].iface, sizeof(progs[i].iface), "tcp_congestion_ops");
		snprintf(progs[i].member, sizeof(progs[i].member), "%s", hostile[(i + 1) % 5]);
	}
	snprintf(inst.name, sizeof(inst.name), "%s", hostile[0]);
	inst.map_id = 9;
	inst.nr_members = 1;
	snprintf(inst.members[0].member, sizeof(inst.members[0].member), "%s", hostile[2]);
	inst.members[0].prog_id = 3;
	s.progs = progs;
	s.nr_progs = 5;
	s.instances = &inst;
	s.nr_instances = 1;
	s.stats = KTBPF_STATS_UNKNOWN;
	s.nr_diags = 1;
	s.diags[0] = (struct ktbpf_diag){.code = -EFAULT, .prog_id = 2, .addr = 0xffff8880deadb000};
	snprintf(s.diags[0].msg, sizeof(s.diags[0].msg), "%s", hostile[1]);
	s.diags_dropped = 3;
	s.over_budget = true;

	ktbpf_codec_snapshot_write(&w, &s, &ki);
	ktbpf_json_w_end_object(&w);
	text = ktbpf_json_w_finish(&w, &len);
	tree = ktbpf_codec_snapshot(&s, &ki);
	cr_assert(text && tree);
	tree_text = ktbpf_json_encode(tree, NULL);
	cr_assert_str_eq(text, tree_text);
	agree(text, len);
	/* The member order of one program, pinned. */
	cr_assert_not_null(strstr(text, "{\"id\":5,\"name\":\"caf\xc3\xa9\","
					"\"interface\":\"tcp_congestion_ops\",\"member\":"
					"\"sched?]0;pwned?\",\"verified_insns\":0,"
					"\"run_cnt\":9223372036854775807,\"run_time_ns\":0,"
					"\"recursion_misses\":0,\"stats_complete\":false}"),
			   "%s", text);
	cr_assert_not_null(strstr(text, "\"stats_enabled\":null,\"progs\":[{"));
	cr_assert_not_null(strstr(text, "\"diagnostics\":[{\"prog_id\":2,\"code\":\"EFAULT\","
					"\"addr\":\"0xffff8880deadb000\",\"message\":\"c1 ??\"}],"
					"\"walk_ns\":0,\"diagnostics_dropped\":3,"
					"\"over_budget\":true}"));
	cr_assert_str_eq(
		json_string_value(json_object_get(json_object_get(tree, "kernel"), "release")),
		"6.1?[31m");
	for (size_t i = 0; i < 5; i++) {
		json_t *want = ktbpf_codec_text(hostile[i]);

		p = json_array_get(json_object_get(tree, "progs"), i);
		cr_assert_str_eq(json_string_value(json_object_get(p, "name")),
				 json_string_value(want), "prog %zu", i);
		json_decref(want);
	}
	free(text);
	free(tree_text);
	json_decref(tree);
}

/* A response around a result that is text: the bytes of the same response as a tree. */
Test(rpc_json, response_text_is_the_response_trees_line)
{
	static const char result[] = "{\"walk_ns\":7,\"progs\":[{\"id\":1}]}";
	json_t *ids[] = {json_integer(42), json_string("a\"b"), NULL};

	for (size_t i = 0; i < 3; i++) {
		json_t *msg = ktbpf_jsonrpc_response(
			ids[i], ktbpf_json_decode(result, sizeof(result) - 1, NULL));
		char *want = ktbpf_jsonrpc_encode(msg, NULL);
		size_t len;
		char *got = ktbpf_jsonrpc_response_text(ids[i], result, sizeof(result) - 1, &len);

		cr_assert_str_eq(got, want);
		cr_assert_eq(len, strlen(want));
		free(got);
		free(want);
		json_decref(msg);
		json_decref(ids[i]);
	}
}
