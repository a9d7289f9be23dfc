/* SPDX-License-Identifier: MIT */
#ifndef KTBPF_PROGS_H
#define KTBPF_PROGS_H

/*
 * The walkers: one pass over prog_idr answers all three questions.
 *  - every BPF_PROG_TYPE_STRUCT_OPS program with its name, verified_insns and
 *    the interface/member it implements (aux->attach_btf_id resolved in the
 *    kernel's BTF, aux->attach_func_name);
 *  - its runtime stats, cnt/nsecs/misses summed with saturation over the
 *    possible CPUs (kernel/bpf/syscall.c: bpf_prog_get_stats());
 *  - the active object: the first struct_ops program whose used_maps holds a
 *    map named <obj>.bss/.data/.rodata, preferring a sched_ext_ops
 *    implementation over other struct_ops users (a TCP congestion control is
 *    only "active" when no scheduler is loaded).
 * Plus whether runtime stats are enabled in the guest
 * (bpf_stats_enabled_key), so that zero counters are never ambiguous.
 *
 * Guest data is hostile: idr_next and used_map_cnt are capped, names are read
 * with a bound, a program that cannot be read is reported as a diagnostic and
 * skipped, never silently turned into zeros.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ktbpf/err.h"
#include "ktbpf/kernel.h"

#define KTBPF_BPF_PROG_TYPE_STRUCT_OPS 27
#define KTBPF_OBJ_NAME_LEN	       16    /* BPF_OBJ_NAME_LEN */
#define KTBPF_MAX_USED_MAPS	       64    /* cap on used_map_cnt */
#define KTBPF_MAX_PROGS		       65536 /* cap on programs visited in prog_idr */
#define KTBPF_IFACE_LEN		       64
#define KTBPF_MAX_DIAGS		       64

struct ktbpf_prog {
	uint32_t id;	    /* prog_idr index */
	uint64_t kva;	    /* struct bpf_prog */
	uint64_t stats_kva; /* bpf_prog.stats, a __percpu pointer (0: none) */
	char name[KTBPF_OBJ_NAME_LEN + 1];
	bool name_truncated; /* no NUL in the 16 bytes */
	uint32_t verified_insns;
	char iface[KTBPF_IFACE_LEN];  /* "tcp_congestion_ops", "" if unresolved */
	char member[KTBPF_IFACE_LEN]; /* "cong_avoid", "" if unresolved */
	bool stats_valid;	      /* runtime stats were read for every possible CPU */
	uint64_t cnt, nsecs, misses;  /* summed over CPUs, saturating */
	uint32_t cpus_read;	      /* CPUs whose stats were added */
	uint32_t nr_maps;	      /* used_map_cnt, capped at KTBPF_MAX_USED_MAPS */
};

struct ktbpf_active {
	bool found;
	char obj_name[KTBPF_OBJ_NAME_LEN + 1]; /* "<obj>" of <obj>.bss */
	char iface[KTBPF_IFACE_LEN];	       /* interface of the program that matched */
	uint32_t prog_id;
	uint32_t nr_maps;
	uint64_t map_kvas[KTBPF_MAX_USED_MAPS]; /* that program's used_maps (non-zero) */
};

struct ktbpf_diag {
	int code;	  /* negative errno */
	uint32_t prog_id; /* 0 when not about one program */
	uint64_t addr;	  /* faulting address, 0 if none */
	char msg[160];
};

enum ktbpf_stats_state {
	KTBPF_STATS_UNKNOWN = -1, /* bpf_stats_enabled_key not readable */
	KTBPF_STATS_DISABLED = 0,
	KTBPF_STATS_ENABLED = 1,
};

/* One walk's results. Reusable: ktbpf_progs_walk() resets it. */
struct ktbpf_snapshot {
	struct ktbpf_prog *progs; /* nr_progs entries, in id order */
	size_t nr_progs, cap_progs;
	struct ktbpf_active active;
	enum ktbpf_stats_state stats;
	struct ktbpf_diag diags[KTBPF_MAX_DIAGS];
	size_t nr_diags;
	size_t diags_dropped;		/* diagnostics beyond KTBPF_MAX_DIAGS */
	bool capped;			/* a cap was hit: the answer may be incomplete */
	uint32_t nr_skipped;		/* prog_idr entries or nodes that could not be read
					   (each may hide a struct_ops program) */
	uint32_t idr_entries;		/* entries seen in prog_idr (all types) */
	uint64_t walk_ns;		/* time of the walk alone */
	struct ktbpf_walk_plans *plans; /* private: read plans kept between walks */
};

/* A new empty snapshot (NULL on OOM); free with ktbpf_snapshot_free(). */
struct ktbpf_snapshot *ktbpf_snapshot_new(void);
struct ktbpf_snapshot *ktbpf_snapshot_free(struct ktbpf_snapshot *s);

/*
 * Walk prog_idr once and fill s (reset first). Returns 0 even when some
 * programs were skipped (see s->diags); a negative errno only when nothing
 * could be answered (prog_idr unreadable). Flushes the translation cache
 * first: the guest may have run since the last walk.
 */
int ktbpf_progs_walk(struct ktbpf_kernel *k, struct ktbpf_snapshot *s, struct ktbpf_err *err);

#endif
