/* SPDX-License-Identifier: MIT */
/*
 * The RPC line parser and dispatch over arbitrary bytes: a socketless wire
 * fed the input in chunks, each chunk with some memfds attached, drained
 * into a peer serving a small method table (one that takes fds, one that
 * answers later, one with a params schema) and waiting on calls of its own
 * (so responses can match). Oracles besides no crash/leak/hang: every output
 * is one line of valid JSON, an object or an array; every fd handed in is
 * closed once the wire, the peer and the held requests are gone; the wire
 * never holds more fds than its limit; rpc/json.c agrees with jansson on
 * every line of the input (the same values or both refuse; the same text
 * written back).
 *
 * Input: byte 0 picks the chunk count (1..4) and byte 1 the fds per chunk
 * (0..5; more than the wire's 4 per message exercises the truncation path);
 * the rest is the byte stream, cut into equal chunks.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz-common.h"
#include "ktbpf/json.h"
#include "ktbpf/peer.h"

#define MAX_HELD 8
#define MAX_FDS	 (4 * 5)

static struct ktbpf_peer_req *held[MAX_HELD];
static unsigned int nheld;

static void m_echo(struct ktbpf_peer_req *req, void *ud)
{
	ktbpf_peer_req_result(req, json_deep_copy(ktbpf_peer_req_params(req)));
}

static void m_fds(struct ktbpf_peer_req *req, void *ud)
{
	int fd = ktbpf_peer_req_take_fd(req, 0);

	if (fd >= 0)
		close(fd);
	ktbpf_peer_req_error(req, KTBPF_JSONRPC_GUEST_MEMORY, NULL, "fd %d taken", fd);
}

static void m_later(struct ktbpf_peer_req *req, void *ud)
{
	if (nheld == MAX_HELD) {
		ktbpf_peer_req_result(req, json_null());
		return;
	}
	held[nheld++] = req;
}

static const struct ktbpf_peer_param echo_params[] = {
	{"text", KTBPF_PARAM_STRING, true},
	{"n", KTBPF_PARAM_UINT, false},
	{"o", KTBPF_PARAM_OBJECT, false},
	{"a", KTBPF_PARAM_ARRAY, false},
	{"b", KTBPF_PARAM_BOOL, false},
	{"i", KTBPF_PARAM_INT, false},
	{0},
};

static const struct ktbpf_peer_method methods[] = {
	{"echo", echo_params, 0, m_echo},
	{"vm.register", NULL, 3, m_fds},
	{"later", NULL, 2, m_later},
};

static void on_reply(void *ud, json_t *result, json_t *error)
{
	if (!!result == !!error)
		fuzz_die("a reply has exactly one of result and error", NULL);
}

/* ktbpf_json_decode()/_encode() against json_loadb()/json_dumps() on one line. */
static void check_json(const char *line, size_t len)
{
	json_t *want = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
	json_t *got = ktbpf_json_decode(line, len, NULL);

	if (!want != !got || (got && !json_equal(got, want)))
		fuzz_die("rpc/json.c and jansson disagree on a line", NULL);
	if (got) {
		char *a = ktbpf_json_encode(got, NULL),
		     *b = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);

		if (!a != !b || (a && strcmp(a, b)))
			fuzz_die("rpc/json.c writes other text than jansson", NULL);
		free(a);
		free(b);
	}
	json_decref(got);
	json_decref(want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ktbpf_wire_limits lim;
	int fds[MAX_FDS];
	unsigned int nfds = 0, chunks, per;
	struct ktbpf_wire *w;
	struct ktbpf_peer *p;
	size_t off = 0, step;

	if (size < 2)
		return 0;
	chunks = 1 + data[0] % 4;
	per = data[1] % 6;
	data += 2;
	size -= 2;
	for (size_t at = 0; at < size;) {
		const uint8_t *nl = memchr(data + at, '\n', size - at);
		size_t len = nl ? (size_t)(nl - (data + at)) : size - at;

		check_json((const char *)data + at, len);
		at += len + 1;
	}
	ktbpf_wire_limits_default(&lim);
	lim.max_line = 4096;
	lim.max_fds_msg = 4;
	lim.max_fds_queued = 8;
	w = ktbpf_wire_new(-1, &lim);
	p = ktbpf_peer_new(methods, sizeof(methods) / sizeof(methods[0]), NULL, fuzz_json_line_sink,
			   NULL);
	if (!w || !p)
		fuzz_die("out of memory", NULL);
	ktbpf_peer_call(p, "vm.freeze", NULL, NULL, 0, on_reply, NULL, NULL, NULL);
	ktbpf_peer_call(p, "vm.thaw", NULL, NULL, 0, on_reply, NULL, NULL, NULL);
	step = size / chunks + 1;
	for (unsigned int c = 0; c < chunks && !ktbpf_wire_error(w); c++) {
		size_t n = size - off < step ? size - off : step;
		int mine[5];

		for (unsigned int i = 0; i < per; i++)
			fds[nfds++] = mine[i] = fuzz_memfd("x", 1);
		ktbpf_wire_feed(w, data + off, n, mine, per, NULL);
		if (ktbpf_wire_fds_queued(w) > lim.max_fds_queued)
			fuzz_die("more fds queued than the limit", NULL);
		if (ktbpf_peer_drain(p, w, NULL) < 0)
			break;
		off += n;
	}
	while (nheld)
		ktbpf_peer_req_result(held[--nheld], json_true());
	ktbpf_peer_close(p);
	ktbpf_peer_unref(p);
	ktbpf_wire_free(w);
	for (unsigned int i = 0; i < nfds; i++)
		if (fcntl(fds[i], F_GETFD) >= 0 || errno != EBADF)
			fuzz_die("an fd handed to the wire is still open", NULL);
	return 0;
}

static void seed(const char *dir, const char *name, uint8_t chunks, uint8_t fds, const char *s)
{
	size_t n = strlen(s);
	uint8_t *b = malloc(n + 2);

	b[0] = chunks;
	b[1] = fds;
	memcpy(b + 2, s, n);
	fuzz_seed_write(dir, name, b, n + 2);
	free(b);
}

void fuzz_write_seeds(const char *dir)
{
	seed(dir, "echo", 0, 0,
	     "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{\"text\":\"hi\",\"n\":3},"
	     "\"id\":1}\n");
	seed(dir, "register-fds", 1, 2,
	     "{\"jsonrpc\":\"2.0\",\"method\":\"vm.register\",\"params\":{\"fds\":2},\"id\":\"r\"}"
	     "\n"
	     "{\"jsonrpc\":\"2.0\",\"method\":\"vm.register\",\"params\":{\"fds\":3},\"id\":2}\n");
	seed(dir, "batch", 0, 1,
	     "[{\"jsonrpc\":\"2.0\",\"method\":\"later\",\"params\":{\"fds\":1},\"id\":1},"
	     "{\"jsonrpc\":\"2.0\",\"method\":\"echo\"},1,[],{}]\n[]\n");
	seed(dir, "responses", 2, 0,
	     "{\"jsonrpc\":\"2.0\",\"result\":{\"frozen\":true},\"id\":1}\n"
	     "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32003,\"message\":\"x\"},\"id\":2}\n"
	     "{\"jsonrpc\":\"2.0\",\"result\":0,\"id\":7}\n");
	seed(dir, "malformed", 3, 5, "{\"jsonrpc\":\"2.0\",\"method\"\n\r\n\n{\"a\":1,\"a\":2}\n");
}
