/* SPDX-License-Identifier: MIT */
#ifndef KTBPF_TEST_DAEMON_CLIENT_H
#define KTBPF_TEST_DAEMON_CLIENT_H

/*
 * The daemon tests' side of the protocol, written plainly on purpose (raw
 * sockets, sendmsg with SCM_RIGHTS, one blocking line at a time) so that
 * they test ktbpfd's wire, not a shared implementation of it.
 */

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "unit.h"

struct daemon_proc {
	pid_t pid;
	char dir[64];
	char sock[96];
	char log[96];
};

struct client {
	int fd;
	char buf[1 << 20];
	size_t len;
	int next_id;
};

/* Start $KTBPFD on a fresh socket with extra args (NULL-terminated); wait until it accepts. */
void daemon_start(struct daemon_proc *dp, const char *const *args);
/* SIGTERM, wait: returns the exit status (-1 when killed by a signal); checks the log for sanitizer
 * reports. */
int daemon_stop(struct daemon_proc *dp);
/* daemon_stop(), asserting exit status 0. */
void daemon_stop_ok(struct daemon_proc *dp);
/* Entries in /proc/PID/fd once they equal want, or after a second. */
int daemon_fd_count_settled(const struct daemon_proc *dp, int want);

/* Run `$KTBPFCTL ARGS --socket SOCK` (args: shell words); its stdout (malloc'd, up to 1 MiB) and
 * exit status. */
char *daemon_ctl(const struct daemon_proc *dp, const char *args, int *ret_status);

struct client *client_new(const struct daemon_proc *dp);
void client_free(struct client *c);
/* Send raw bytes (a line or several, or garbage) with fds in one sendmsg. */
void client_send_raw(struct client *c, const char *bytes, size_t len, const int *fds, int nfds);
/* Send a request (params: JSON text, may be NULL) and return its id. */
int client_request(struct client *c, const char *method, const char *params, const int *fds,
		   int nfds);
/* The next message within timeout_ms, or NULL (timeout or end of stream). */
json_t *client_read(struct client *c, int timeout_ms);
/* Request and wait for its response (other messages are an error). */
json_t *client_call(struct client *c, const char *method, const char *params, const int *fds,
		    int nfds);
/* Call and assert the response's error code is want (0: a result); the response is dropped. */
void client_call_code(struct client *c, const char *method, const char *params, const int *fds,
		      int nfds, int want);
/* The next message within timeout_ms, asserted to be a request for method. */
json_t *client_expect(struct client *c, const char *method, int timeout_ms);
/* A response's error code, 0 for a result. */
int resp_code(const json_t *resp);
/* Answer a request the daemon sent us with result (JSON text). */
void client_answer(struct client *c, const json_t *request, const char *result);

/* A response's result.key as a string, or NULL. */
const char *result_str(const json_t *resp, const char *key);

/* How vm_register() registers a kit guest's RAM (one memfd region). */
struct vm_reg {
	const char *name; /* NULL: "g<c's fd>" */
	bool can_freeze;
	const char *labels; /* a JSON object's text, or NULL */
	int *ret_memfd;	    /* non-NULL: the memfd goes here (the caller closes it), else closed */
};

/* vm.register g from c, asserting success; returns the VM id (static buffer). */
const char *vm_register(struct client *c, const struct kit_guest *g, const struct vm_reg *o);
/* Wait until vm is ready (5 s), asserting that it is. */
void vm_assert_ready(struct client *c, const char *vm);

/* Poll vm.status until state is want (or the timeout passes); returns the last status. */
json_t *wait_state(struct client *c, const char *vm, const char *want, int timeout_ms);

/* Add cnt calls and nsecs to program i's counters on cpu, and write g's RAM to memfd. */
void guest_bump(struct kit_guest *g, int memfd, uint32_t i, uint32_t cpu, uint64_t cnt,
		uint64_t nsecs);

/*
 * As another uid (nobody, from a child process; needs root): list's
 * result.key is empty, and each of calls ({method, params}) answers
 * -32001, not the caller's.
 */
void assert_other_uid_shut_out(const struct daemon_proc *dp, const char *list, const char *key,
			       const char *const (*calls)[2], int n);

#endif
