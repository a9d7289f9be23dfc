/* SPDX-License-Identifier: MIT */
#ifndef KTBPFD_NOTIFY_H
#define KTBPFD_NOTIFY_H

/*
 * ktbpfd's messages to its service manager (sd_notify(3), Type=notify):
 * READY=1 once the sockets listen, STATUS= with the VM and connection
 * counts (refreshed from a loop timer when they change), WATCHDOG=1 from
 * the same timer at half of WatchdogSec= (so a stuck loop is caught, not a
 * busy thread pool), RELOADING=1 and READY=1 around a SIGHUP reload,
 * STOPPING=1 when a signal starts the drain. Without
 * $NOTIFY_SOCKET every call is a no-op and no timer runs.
 *
 * Thread safety: the loop thread only; one daemon per process (the timer
 * is this module's).
 */

struct daemon;

/* READY=1 and the first STATUS=; starts the status/watchdog timer. */
void notify_ready(struct daemon *d);

/*
 * STOPPING=1, and the timer closed so the loop can end. The drain that
 * follows is bounded by the drain timeout (10 s by default), well inside
 * the unit's WatchdogSec= (30 s), so no ping is missed for long.
 */
void notify_stopping(struct daemon *d);

/*
 * A SIGHUP reload: RELOADING=1 with MONOTONIC_USEC= before (what
 * Type=notify-reload wants), READY=1 and STATUS= after.
 */
void notify_reloading(struct daemon *d);
void notify_reloaded(struct daemon *d);

#endif
