/* SPDX-License-Identifier: MIT */
#ifndef KTBPF_COMPARE_TRUTH_H
#define KTBPF_COMPARE_TRUTH_H

#include <jansson.h>
#include <stdbool.h>

/*
 * compare-truth's reporting, shared by its parts (compare-truth.c, compare-
 * scx.c): each prints one "MISMATCH ..." line and counts it, as a counter
 * mismatch (the negative control's kind: a program's run_cnt, run_time_ns,
 * recursion_misses) or as another.
 */
__attribute__((format(printf, 2, 3))) void mismatch(bool counter, const char *fmt, ...);
/* "SUBJECT: guest says W, host read G", values as JSON, "(missing)" for no key. */
void differ(bool counter, const char *subject, json_t *want, json_t *got);
/* A fact about the host's answer alone: "SUBJECT: host read G, want W". */
void host_wrong(const char *subject, const char *want, json_t *got);
/* differ() unless got is there and equal to want. */
void expect_equal(bool counter, const char *subject, json_t *want, json_t *got);
/* obj's member key; NULL when obj is no object or has none. */
json_t *get(json_t *obj, const char *key);
/* list holds the integer v. */
bool find_int(json_t *list, json_int_t v);

/*
 * sched_ext: the guest's truth["sched_ext"] (sysfs, its scheduler's uei, the
 * kernel log) against the host's host["sched_ext"] (compare-scx.c).
 */
void cmp_sched_ext(json_t *truth, json_t *host);

#endif
