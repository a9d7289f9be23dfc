/* SPDX-License-Identifier: MIT */
#ifndef KTBPF_CLIENT_H
#define KTBPF_CLIENT_H

/*
 * libktbpf-client: talk to ktbpfd, the daemon that reads guest kernels'
 * struct_ops BPF programs from their RAM. For VMMs (register a guest's RAM
 * by fd, pause and resume its vCPUs when the daemon asks) and for test
 * runners and tools (list, status, snapshot).
 *
 * The protocol is JSON-RPC 2.0, one JSON object per line on a Unix stream
 * socket, fds as SCM_RIGHTS (rpc/openrpc.json in the ktbpf sources describes
 * every method). Results are jansson values, shaped as that document says.
 *
 * No threads and no event loop are forced on the caller:
 *  - Calls (ktbpf_client_register(), _snapshot(), ...) block until the answer
 *    comes or the timeout passes, and serve the daemon's own requests
 *    (vm.freeze, vm.thaw) while they wait, so a VMM that asks for a frozen
 *    snapshot of its own guest does not deadlock.
 *  - Between calls, a VMM polls ktbpf_client_fd() for ktbpf_client_events()
 *    in its own loop and calls ktbpf_client_process() when it is ready; that
 *    never blocks, and answers vm.freeze / vm.thaw through the callbacks.
 *
 * Errors: negative errno, and err (may be NULL) filled with a message. An
 * error the daemon answered keeps its message and maps to an errno:
 *   -ENOENT      no such VM (vm_unknown) or dump (dump_unknown)
 *   -EACCES      another uid's VM (not_permitted)
 *   -EINPROGRESS the guest kernel is not discovered yet (kernel_not_ready):
 *                retry later
 *   -ETIMEDOUT   the VMM did not freeze in time (freeze_timeout), or no
 *                answer within the client's timeout
 *   -EFAULT      guest memory unreadable (guest_memory)
 *   -EUSERS      a daemon limit was reached (limit)
 *   -EOPNOTSUPP  the daemon does not know the method
 *   -EINVAL      the daemon rejected the params or request
 *   -EREMOTEIO   any other error the daemon answered
 * and ktbpf_client_last_error() returns the daemon's whole error object.
 * -ECONNRESET / -EPIPE: the daemon went away (the client is then useless:
 * free it).
 *
 * Thread safety: none; one client is used by one thread at a time.
 */

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "ktbpf/err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where the system's ktbpfd listens (systemd/ktbpfd.socket). */
#define KTBPF_CLIENT_SYSTEM_SOCKET "/run/ktbpf/ktbpfd.sock"
/* The environment variable that names another socket. */
#define KTBPF_CLIENT_SOCKET_ENV "KTBPF_SOCKET"
/* Default time a call waits for its answer. */
#define KTBPF_CLIENT_TIMEOUT_MS 30000

struct ktbpf_client;

/*
 * The socket path a client uses for path: path itself when non-NULL and
 * non-empty, else $KTBPF_SOCKET when set and non-empty, else
 * KTBPF_CLIENT_SYSTEM_SOCKET. Borrowed; never NULL.
 */
const char *ktbpf_client_socket_path(const char *path);

/*
 * Connect to ktbpfd at path (see ktbpf_client_socket_path()). The socket is
 * nonblocking and close-on-exec. Errors: -errno from socket()/connect()
 * (-ENOENT: no daemon listens there; -EACCES: not allowed to), -ENAMETOOLONG,
 * -ENOMEM. Free with ktbpf_client_free().
 */
int ktbpf_client_connect(const char *path, struct ktbpf_client **ret_client, struct ktbpf_err *err);

/* Close the connection and free. A VM registered on it stays readable in the
 * daemon ("detached") until it expires or is unregistered. NULL ok. */
struct ktbpf_client *ktbpf_client_free(struct ktbpf_client *c);

/* How long a call waits for its answer (ms; 0: forever). */
void ktbpf_client_set_timeout(struct ktbpf_client *c, uint64_t timeout_ms);

/*
 * Freeze and thaw, for a VMM that registered with can_freeze. freeze pauses
 * the VM's vCPUs and returns 0 when they are paused (the daemon then reads a
 * still guest), or a negative errno when it cannot (the snapshot is then
 * taken live, or fails when the asker required a freeze). thaw resumes them;
 * the daemon sends it after every successful freeze. vm is the id the daemon
 * gave at registration. Called from ktbpf_client_process() or while a call
 * waits; they must not call into this client.
 */
struct ktbpf_client_vmm_ops {
	int (*freeze)(void *userdata, const char *vm);
	int (*thaw)(void *userdata, const char *vm);
};
void ktbpf_client_set_vmm_ops(struct ktbpf_client *c, const struct ktbpf_client_vmm_ops *ops,
			      void *userdata);

/*
 * Freeze and thaw answered later, for a VMM that pauses its vCPUs from its
 * own loop (QEMU's main loop, after the vCPU threads have stopped) rather
 * than inside a callback. freeze / thaw are called as above, with a pending
 * answer p; they return at once, and the VMM answers once, from wherever it
 * likes (the callback itself included, or later from its loop, on the
 * thread that uses c), with ktbpf_client_answer(). The daemon waits for a
 * freeze as long as its freeze timeout; a freeze answered after it is
 * thawed at once. Replaces the synchronous ops (ktbpf_client_set_vmm_ops()
 * replaces these in turn); NULL ops: none. Pending answers not given by
 * ktbpf_client_free() are answered "cannot" there.
 */
struct ktbpf_client_pending;
struct ktbpf_client_vmm_async_ops {
	void (*freeze)(void *userdata, const char *vm, struct ktbpf_client_pending *p);
	void (*thaw)(void *userdata, const char *vm, struct ktbpf_client_pending *p);
};
void ktbpf_client_set_vmm_async_ops(struct ktbpf_client *c,
				    const struct ktbpf_client_vmm_async_ops *ops, void *userdata);

/*
 * Answer a pending freeze or thaw: result 0 (the vCPUs are paused, or
 * running again), or a negative errno (cannot). p is freed. Returns 0, or
 * -ENOENT when p is not one of c's pending answers (answered already). The
 * answer is queued like any message: it goes out at the next
 * ktbpf_client_process() or call, or at once when the socket takes it.
 */
int ktbpf_client_answer(struct ktbpf_client *c, struct ktbpf_client_pending *p, int result);

/* How many freeze/thaw answers are pending (asked, not yet answered). */
unsigned int ktbpf_client_pending_answers(const struct ktbpf_client *c);

/* The connected socket, for the caller's poll()/epoll/event loop. */
int ktbpf_client_fd(const struct ktbpf_client *c);

/* POLLIN, plus POLLOUT while output waits for the socket. */
short ktbpf_client_events(const struct ktbpf_client *c);

/*
 * Do what the socket allows without blocking: read, serve the daemon's
 * requests (vm.freeze, vm.thaw), write pending output. Returns 0, or
 * -ECONNRESET when the daemon closed the connection, -errno on a socket
 * error, -EPROTO on a protocol error.
 */
int ktbpf_client_process(struct ktbpf_client *c, struct ktbpf_err *err);

/*
 * Any method: params (stolen; NULL for none) with nfds fds (the caller keeps
 * its own), block until the answer. On success *ret_result is the result (a
 * new reference; NULL ret_result drops it). Errors as described above.
 */
int ktbpf_client_call(struct ktbpf_client *c, const char *method, json_t *params, const int *fds,
		      unsigned int nfds, json_t **ret_result, struct ktbpf_err *err);

/* The last error object the daemon answered ({code, message, data}; borrowed,
 * valid until the next call), or NULL. */
const json_t *ktbpf_client_last_error(const struct ktbpf_client *c);

/*
 * Guest physical [gpa, gpa + size) is bytes [offset, offset + size) of fd.
 * Seal a guest RAM memfd against shrinking before registering it
 * (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK), as QEMU's memory-backend-memfd
 * does with seal=on): the daemon then maps it read-only and walks in place;
 * any other fd is read with pread(), a system call per read (walks several
 * times slower; vm.status says "pread" for such a region).
 */
struct ktbpf_client_region {
	uint64_t gpa;
	uint64_t size;
	int fd;
	uint64_t offset;
};

/* A VM to register. Optional members are 0 / NULL / -1 (fds) when absent. */
struct ktbpf_client_vm {
	const char *name; /* unique per uid */
	const char *arch; /* "x86_64" or "aarch64" */
	const struct ktbpf_client_region *regions;
	unsigned int nr_regions;
	uint32_t cpus;	 /* vCPUs, 0: unknown */
	bool can_freeze; /* this connection serves vm.freeze / vm.thaw */
	json_t *labels;	 /* borrowed: {"key": "value"}, NULL: none */
	int vmlinux_fd;	 /* hints: -1 when absent */
	int btf_fd;
	int system_map_fd;
	uint64_t cr3, tcr_el1, ttbr1, vmcoreinfo_pa, kaslr_offset; /* 0: absent */
};

/* Initialise vm with no hints (fds -1). */
void ktbpf_client_vm_init(struct ktbpf_client_vm *vm);

/*
 * Register vm (vm.register): its regions' fds (shared fds sent once) and
 * hint fds travel with the request; the caller keeps its own. On success
 * *ret_id (may be NULL) is the daemon's id for the VM, to free().
 */
int ktbpf_client_register(struct ktbpf_client *c, const struct ktbpf_client_vm *vm, char **ret_id,
			  struct ktbpf_err *err);

/* vm.unregister: vm is an id or a name. */
int ktbpf_client_unregister(struct ktbpf_client *c, const char *vm, struct ktbpf_err *err);

/* vm.list: *ret is {"vms": [VmInfo...]}. */
int ktbpf_client_list(struct ktbpf_client *c, json_t **ret, struct ktbpf_err *err);

/* vm.status: *ret is a VmStatus. */
int ktbpf_client_status(struct ktbpf_client *c, const char *vm, json_t **ret,
			struct ktbpf_err *err);

/*
 * vm.snapshot with freeze "require", "prefer" or "never" (NULL: the daemon's
 * default, prefer): *ret is a Snapshot (programs, struct_ops instances, the
 * active one, kernel, frozen, freeze_ns, walk_ns).
 */
int ktbpf_client_snapshot(struct ktbpf_client *c, const char *vm, const char *freeze, json_t **ret,
			  struct ktbpf_err *err);

/*
 * vm.dump: freeze (freeze as for ktbpf_client_snapshot), snapshot and store a
 * failure dump in ktbpfd's store; reason and test may be NULL. Works on a
 * detached VM (its VMM gone: no freeze, the dump says so). *ret is the
 * stored dump's DumpInfo (dump: its id, vm, time, reason, test, frozen,
 * detached, size, compressed_size).
 */
int ktbpf_client_dump(struct ktbpf_client *c, const char *vm, const char *freeze,
		      const char *reason, const char *test, json_t **ret, struct ktbpf_err *err);

/* dump.list: *ret is {"dumps": [DumpInfo...]}, newest first; vm (name or id) and limit (0: all)
 * filter. Only the caller's dumps (all of them for root). */
int ktbpf_client_dump_list(struct ktbpf_client *c, const char *vm, unsigned int limit, json_t **ret,
			   struct ktbpf_err *err);

/* dump.get: *ret is the whole dump document (schema "ktbpf.failure-dump", its snapshot). */
int ktbpf_client_dump_get(struct ktbpf_client *c, const char *id, json_t **ret,
			  struct ktbpf_err *err);

/* dump.delete: remove a stored dump. */
int ktbpf_client_dump_delete(struct ktbpf_client *c, const char *id, struct ktbpf_err *err);

#ifdef __cplusplus
}
#endif

#endif
