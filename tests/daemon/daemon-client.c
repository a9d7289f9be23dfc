/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon-client.h"
#include "kit-guest.h"

static int try_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

void daemon_start(struct daemon_proc *dp, const char *const *args)
{
	const char *bin = getenv("KTBPFD");
	const char *argv[32] = {"ktbpfd", "--socket"};
	static char state[96];
	int i, n = 2, fd = -1;

	cr_assert_not_null(bin, "KTBPFD (path of the ktbpfd binary) is not set");
	snprintf(dp->dir, sizeof(dp->dir), "/tmp/ktbpfd-test-XXXXXX");
	cr_assert_not_null(mkdtemp(dp->dir));
	chmod(dp->dir, 0755); /* another uid connects in one test */
	snprintf(dp->sock, sizeof(dp->sock), "%s/sock", dp->dir);
	snprintf(dp->log, sizeof(dp->log), "%s/log", dp->dir);
	argv[n++] = dp->sock;
	/* Never the system's /var/lib/ktbpfd: a state dir per daemon (args may name another). */
	snprintf(state, sizeof(state), "%s/state", dp->dir);
	argv[n++] = "--state-dir";
	argv[n++] = state;
	for (i = 0; args && args[i]; i++)
		argv[n++] = args[i];
	dp->pid = fork();
	cr_assert(dp->pid >= 0);
	if (dp->pid == 0) {
		int lfd;

		/* A failed test must not leave a daemon behind. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		lfd = open(dp->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		dup2(lfd, 2);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	for (i = 0; i < 500 && fd < 0; i++) {
		fd = try_connect(dp->sock);
		if (fd < 0)
			usleep(10000);
	}
	cr_assert(fd >= 0, "ktbpfd did not start listening on %s", dp->sock);
	close(fd);
}

int daemon_stop(struct daemon_proc *dp)
{
	int st = 0;
	char *log;

	kill(dp->pid, SIGTERM);
	cr_assert_eq(waitpid(dp->pid, &st, 0), dp->pid);
	log = unit_slurp(dp->log);
	cr_expect_null(strstr(log, "LeakSanitizer"), "ktbpfd log:\n%s", log);
	cr_expect_null(strstr(log, "AddressSanitizer"), "ktbpfd log:\n%s", log);
	cr_expect_null(strstr(log, "runtime error"), "ktbpfd log:\n%s", log);
	free(log);
	unlink(dp->log);
	unlink(dp->sock);
	rmdir(dp->dir);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void daemon_stop_ok(struct daemon_proc *dp)
{
	cr_assert_eq(daemon_stop(dp), 0, "ktbpfd did not exit 0 after SIGTERM");
}

int daemon_fd_count_settled(const struct daemon_proc *dp, int want)
{
	int n = unit_count_fds(dp->pid);

	/* The daemon closes leftover fds just after it answers: give it a moment. */
	for (int i = 0; i < 100 && n != want; i++) {
		usleep(10000);
		n = unit_count_fds(dp->pid);
	}
	return n;
}

char *daemon_ctl(const struct daemon_proc *dp, const char *args, int *ret_status)
{
	char cmd[1024], *out = calloc(1, 1 << 20);
	size_t n = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "'%s' %s --socket '%s'", getenv("KTBPFCTL"), args, dp->sock);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	while (n < (1 << 20) - 1) {
		size_t r = fread(out + n, 1, (1 << 20) - 1 - n, p);

		if (!r)
			break;
		n += r;
	}
	*ret_status = WEXITSTATUS(pclose(p));
	return out;
}

struct client *client_new(const struct daemon_proc *dp)
{
	struct client *c = calloc(1, sizeof(*c));

	c->fd = try_connect(dp->sock);
	cr_assert(c->fd >= 0, "connect %s: %s", dp->sock, strerror(errno));
	c->next_id = 1;
	return c;
}

void client_free(struct client *c)
{
	if (!c)
		return;
	close(c->fd);
	free(c);
}

void client_send_raw(struct client *c, const char *bytes, size_t len, const int *fds, int nfds)
{
	struct iovec iov = {(void *)bytes, len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	char *cbuf = NULL;
	ssize_t n;

	if (nfds > 0) {
		size_t clen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		struct cmsghdr *cm;

		cbuf = calloc(1, clen);
		mh.msg_control = cbuf;
		mh.msg_controllen = clen;
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
	}
	n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
	cr_assert_eq(n, (ssize_t)len, "sendmsg: %s", strerror(errno));
	/* The rest of a long line goes without fds. */
	free(cbuf);
}

int client_request(struct client *c, const char *method, const char *params, const int *fds,
		   int nfds)
{
	char *line;
	int id = c->next_id++, len;

	len = asprintf(&line, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"%s\"%s%s}\n", id, method,
		       params ? ",\"params\":" : "", params ? params : "");
	cr_assert(len > 0);
	client_send_raw(c, line, (size_t)len, fds, nfds);
	free(line);
	return id;
}

json_t *client_read(struct client *c, int timeout_ms)
{
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);
		struct pollfd pfd = {c->fd, POLLIN, 0};
		ssize_t n;

		if (nl) {
			json_error_t e;
			json_t *j = json_loadb(c->buf, (size_t)(nl - c->buf), 0, &e);

			cr_assert_not_null(j, "daemon sent invalid JSON: %.*s", (int)(nl - c->buf),
					   c->buf);
			c->len -= (size_t)(nl + 1 - c->buf);
			memmove(c->buf, nl + 1, c->len);
			return j;
		}
		if (poll(&pfd, 1, timeout_ms) <= 0)
			return NULL;
		n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
		if (n <= 0)
			return NULL;
		c->len += (size_t)n;
	}
}

json_t *client_call(struct client *c, const char *method, const char *params, const int *fds,
		    int nfds)
{
	int id = client_request(c, method, params, fds, nfds);
	json_t *r = client_read(c, 10000);

	cr_assert_not_null(r, "no answer to %s", method);
	cr_assert_eq(json_integer_value(json_object_get(r, "id")), id, "%s: answer to another id",
		     method);
	return r;
}

void client_call_code(struct client *c, const char *method, const char *params, const int *fds,
		      int nfds, int want)
{
	json_t *r = client_call(c, method, params, fds, nfds);

	cr_assert_eq(resp_code(r), want, "%s: %s", method, json_dumps(r, 0));
	json_decref(r);
}

json_t *client_expect(struct client *c, const char *method, int timeout_ms)
{
	json_t *req = client_read(c, timeout_ms);

	cr_assert_not_null(req, "no %s within %d ms", method, timeout_ms);
	cr_assert_str_eq(json_string_value(json_object_get(req, "method")), method, "%s",
			 json_dumps(req, 0));
	return req;
}

int resp_code(const json_t *resp)
{
	json_t *e = json_object_get(resp, "error");

	return e ? (int)json_integer_value(json_object_get(e, "code")) : 0;
}

void client_answer(struct client *c, const json_t *request, const char *result)
{
	char *id = json_dumps(json_object_get(request, "id"), JSON_ENCODE_ANY);
	char *line;
	int len = asprintf(&line, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":%s}\n", id, result);

	client_send_raw(c, line, (size_t)len, NULL, 0);
	free(line);
	free(id);
}

json_t *wait_state(struct client *c, const char *vm, const char *want, int timeout_ms)
{
	char params[128];
	json_t *r = NULL;

	snprintf(params, sizeof(params), "{\"vm\":\"%s\"}", vm);
	for (int waited = 0;; waited += 20) {
		const char *st;

		json_decref(r);
		r = client_call(c, "vm.status", params, NULL, 0);
		st = json_string_value(json_object_get(json_object_get(r, "result"), "state"));
		if ((st && !strcmp(st, want)) || waited >= timeout_ms)
			return r;
		usleep(20000);
	}
}

const char *result_str(const json_t *resp, const char *key)
{
	return json_string_value(json_object_get(json_object_get(resp, "result"), key));
}

const char *vm_register(struct client *c, const struct kit_guest *g, const struct vm_reg *o)
{
	static char id[32];
	int fd = unit_memfd(g->im->buf, g->im->size);
	char name[32], labels[128] = "", params[512];
	json_t *r;

	if (o->name)
		snprintf(name, sizeof(name), "%s", o->name);
	else
		snprintf(name, sizeof(name), "g%d", c->fd);
	if (o->labels)
		snprintf(labels, sizeof(labels), "\"labels\":%s,", o->labels);
	snprintf(params, sizeof(params),
		 "{\"name\":\"%s\",\"arch\":\"x86_64\",\"fds\":1,\"can_freeze\":%s,%s"
		 "\"regions\":[{\"gpa\":%llu,\"size\":%llu,\"fd\":0}]}",
		 name, o->can_freeze ? "true" : "false", labels,
		 (unsigned long long)g->im->gpa_base, (unsigned long long)g->im->size);
	r = client_call(c, "vm.register", params, &fd, 1);
	cr_assert_eq(resp_code(r), 0, "%s", json_dumps(r, 0));
	snprintf(id, sizeof(id), "%s", result_str(r, "vm"));
	json_decref(r);
	if (o->ret_memfd)
		*o->ret_memfd = fd;
	else
		close(fd);
	return id;
}

void vm_assert_ready(struct client *c, const char *vm)
{
	json_t *st = wait_state(c, vm, "ready", 5000);

	cr_assert_str_eq(result_str(st, "state"), "ready", "%s", json_dumps(st, 0));
	json_decref(st);
}

void guest_bump(struct kit_guest *g, int memfd, uint32_t i, uint32_t cpu, uint64_t cnt,
		uint64_t nsecs)
{
	const struct kit_guest_prog *p = &g->progs[i];

	kit_guest_set_stats(g, i, cpu, p->per_cpu[cpu][0] + cnt, p->per_cpu[cpu][1] + nsecs,
			    p->per_cpu[cpu][2]);
	cr_assert_eq(pwrite(memfd, g->im->buf, g->im->size, 0), (ssize_t)g->im->size);
}

void assert_other_uid_shut_out(const struct daemon_proc *dp, const char *list, const char *key,
			       const char *const (*calls)[2], int n)
{
	pid_t pid = fork();
	int st = 0;

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct client *o;
		json_t *r;
		int bad = 0;

		if (setgid(65534) || setuid(65534))
			_exit(255);
		o = client_new(dp);
		r = client_call(o, list, NULL, NULL, 0);
		bad |= json_array_size(json_object_get(json_object_get(r, "result"), key)) != 0;
		json_decref(r);
		for (int i = 0; i < n; i++) {
			r = client_call(o, calls[i][0], calls[i][1], NULL, 0);
			bad |= (resp_code(r) != -32001) << (i + 1);
			json_decref(r);
		}
		_exit(bad);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "other uid: status %d (bit 0: %s listed ours, bit i: call i not refused)", st,
		  list);
}
