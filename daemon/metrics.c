/* SPDX-License-Identifier: MIT */
/*
 * Metrics for fleets: metrics.get and the textfile-collector file render
 * every VM the caller may see in the Prometheus text format (rpc/metrics.c).
 *
 * A scrape never freezes a guest: each VM with a kernel gets a snapshot
 * request with freeze=never, which joins the VM's round in flight when it
 * can (a frozen or live walk already under way) and otherwise waits for its
 * own live round. VMs are rendered apart as their walks end and merged in
 * list order, so the text does not depend on which walk finished first.
 *
 * The daemon opens no TCP port: Prometheus reads the textfile through
 * node_exporter's textfile collector (written as PATH.tmp.PID, then renamed
 * over PATH), or a separate exporter asks metrics.get.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ktbpf/jsonrpc.h"
#include "ktbpf/metrics.h"
#include "ktbpf/translate.h"
#include "daemon-internal.h"

struct scrape;

struct scrape_vm {
	struct scrape *sc;
	struct vm *vm; /* a reference */
	struct ktbpf_metrics *m;
};

struct scrape {
	struct daemon *d;
	struct ktbpf_peer_req *req; /* metrics.get, or NULL for the textfile */
	uint64_t t0;
	unsigned pending; /* VMs not rendered yet, plus one while the scrape starts */
	bool oom;
	size_t n;
	struct scrape_vm v[];
};

static void render_vm(struct scrape_vm *sv, const struct ktbpf_snapshot *s)
{
	struct ktbpf_metrics_vm mv = {
		.name = sv->vm->name,
		.id = sv->vm->id,
		.arch = ktbpf_arch_name(sv->vm->arch),
		.state = vm_state_name(sv->vm),
	};

	if (!sv->m || ktbpf_metrics_add_vm(sv->m, &mv, s) < 0)
		sv->sc->oom = true;
}

static int write_textfile(const char *path, const char *text, size_t len)
{
	size_t plen = strlen(path) + 32, off = 0;
	char *tmp = malloc(plen);
	int fd, r = 0;

	if (!tmp)
		return -ENOMEM;
	snprintf(tmp, plen, "%s.tmp.%d", path, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			break;
		}
		off += (size_t)n;
	}
	if (close(fd) < 0 && !r)
		r = -errno;
	if (!r && rename(tmp, path) < 0)
		r = -errno;
	if (r)
		unlink(tmp);
out:
	free(tmp);
	return r;
}

static void scrape_finish(struct scrape *sc)
{
	struct ktbpf_metrics *all = ktbpf_metrics_new();
	char *text = NULL;
	size_t len = 0;

	for (size_t i = 0; all && i < sc->n; i++)
		if (!sc->v[i].m || ktbpf_metrics_merge(all, sc->v[i].m) < 0)
			sc->oom = true;
	if (all && !sc->oom)
		text = ktbpf_metrics_finish(all, KTBPF_VERSION, true, now_ns() - sc->t0, &len);
	if (sc->req) {
		if (text)
			ktbpf_peer_req_result(sc->req, json_pack("{s:s, s:s%}", "content_type",
								 KTBPF_METRICS_CONTENT_TYPE, "text",
								 text, len));
		else
			ktbpf_peer_req_error(sc->req, KTBPF_JSONRPC_INTERNAL_ERROR, NULL,
					     "out of memory for the metrics text");
	} else {
		int r = text ? write_textfile(sc->d->set.metrics_textfile, text, len) : -ENOMEM;

		if (r < 0)
			fprintf(stderr, "ktbpfd: metrics textfile '%s': %s\n",
				sc->d->set.metrics_textfile, strerror(-r));
		sc->d->metrics_busy = false;
	}
	free(text);
	ktbpf_metrics_free(all);
	for (size_t i = 0; i < sc->n; i++) {
		ktbpf_metrics_free(sc->v[i].m);
		vm_unref(sc->v[i].vm);
	}
	free(sc);
}

static void scrape_put(struct scrape *sc)
{
	if (--sc->pending == 0)
		scrape_finish(sc);
}

static void on_vm_snapshot(void *ud, struct vm *vm, const struct ktbpf_snapshot *s)
{
	struct scrape_vm *sv = ud;

	render_vm(sv, s);
	scrape_put(sv->sc);
}

/* Scrape every VM uid may see (root: all); answers req, or writes the textfile when req is NULL. */
static int scrape_start(struct daemon *d, struct ktbpf_peer_req *req, uid_t uid)
{
	struct scrape *sc;
	size_t n = 0;

	for (struct list *p = d->vms.next; p != &d->vms; p = p->next)
		n += vm_visible(list_entry(p, struct vm, link), uid);
	sc = calloc(1, sizeof(*sc) + n * sizeof(sc->v[0]));
	if (!sc)
		return -ENOMEM;
	sc->d = d;
	sc->req = req;
	sc->t0 = now_ns();
	for (struct list *p = d->vms.next; p != &d->vms && sc->n < n; p = p->next) {
		struct vm *vm = list_entry(p, struct vm, link);

		if (!vm_visible(vm, uid))
			continue;
		sc->v[sc->n].sc = sc;
		sc->v[sc->n].vm = vm_ref(vm);
		sc->v[sc->n].m = ktbpf_metrics_new();
		sc->n++;
	}
	sc->pending = 1;
	for (size_t i = 0; i < sc->n; i++) {
		struct scrape_vm *sv = &sc->v[i];

		/* freeze=never: a scrape walks the running guest (or joins a walk under way). */
		if (sv->vm->kernel && !sv->vm->gone) {
			sc->pending++;
			if (vm_snapshot_internal(sv->vm, FREEZE_NEVER, on_vm_snapshot, sv) < 0) {
				sc->oom = true;
				sc->pending--;
			}
		} else
			render_vm(sv, NULL);
	}
	scrape_put(sc);
	return 0;
}

void m_metrics_get(struct ktbpf_peer_req *req, void *userdata)
{
	struct conn *c = ktbpf_peer_userdata(ktbpf_peer_req_peer(req));

	if (c->d->draining) {
		ktbpf_peer_req_error(req, KTBPF_JSONRPC_INTERNAL_ERROR, NULL,
				     "ktbpfd is shutting down: no new requests");
		return;
	}
	if (scrape_start(c->d, req, c->uid) < 0)
		ktbpf_peer_req_error(req, KTBPF_JSONRPC_INTERNAL_ERROR, NULL, "out of memory");
}

static void on_metrics_timer(uv_timer_t *t)
{
	struct daemon *d = t->data;

	/* One textfile scrape at a time: a slow walk delays the next rewrite, never stacks them. */
	if (d->metrics_busy || d->draining)
		return;
	d->metrics_busy = true;
	if (scrape_start(d, NULL, 0) < 0) {
		d->metrics_busy = false;
		fprintf(stderr, "ktbpfd: metrics textfile: out of memory\n");
	}
}

int metrics_textfile_start(struct daemon *d)
{
	int r;

	if (!d->set.metrics_textfile)
		return 0;
	r = uv_timer_init(d->loop, &d->metrics_timer);
	if (r < 0)
		return r;
	d->metrics_timer.data = d;
	d->metrics_timer_on = true;
	/* The first file at once (every VM down until registered), then every interval. */
	return uv_timer_start(&d->metrics_timer, on_metrics_timer, 0, d->set.metrics_interval_ms);
}

/* SIGHUP: the textfile's path or period may have changed (the file at once, then every period). */
void metrics_textfile_reload(struct daemon *d)
{
	if (!d->metrics_timer_on) {
		if (metrics_textfile_start(d) < 0)
			fprintf(stderr, "ktbpfd: metrics timer: cannot start\n");
		return;
	}
	if (d->set.metrics_textfile)
		uv_timer_start(&d->metrics_timer, on_metrics_timer, 0, d->set.metrics_interval_ms);
	else
		uv_timer_stop(&d->metrics_timer);
}
