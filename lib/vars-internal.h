/* SPDX-License-Identifier: MIT */
/*
 * Private to the variables reader: vars.c (guest RAM: the object's maps,
 * their BTF and values) and vars-render.c (BTF + bytes -> nodes, no guest
 * access, so the fuzz target reaches it directly). Internal names start
 * with vars_.
 */
#ifndef KTBPF_VARS_INTERNAL_H
#define KTBPF_VARS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ktbpf/vars.h"

struct btf;

/* The private part of a result (vars.c): string storage, BTF kept for names, capacities. */
struct arena_block {
	struct arena_block *next;
	size_t used, size;
	char data[];
};

struct vars_priv {
	struct arena_block *blocks;
	struct btf **btfs;
	size_t nr_btfs, cap_btfs;
	size_t cap_nodes, cap_maps;
	bool nodes_capped;
};

/* A new empty result (NULL on OOM). */
struct ktbpf_vars *vars_new(void);

/* n bytes kept by v until it is freed (NULL on OOM). */
char *vars_alloc(struct ktbpf_vars *v, size_t n);

/* A copy of s kept by v (NULL on OOM). */
const char *vars_strdup(struct ktbpf_vars *v, const char *s);

/* Keep btf until v is freed (node names point into it); frees btf on -ENOMEM. */
int vars_keep_btf(struct ktbpf_vars *v, struct btf *btf);

/* A bounded diagnostic in v (counted in diags_dropped beyond KTBPF_MAX_DIAGS). */
__attribute__((format(printf, 4, 5))) void vars_diag(struct ktbpf_vars *v, int code, uint64_t addr,
						     const char *fmt, ...);

/* Room for one more map entry, zeroed; NULL on OOM. */
struct ktbpf_vars_map *vars_add_map(struct ktbpf_vars *v);

/*
 * Parse a BTF blob (len bytes, at most KTBPF_VARS_MAX_BTF) into *ret.
 * -EINVAL with a message when it does not parse.
 */
int vars_btf_parse(const void *data, size_t len, struct btf **ret, struct ktbpf_err *err);

/*
 * Render type_id of btf over bufs[0..nr_bufs) (each len bytes) as nodes
 * appended to v. cpus NULL: one buffer, a DATASEC gives one depth-0 node per
 * variable, any other type one depth-0 node (name ""). cpus given: per-CPU
 * values, one KTBPF_VAR_PERCPU node (index) with a "sum" subtree and one
 * "cpu" subtree per buffer (cpus[i] its CPU number), even for one CPU. Bad types and values become
 * KTBPF_VAR_ERROR nodes; bounds hit set v->capped with a diagnostic.
 * -ENOMEM only.
 */
int vars_render(struct ktbpf_vars *v, const struct btf *btf, uint32_t type_id,
		const uint8_t *const *bufs, size_t nr_bufs, size_t len, uint32_t index,
		const uint32_t *cpus);

#endif
