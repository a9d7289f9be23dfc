/* SPDX-License-Identifier: MIT */
/*
 * ktbpfd's request dispatch over arbitrary bytes: a daemon object (loop,
 * settings, lists; no listening socket) and one connection whose wire is fed
 * the input directly and whose answers go to a sink (no socket either),
 * serving the daemon's real method table: vm.register with memfds as RAM,
 * vm.snapshot, metrics.get, vm.status, rpc.discover and the rest. After each
 * input the thread pool's discoveries and walks finish, the connection and
 * every VM are removed and the loop runs dry. Oracles besides no
 * crash/leak/hang: every answer is one line of valid JSON; every fd handed
 * in is closed once the connection and the VMs are gone. No dump store is
 * opened (d.dumps NULL): vm.dump and dump.* take their "no store" paths and
 * write nothing. The memfds are too small to hold a kernel, so discovery
 * fails or waits and snapshots answer kernel_not_ready: the walks themselves
 * are fuzz-walk's.
 *
 * Input: byte 0 picks the chunk count (1..4), byte 1 the memfds per chunk
 * (0..3), byte 2 the memfds' size in pages (0..15); the rest is the byte
 * stream, cut into equal chunks.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon-internal.h"
#include "fuzz-common.h"

#define MAX_FDS (4 * 3)

static struct daemon d;

void fuzz_setup(void)
{
	d.loop = uv_default_loop();
	d.set = (struct settings){
		.max_connections = 4,
		.max_line = 1 << 16,
		.max_fds_msg = 4,
		.max_fds_queued = 8,
		.max_pending = 8,
		.max_vms = 4,
		.max_regions = 4,
		.max_out = 1 << 20,
		.freeze_timeout_ms = 10,
		.retention_ms = 10,
		.retry_min_ms = 1,
		.retry_max_ms = 2,
		.drain_timeout_ms = 10,
		.metrics_interval_ms = 1000,
	};
	d.start_ns = now_ns();
	d.next_vm_id = 1;
	list_init(&d.conns);
	list_init(&d.vms);
	uv_timer_init(d.loop, &d.reap_timer);
	uv_timer_init(d.loop, &d.drain_timer);
	d.reap_timer.data = d.drain_timer.data = &d;
}

/* Run the loop until the thread pool is idle (bounded: discoveries of tiny memfds are quick). */
static void settle(void)
{
	for (int i = 0; i < 10000 && d.works; i++)
		uv_run(d.loop, UV_RUN_ONCE);
	if (d.works)
		fuzz_die("thread pool work never finished", NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ucred cred = {.pid = getpid(), .uid = getuid(), .gid = getgid()};
	int fds[MAX_FDS];
	unsigned int nfds = 0, chunks, per;
	size_t off = 0, step, pages;
	struct conn *c;
	int efd, i;

	if (size < 3)
		return 0;
	chunks = 1 + data[0] % 4;
	per = data[1] % 4;
	pages = data[2] % 16;
	data += 3;
	size -= 3;
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); /* the poll handle's fd: never readable */
	if (efd < 0)
		fuzz_die("eventfd", strerror(errno));
	c = conn_new(&d, efd, &cred, fuzz_json_line_sink);
	if (!c)
		fuzz_die("out of memory", NULL);
	step = size / chunks + 1;
	for (unsigned int k = 0; k < chunks && !c->closing && !ktbpf_wire_error(c->w); k++) {
		size_t n = size - off < step ? size - off : step;
		int mine[3];

		for (unsigned int j = 0; j < per; j++) {
			static uint8_t page[4096 * 16];

			fds[nfds++] = mine[j] = fuzz_memfd(page, pages * 4096 ? pages * 4096 : 1);
		}
		ktbpf_wire_feed(c->w, data + off, n, mine, per, NULL);
		if (ktbpf_peer_drain(c->peer, c->w, NULL) < 0)
			break;
		uv_run(d.loop, UV_RUN_NOWAIT);
		off += n;
	}
	settle();
	conns_close_all(&d);
	while (d.vms.next != &d.vms)
		vm_remove(list_entry(d.vms.next, struct vm, link));
	settle();
	for (i = 0; i < 1000 && uv_run(d.loop, UV_RUN_NOWAIT); i++)
		;
	if (d.nr_conns || d.nr_vms)
		fuzz_die("a connection or a VM outlived the input", NULL);
	for (unsigned int j = 0; j < nfds; j++)
		if (fcntl(fds[j], F_GETFD) >= 0 || errno != EBADF)
			fuzz_die("an fd handed to the daemon is still open", NULL);
	return 0;
}

static void seed(const char *dir, const char *name, uint8_t chunks, uint8_t fds, uint8_t pages,
		 const char *s)
{
	size_t n = strlen(s);
	uint8_t *b = malloc(n + 3);

	b[0] = chunks;
	b[1] = fds;
	b[2] = pages;
	memcpy(b + 3, s, n);
	fuzz_seed_write(dir, name, b, n + 3);
	free(b);
}

void fuzz_write_seeds(const char *dir)
{
	seed(dir, "register-snapshot-metrics", 0, 1, 4,
	     "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"vm.register\",\"params\":{\"name\":\"a\","
	     "\"arch\":\"x86_64\",\"fds\":1,\"regions\":[{\"gpa\":0,\"size\":16384,\"fd\":0}]}}\n"
	     "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"vm.snapshot\",\"params\":{\"vm\":\"a\","
	     "\"freeze\":\"never\"}}\n"
	     "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"metrics.get\"}\n"
	     "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"vm.status\",\"params\":{\"vm\":\"vm-1\"}}"
	     "\n");
	seed(dir, "list-info-discover", 0, 0, 0,
	     "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"vm.list\"}\n"
	     "[{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"daemon.info\"},"
	     "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"rpc.discover\"}]\n");
	seed(dir, "reset-unregister", 1, 2, 1,
	     "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"vm.register\",\"params\":{\"name\":\"b\","
	     "\"arch\":\"aarch64\",\"fds\":2,\"cpus\":4,\"can_freeze\":true,\"regions\":[{\"gpa\":"
	     "4096,\"size\":4096,\"fd\":1}],\"hints\":{\"vmcoreinfo_pa\":4096}}}\n"
	     "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"vm.snapshot\",\"params\":{\"vm\":\"b\"}}\n"
	     "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"vm.reset\",\"params\":{\"vm\":\"b\"}}\n"
	     "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"vm.unregister\",\"params\":{\"vm\":\"b\"}}"
	     "\n");
}
