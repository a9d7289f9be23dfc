/* SPDX-License-Identifier: MIT */
/*
 * What every part of the daemon shares: the clock, the intrusive list, and
 * the drain at exit (SIGTERM: in-flight work finishes, every frozen VM is
 * thawed, then the loop's handles close and uv_run() returns).
 */
#include <stddef.h>
#include <time.h>

#include "daemon-internal.h"

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void list_init(struct list *l)
{
	l->prev = l->next = l;
}

void list_add(struct list *head, struct list *n)
{
	n->prev = head->prev;
	n->next = head;
	head->prev->next = n;
	head->prev = n;
}

void list_del(struct list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = n;
}

/* Exit once no walk, freeze or discovery is in flight (every frozen VM thawed), or at the deadline.
 */
void daemon_check_drain(struct daemon *d)
{
	struct list *p;
	bool busy = d->works > 0 || d->frozen_vms > 0;

	if (!d->draining || d->drained)
		return;
	for (p = d->vms.next; !busy && p != &d->vms; p = p->next)
		busy = list_entry(p, struct vm, link)->round != ROUND_IDLE;
	if (busy && now_ns() < d->drain_deadline_ns)
		return;
	if (busy && d->works > 0)
		return; /* a work item cannot be cancelled once it runs: walks are bounded */
	/* Closing connections completes calls whose callbacks come back here: once is enough. */
	d->drained = true;
	uv_timer_stop(&d->drain_timer);
	conns_close_all(d);
	while (d->vms.next != &d->vms)
		vm_remove(list_entry(d->vms.next, struct vm, link));
	uv_close((uv_handle_t *)&d->sigterm, NULL);
	uv_close((uv_handle_t *)&d->sigint, NULL);
	if (d->sighup.loop) /* initialised (ktbpfd.c; not in fuzz/fuzz-daemon.c) */
		uv_close((uv_handle_t *)&d->sighup, NULL);
	uv_close((uv_handle_t *)&d->reap_timer, NULL);
	uv_close((uv_handle_t *)&d->drain_timer, NULL);
	if (d->metrics_timer_on)
		uv_close((uv_handle_t *)&d->metrics_timer, NULL);
	d->metrics_timer_on = false;
}
