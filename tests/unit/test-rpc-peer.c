/* SPDX-License-Identifier: MIT */
/*
 * The JSON-RPC peer without sockets (lines in, lines out) and over a real
 * socketpair: each error the specification and ktbpf's server range define,
 * with its code and machine-readable data; batches and notifications as the
 * specification says; fds claimed by the request that declares them and
 * closed otherwise (the open-fd count from /proc/self/fd is back where it
 * was); answers given later; and the peer's own calls matched by id.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ktbpf/peer.h"
#include "unit.h"

static json_t *out;		/* every output line, parsed */
static struct ktbpf_wire *wire; /* socketless input */
static struct ktbpf_peer *peer;
static struct ktbpf_peer_req *held; /* the "later" method's request */
static int notes;

static int sink(void *ud, const char *line, size_t len, const int *fds, unsigned int nfds)
{
	json_error_t je;
	json_t *v;

	cr_assert_null(memchr(line, '\n', len), "one line per message");
	v = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
	cr_assert_not_null(v, "output is JSON: %.*s (%s)", (int)len, line, je.text);
	json_array_append_new(out, v);
	return 0;
}

static void m_echo(struct ktbpf_peer_req *req, void *ud)
{
	ktbpf_peer_req_result(req, json_deep_copy(ktbpf_peer_req_params(req)));
}

static void m_tags(struct ktbpf_peer_req *req, void *ud)
{
	json_t *tags = json_array();

	for (unsigned int i = 0; i < ktbpf_peer_req_nfds(req); i++) {
		int fd = ktbpf_peer_req_take_fd(req, i);
		char c = 0;

		cr_assert_eq(pread(fd, &c, 1, 0), 1);
		json_array_append_new(tags, json_stringn(&c, 1));
		close(fd);
	}
	ktbpf_peer_req_result(req, tags);
}

static void m_later(struct ktbpf_peer_req *req, void *ud)
{
	held = req;
}

static void m_note(struct ktbpf_peer_req *req, void *ud)
{
	notes++;
	ktbpf_peer_req_result(req, json_true());
}

static void m_fail(struct ktbpf_peer_req *req, void *ud)
{
	ktbpf_peer_req_error(req, KTBPF_JSONRPC_VM_UNKNOWN, json_pack("{s:s}", "vm", "g3"),
			     "vm '%s' is not registered", "g3");
}

/* A result that is text already (ktbpfd's vm.snapshot answer). */
static void m_text(struct ktbpf_peer_req *req, void *ud)
{
	static const char text[] = "{\"walk_ns\":7,\"progs\":[{\"id\":1,\"name\":\"p\\n\"}]}";

	notes++;
	ktbpf_peer_req_result_text(req, text, sizeof(text) - 1);
}

static const struct ktbpf_peer_param echo_params[] = {
	{"text", KTBPF_PARAM_STRING, true},
	{"n", KTBPF_PARAM_UINT, false},
	{0},
};

static const struct ktbpf_peer_method methods[] = {
	{"echo", echo_params, 0, m_echo}, {"fd.tags", NULL, 4, m_tags}, {"later", NULL, 1, m_later},
	{"note", NULL, 0, m_note},	  {"fail", NULL, 0, m_fail},	{"text", NULL, 0, m_text},
};

static void setup(void)
{
	out = json_array();
	wire = ktbpf_wire_new(-1, NULL);
	peer = ktbpf_peer_new(methods, sizeof(methods) / sizeof(methods[0]), NULL, sink, NULL);
	cr_assert(out && wire && peer);
}

static void teardown(void)
{
	ktbpf_peer_close(peer);
	ktbpf_peer_unref(peer);
	ktbpf_wire_free(wire);
	json_decref(out);
}

TestSuite(rpc_peer, .init = setup, .fini = teardown);

/* Feed text (lines with "\n") carrying fds and serve every line. */
static void feed(const char *text, const int *fds, unsigned int nfds)
{
	cr_assert_eq(ktbpf_wire_feed(wire, text, strlen(text), fds, nfds, NULL), 0);
	cr_assert_eq(ktbpf_peer_drain(peer, wire, NULL), 0);
}

/* The only output message since the last call, as text (sorted keys). */
static char *take_one(void)
{
	char *s;

	cr_assert_eq(json_array_size(out), 1, "one message out, got %zu", json_array_size(out));
	s = json_dumps(json_array_get(out, 0), JSON_COMPACT | JSON_SORT_KEYS);
	json_array_clear(out);
	return s;
}

static void expect(const char *text, const char *want)
{
	char *got;

	feed(text, NULL, 0);
	got = take_one();
	cr_assert_str_eq(got, want);
	free(got);
}

Test(rpc_peer, request_by_name_gets_its_result_and_id_echoed)
{
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{\"text\":\"hi\"},\"id\":7}\n",
	       "{\"id\":7,\"jsonrpc\":\"2.0\",\"result\":{\"text\":\"hi\"}}");
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{\"text\":\"\"},\"id\":\"s\"}"
	       "\n",
	       "{\"id\":\"s\",\"jsonrpc\":\"2.0\",\"result\":{\"text\":\"\"}}");
}

Test(rpc_peer, malformed_json_is_parse_error_with_null_id)
{
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\n",
	       "{\"error\":{\"code\":-32700,\"data\":{\"kind\":\"parse_error\",\"position\":33},"
	       "\"message\":\"parse error at byte 33: string or '}' expected near end of file\"},"
	       "\"id\":null,\"jsonrpc\":\"2.0\"}");
	/* Duplicate keys are refused, not resolved. */
	feed("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"method\":\"x\",\"id\":1}\n", NULL, 0);
	cr_assert_eq(json_integer_value(json_object_get(
			     json_object_get(json_array_get(out, 0), "error"), "code")),
		     -32700);
}

Test(rpc_peer, not_a_request_is_invalid_request_echoing_a_readable_id)
{
	expect("{\"jsonrpc\":\"1.0\",\"method\":\"echo\",\"id\":3}\n",
	       "{\"error\":{\"code\":-32600,\"data\":{\"kind\":\"invalid_request\"},\"message\":"
	       "\"invalid request: \\\"jsonrpc\\\" must be exactly \\\"2.0\\\"\"},\"id\":3,"
	       "\"jsonrpc\":\"2.0\"}");
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"extra\":1}\n",
	       "{\"error\":{\"code\":-32600,\"data\":{\"kind\":\"invalid_request\"},\"message\":"
	       "\"invalid request: a request has only jsonrpc, method, params and id\"},"
	       "\"id\":null,\"jsonrpc\":\"2.0\"}");
	expect("42\n", "{\"error\":{\"code\":-32600,\"data\":{\"kind\":\"invalid_request\"},"
		       "\"message\":\"invalid request: a message is a JSON object (or a batch: an "
		       "array)\"},\"id\":null,\"jsonrpc\":\"2.0\"}");
}

Test(rpc_peer, unknown_method_is_method_not_found_naming_it)
{
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"vm.nope\",\"id\":1}\n",
	       "{\"error\":{\"code\":-32601,\"data\":{\"kind\":\"method_not_found\",\"method\":"
	       "\"vm.nope\"},\"message\":\"no method 'vm.nope'\"},\"id\":1,\"jsonrpc\":\"2.0\"}");
}

Test(rpc_peer, wrong_params_are_invalid_params_naming_the_param)
{
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{},\"id\":1}\n",
	       "{\"error\":{\"code\":-32602,\"data\":{\"kind\":\"invalid_params\",\"param\":"
	       "\"text\"},\"message\":\"echo needs 'text' (a string)\"},\"id\":1,\"jsonrpc\":"
	       "\"2.0\"}");
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{\"text\":\"a\",\"n\":-1},"
	       "\"id\":2}\n",
	       "{\"error\":{\"code\":-32602,\"data\":{\"kind\":\"invalid_params\",\"param\":\"n\"},"
	       "\"message\":\"echo: 'n' must be an integer >= 0\"},\"id\":2,\"jsonrpc\":\"2.0\"}");
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{\"text\":\"a\",\"x\":1},"
	       "\"id\":3}\n",
	       "{\"error\":{\"code\":-32602,\"data\":{\"kind\":\"invalid_params\",\"param\":\"x\"},"
	       "\"message\":\"echo has no parameter 'x'\"},\"id\":3,\"jsonrpc\":\"2.0\"}");
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[\"a\"],\"id\":4}\n",
	       "{\"error\":{\"code\":-32602,\"data\":{\"kind\":\"invalid_params\"},\"message\":"
	       "\"echo takes its params by name (an object)\"},\"id\":4,\"jsonrpc\":\"2.0\"}");
}

Test(rpc_peer, server_error_carries_code_message_and_data)
{
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"fail\",\"id\":1}\n",
	       "{\"error\":{\"code\":-32000,\"data\":{\"kind\":\"vm_unknown\",\"vm\":\"g3\"},"
	       "\"message\":\"vm 'g3' is not registered\"},\"id\":1,\"jsonrpc\":\"2.0\"}");
}

Test(rpc_peer, fds_go_to_the_request_that_declares_them_in_order)
{
	int before = unit_count_fds(0);
	int f[3] = {unit_memfd("a", 1), unit_memfd("b", 1), unit_memfd("c", 1)};
	char *got;

	feed("{\"jsonrpc\":\"2.0\",\"method\":\"fd.tags\",\"params\":{\"fds\":2},\"id\":1}\n"
	     "{\"jsonrpc\":\"2.0\",\"method\":\"fd.tags\",\"params\":{\"fds\":1},\"id\":2}\n",
	     f, 3);
	cr_assert_eq(json_array_size(out), 2);
	got = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
	cr_assert_str_eq(got, "[{\"id\":1,\"jsonrpc\":\"2.0\",\"result\":[\"a\",\"b\"]},"
			      "{\"id\":2,\"jsonrpc\":\"2.0\",\"result\":[\"c\"]}]");
	free(got);
	cr_assert_eq(unit_count_fds(0), before);
}

Test(rpc_peer, wrong_fd_count_is_invalid_params_and_closes_the_fds)
{
	int before = unit_count_fds(0);
	int f = unit_memfd("z", 1);
	char *got;

	feed("{\"jsonrpc\":\"2.0\",\"method\":\"fd.tags\",\"params\":{\"fds\":2},\"id\":1}\n", &f,
	     1);
	got = take_one();
	cr_assert_str_eq(got,
			 "{\"error\":{\"code\":-32602,\"data\":{\"declared\":2,\"kind\":"
			 "\"invalid_params\",\"param\":\"fds\"},\"message\":\"the request "
			 "declares 2 fds but 1 arrived with it\"},\"id\":1,\"jsonrpc\":\"2.0\"}");
	free(got);
	cr_assert_eq(unit_count_fds(0), before);
}

Test(rpc_peer, fds_of_a_failing_request_are_closed_not_passed_on)
{
	int before = unit_count_fds(0);
	int f[3] = {unit_memfd("1", 1), unit_memfd("2", 1), unit_memfd("3", 1)};
	json_t *r;

	/* Unknown method with 1 fd; echo takes none; then fd.tags gets the third. */
	feed("{\"jsonrpc\":\"2.0\",\"method\":\"nope\",\"params\":{\"fds\":1},\"id\":1}\n"
	     "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{\"text\":\"t\",\"fds\":1},"
	     "\"id\":2}\n"
	     "{\"jsonrpc\":\"2.0\",\"method\":\"fd.tags\",\"params\":{\"fds\":1},\"id\":3}\n",
	     f, 3);
	cr_assert_eq(json_array_size(out), 3);
	r = json_object_get(json_array_get(out, 1), "error");
	cr_assert_str_eq(json_string_value(json_object_get(r, "message")),
			 "echo takes at most 0 fds, the request declares 1");
	r = json_object_get(json_array_get(out, 2), "result");
	cr_assert_str_eq(json_string_value(json_array_get(r, 0)), "3");
	cr_assert_eq(unit_count_fds(0), before);
}

Test(rpc_peer, fds_nobody_declares_are_closed)
{
	int before = unit_count_fds(0);
	int f[2] = {unit_memfd("u", 1), unit_memfd("v", 1)};

	feed("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{\"text\":\"t\"},\"id\":1}\n", f,
	     2);
	cr_assert_eq(json_array_size(out), 1);
	cr_assert_eq(ktbpf_wire_fds_queued(wire), 0);
	cr_assert_eq(unit_count_fds(0), before);
}

Test(rpc_peer, notification_is_served_and_never_answered)
{
	feed("{\"jsonrpc\":\"2.0\",\"method\":\"note\"}\n"
	     "{\"jsonrpc\":\"2.0\",\"method\":\"nope\"}\n"
	     "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{}}\n",
	     NULL, 0);
	cr_assert_eq(notes, 1);
	cr_assert_eq(json_array_size(out), 0, "not even errors answer a notification");
}

Test(rpc_peer, batch_answers_each_request_in_one_array)
{
	char *got;

	feed("[{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{\"text\":\"a\"},\"id\":1},"
	     "{\"jsonrpc\":\"2.0\",\"method\":\"note\"},"
	     "{\"jsonrpc\":\"2.0\",\"method\":\"nope\",\"id\":2},"
	     "1]\n",
	     NULL, 0);
	got = take_one();
	cr_assert_str_eq(got,
			 "[{\"id\":1,\"jsonrpc\":\"2.0\",\"result\":{\"text\":\"a\"}},"
			 "{\"error\":{\"code\":-32601,\"data\":{\"kind\":\"method_not_found\","
			 "\"method\":\"nope\"},\"message\":\"no method 'nope'\"},\"id\":2,"
			 "\"jsonrpc\":\"2.0\"},"
			 "{\"error\":{\"code\":-32600,\"data\":{\"kind\":\"invalid_request\"},"
			 "\"message\":\"invalid request: a message is a JSON object (or a batch: "
			 "an array)\"},\"id\":null,\"jsonrpc\":\"2.0\"}]");
	free(got);
	cr_assert_eq(notes, 1);
}

Test(rpc_peer, text_result_is_answered_alone_in_a_batch_and_never_to_a_notification)
{
	char *got;

	expect("{\"jsonrpc\":\"2.0\",\"method\":\"text\",\"id\":\"x\"}\n",
	       "{\"id\":\"x\",\"jsonrpc\":\"2.0\",\"result\":{\"progs\":[{\"id\":1,\"name\":"
	       "\"p\\n\"}],\"walk_ns\":7}}");
	feed("{\"jsonrpc\":\"2.0\",\"method\":\"text\"}\n", NULL, 0);
	cr_assert_eq(json_array_size(out), 0, "a notification is never answered");
	feed("[{\"jsonrpc\":\"2.0\",\"method\":\"text\",\"id\":1},"
	     "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{\"text\":\"a\"},\"id\":2}]\n",
	     NULL, 0);
	got = take_one();
	cr_assert_str_eq(got, "[{\"id\":1,\"jsonrpc\":\"2.0\",\"result\":{\"progs\":[{\"id\":1,"
			      "\"name\":\"p\\n\"}],\"walk_ns\":7}},"
			      "{\"id\":2,\"jsonrpc\":\"2.0\",\"result\":{\"text\":\"a\"}}]");
	free(got);
	cr_assert_eq(notes, 3);
}

Test(rpc_peer, empty_batch_is_one_invalid_request_and_notifications_only_nothing)
{
	char *got;

	feed("[]\n", NULL, 0);
	got = take_one();
	cr_assert(strstr(got, "\"code\":-32600"), "%s", got);
	cr_assert(got[0] == '{', "a single response, not an array: %s", got);
	free(got);
	feed("[{\"jsonrpc\":\"2.0\",\"method\":\"note\"},{\"jsonrpc\":\"2.0\",\"method\":\"note\"}]"
	     "\n",
	     NULL, 0);
	cr_assert_eq(notes, 2);
	cr_assert_eq(json_array_size(out), 0, "an all-notification batch gets no empty array");
}

Test(rpc_peer, batch_waits_for_its_slow_member)
{
	char *got;

	feed("[{\"jsonrpc\":\"2.0\",\"method\":\"later\",\"id\":1},"
	     "{\"jsonrpc\":\"2.0\",\"method\":\"note\",\"id\":2}]\n",
	     NULL, 0);
	cr_assert_eq(json_array_size(out), 0);
	cr_assert_not_null(held);
	cr_assert_eq(ktbpf_peer_pending(peer), 1);
	ktbpf_peer_req_result(held, json_string("done"));
	got = take_one();
	cr_assert_str_eq(got, "[{\"id\":2,\"jsonrpc\":\"2.0\",\"result\":true},"
			      "{\"id\":1,\"jsonrpc\":\"2.0\",\"result\":\"done\"}]");
	free(got);
	cr_assert_eq(ktbpf_peer_pending(peer), 0);
}

Test(rpc_peer, answer_after_the_connection_closed_goes_nowhere)
{
	int before = unit_count_fds(0), f = unit_memfd("k", 1);

	feed("{\"jsonrpc\":\"2.0\",\"method\":\"later\",\"params\":{\"fds\":1},\"id\":1}\n", &f, 1);
	cr_assert_not_null(held);
	cr_assert_eq(ktbpf_peer_req_nfds(held), 1);
	ktbpf_peer_close(peer);
	ktbpf_peer_unref(peer); /* the request keeps the peer alive */
	ktbpf_peer_req_result(held, json_true());
	peer = ktbpf_peer_new(methods, 1, NULL, sink, NULL); /* for teardown */
	cr_assert_eq(json_array_size(out), 0);
	cr_assert_eq(unit_count_fds(0), before, "the untaken fd was closed with the request");
}

Test(rpc_peer, pending_requests_past_the_limit_get_a_limit_error)
{
	struct ktbpf_peer_limits lim = {.max_pending = 1, .max_calls = 1, .max_batch = 4};
	char *got;

	ktbpf_peer_unref(peer);
	peer = ktbpf_peer_new(methods, sizeof(methods) / sizeof(methods[0]), &lim, sink, NULL);
	feed("{\"jsonrpc\":\"2.0\",\"method\":\"later\",\"id\":1}\n", NULL, 0);
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"note\",\"id\":2}\n",
	       "{\"error\":{\"code\":-32005,\"data\":{\"kind\":\"limit\",\"limit\":"
	       "\"pending_requests\",\"max\":1},\"message\":\"1 requests are being served on "
	       "this connection already\"},\"id\":2,\"jsonrpc\":\"2.0\"}");
	ktbpf_peer_req_result(held, json_true());
	json_array_clear(out);
	feed("[1,2,3,4,5]\n", NULL, 0);
	got = take_one();
	cr_assert(strstr(got, "\"limit\":\"batch_size\""), "%s", got);
	free(got);
}

Test(rpc_peer, oversize_line_answers_a_limit_error_then_fails)
{
	struct ktbpf_wire_limits wl;
	struct ktbpf_err err = {0};
	char *big = malloc(3000), *got;

	ktbpf_wire_free(wire);
	ktbpf_wire_limits_default(&wl);
	wl.max_line = 1024;
	wire = ktbpf_wire_new(-1, &wl);
	memset(big, ' ', 3000);
	cr_assert_eq(ktbpf_wire_feed(wire, big, 1025, NULL, 0, NULL), 0);
	cr_assert_eq(ktbpf_peer_drain(peer, wire, &err), -EMSGSIZE);
	got = take_one();
	cr_assert_str_eq(got, "{\"error\":{\"code\":-32005,\"data\":{\"kind\":\"limit\",\"limit\":"
			      "\"line_bytes\"},\"message\":\"line longer than 1024 bytes; closing "
			      "the connection\"},\"id\":null,\"jsonrpc\":\"2.0\"}");
	free(got);
	free(big);
}

struct reply {
	int calls;
	json_t *result, *error;
};

static void on_reply(void *ud, json_t *result, json_t *error)
{
	struct reply *r = ud;

	r->calls++;
	r->result = json_incref(result);
	r->error = json_incref(error);
}

Test(rpc_peer, own_call_is_matched_by_id_and_strays_are_counted)
{
	struct reply a = {0}, b = {0};
	int64_t ida, idb;
	char *got;

	cr_assert_eq(ktbpf_peer_call(peer, "vm.freeze", json_pack("{s:i}", "timeout_ms", 2000),
				     NULL, 0, on_reply, &a, &ida, NULL),
		     0);
	cr_assert_eq(ktbpf_peer_call(peer, "vm.thaw", NULL, NULL, 0, on_reply, &b, &idb, NULL), 0);
	cr_assert_eq(json_array_size(out), 2);
	got = json_dumps(json_array_get(out, 0), JSON_COMPACT | JSON_SORT_KEYS);
	cr_assert_str_eq(got, "{\"id\":1,\"jsonrpc\":\"2.0\",\"method\":\"vm.freeze\",\"params\":"
			      "{\"timeout_ms\":2000}}");
	free(got);
	json_array_clear(out);
	/* Answered out of order; an unknown id is a stray, not a crash. */
	feed("{\"jsonrpc\":\"2.0\",\"result\":{\"frozen\":false},\"id\":2}\n"
	     "{\"jsonrpc\":\"2.0\",\"result\":1,\"id\":99}\n"
	     "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32003,\"message\":\"slow\"},\"id\":1}\n",
	     NULL, 0);
	cr_assert_eq(json_array_size(out), 0, "responses are not answered");
	cr_assert_eq(b.calls, 1);
	cr_assert(json_is_object(b.result) && !b.error);
	cr_assert_eq(a.calls, 1);
	cr_assert(!a.result);
	cr_assert_eq(json_integer_value(json_object_get(a.error, "code")), -32003);
	cr_assert_eq(ktbpf_peer_stray_responses(peer), 1);
	json_decref(a.error);
	json_decref(b.result);
}

Test(rpc_peer, own_calls_waiting_at_close_complete_with_an_error)
{
	struct reply a = {0};

	cr_assert_eq(ktbpf_peer_call(peer, "vm.freeze", NULL, NULL, 0, on_reply, &a, NULL, NULL),
		     0);
	ktbpf_peer_close(peer);
	cr_assert_eq(a.calls, 1);
	cr_assert_str_eq(json_string_value(json_object_get(a.error, "message")),
			 "connection closed");
	cr_assert_eq(ktbpf_peer_call(peer, "vm.thaw", NULL, NULL, 0, on_reply, &a, NULL, NULL),
		     -ENOTCONN);
	json_decref(a.error);
}

/* Over a real socketpair: a client wire sends a memfd, the server answers. */
static int wire_sink(void *ud, const char *line, size_t len, const int *fds, unsigned int nfds)
{
	return ktbpf_wire_send(ud, line, len, fds, nfds, NULL);
}

Test(rpc_peer, request_with_memfd_over_a_socketpair_round_trips)
{
	int before = unit_count_fds(0), sv[2], f = unit_memfd("M", 1);
	struct ktbpf_wire *cw, *sw;
	struct ktbpf_peer *server, *client;
	struct reply r = {0};

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	cw = ktbpf_wire_new(sv[0], NULL);
	sw = ktbpf_wire_new(sv[1], NULL);
	server = ktbpf_peer_new(methods, sizeof(methods) / sizeof(methods[0]), NULL, wire_sink, sw);
	client = ktbpf_peer_new(NULL, 0, NULL, wire_sink, cw);
	cr_assert_eq(ktbpf_peer_call(client, "fd.tags", json_pack("{s:i}", "fds", 1), &f, 1,
				     on_reply, &r, NULL, NULL),
		     0);
	close(f);
	cr_assert_eq(ktbpf_wire_flush(cw, NULL), 0);
	cr_assert_gt(ktbpf_wire_recv(sw, NULL), 0);
	cr_assert_eq(ktbpf_peer_drain(server, sw, NULL), 0);
	cr_assert_eq(ktbpf_wire_flush(sw, NULL), 0);
	cr_assert_gt(ktbpf_wire_recv(cw, NULL), 0);
	cr_assert_eq(ktbpf_peer_drain(client, cw, NULL), 0);
	cr_assert_eq(r.calls, 1);
	cr_assert_str_eq(json_string_value(json_array_get(r.result, 0)), "M");
	json_decref(r.result);
	ktbpf_peer_unref(server);
	ktbpf_peer_unref(client);
	ktbpf_wire_free(cw);
	ktbpf_wire_free(sw);
	close(sv[0]);
	close(sv[1]);
	cr_assert_eq(unit_count_fds(0), before);
}

Test(rpc_peer, truncated_fds_over_a_socket_answer_a_limit_error_and_close_all)
{
	int before = unit_count_fds(0), sv[2], f[20];
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(20 * sizeof(int))];
	} ctl;
	const char *req =
		"{\"jsonrpc\":\"2.0\",\"method\":\"fd.tags\",\"params\":{\"fds\":20},\"id\":1}\n";
	struct iovec iov = {.iov_base = (void *)req, .iov_len = strlen(req)};
	struct msghdr msg = {.msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = ctl.b,
			     .msg_controllen = CMSG_SPACE(sizeof(f))};
	struct ktbpf_wire *sw;
	struct ktbpf_err err = {0};
	struct cmsghdr *c;
	char *got;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	memset(&ctl, 0, sizeof(ctl));
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(f));
	for (int i = 0; i < 20; i++)
		f[i] = unit_memfd("t", 1);
	memcpy(CMSG_DATA(c), f, sizeof(f));
	cr_assert_eq(sendmsg(sv[0], &msg, MSG_NOSIGNAL), (ssize_t)strlen(req));
	for (int i = 0; i < 20; i++)
		close(f[i]);
	sw = ktbpf_wire_new(sv[1], NULL); /* 16 fds per message */
	cr_assert_eq(ktbpf_wire_recv(sw, NULL), -EPROTO);
	cr_assert_eq(ktbpf_peer_drain(peer, sw, &err), -EPROTO);
	got = take_one();
	cr_assert_str_eq(got, "{\"error\":{\"code\":-32005,\"data\":{\"kind\":\"limit\",\"limit\":"
			      "\"fds_per_message\"},\"message\":\"truncated control message: more "
			      "than 16 fds in one message; closing the connection\"},\"id\":null,"
			      "\"jsonrpc\":\"2.0\"}");
	free(got);
	ktbpf_wire_free(sw);
	close(sv[0]);
	close(sv[1]);
	cr_assert_eq(unit_count_fds(0), before);
}
