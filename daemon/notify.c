/* SPDX-License-Identifier: MIT */
/*
 * sd_notify(3) for Type=notify: see notify.h. libsystemd's sd_notify() is a
 * no-op returning 0 when $NOTIFY_SOCKET is unset, so a daemon started by
 * hand (--socket PATH) says nothing and runs no timer.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "daemon-internal.h"
#include "notify.h"

/* STATUS= refresh period when no watchdog asks for a shorter one. */
#define STATUS_PERIOD_MS 1000

static uv_timer_t timer;
static bool timer_on, watchdog;
static unsigned last_vms, last_conns;

static void send_status(struct daemon *d, const char *first)
{
	char buf[128];

	last_vms = d->nr_vms;
	last_conns = d->nr_conns;
	snprintf(buf, sizeof(buf), "%sSTATUS=serving %u VM(s), %u connection(s)", first, d->nr_vms,
		 d->nr_conns);
	sd_notify(0, buf);
}

static void on_tick(uv_timer_t *t)
{
	struct daemon *d = t->data;

	if (watchdog)
		sd_notify(0, "WATCHDOG=1");
	if (d->nr_vms != last_vms || d->nr_conns != last_conns)
		send_status(d, "");
}

void notify_ready(struct daemon *d)
{
	uint64_t usec = 0, period_ms = STATUS_PERIOD_MS;

	send_status(d, "READY=1\n");
	if (!getenv("NOTIFY_SOCKET"))
		return;
	/* sd_watchdog_enabled(3): ping at half the interval systemd set (WatchdogSec=). */
	watchdog = sd_watchdog_enabled(0, &usec) > 0;
	if (watchdog && usec / 2000 < period_ms)
		period_ms = usec / 2000 ? usec / 2000 : 1;
	uv_timer_init(d->loop, &timer);
	timer.data = d;
	uv_timer_start(&timer, on_tick, watchdog ? 0 : period_ms, period_ms);
	uv_unref((uv_handle_t *)&timer); /* never what keeps the loop running */
	timer_on = true;
}

void notify_stopping(struct daemon *d)
{
	sd_notifyf(0, "STOPPING=1\nSTATUS=stopping: draining %u connection(s), %u VM(s)",
		   d->nr_conns, d->nr_vms);
	if (timer_on) {
		uv_close((uv_handle_t *)&timer, NULL);
		timer_on = false;
	}
}

void notify_reloading(struct daemon *d)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading settings",
		   (unsigned long long)ts.tv_sec * 1000000ull +
			   (unsigned long long)ts.tv_nsec / 1000);
}

void notify_reloaded(struct daemon *d)
{
	send_status(d, "READY=1\n");
}
