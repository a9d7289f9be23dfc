/* SPDX-License-Identifier: MIT */
#ifndef KTBPF_KIT_GUEST_H
#define KTBPF_KIT_GUEST_H

/*
 * A whole fake guest with BPF programs, on top of kit-kernel (image, page
 * tables, symbols, VMCOREINFO, per-CPU units), kit-btf (the kernel's BTF and
 * the layout it describes) and kit-xa (prog_idr's xarray):
 *
 *  - struct_ops programs: struct bpf_prog and struct bpf_prog_aux in vmalloc
 *    space (aux optionally kmalloc'ed), per-CPU struct bpf_prog_stats from
 *    the kit's per-CPU allocator with chosen counters on every CPU, the
 *    used_maps array (kmalloc) naming maps <obj>.bss/.data/.rodata (struct
 *    bpf_map in vmalloc), attach_btf_id/expected_attach_type naming
 *    tcp_congestion_ops or sched_ext_ops and a member, attach_func_name;
 *  - other programs (not struct_ops) interleaved, and holes in the ids;
 *  - prog_idr (its idr_rt xarray built by kit-xa) and bpf_stats_enabled_key.
 *
 * The guest records the truth (struct kit_guest_prog) that a correct walk
 * must report, so tests compare field by field. Tests may poke the image
 * afterwards (kit_kernel_w64() etc.) for hostile variants; kit_guest_set_stats()
 * keeps the truth in step for counters.
 *
 * Test-only code: misuse aborts with a message.
 */

#include <stdbool.h>
#include <stdint.h>

#include <bpf/btf.h>

#include "kit.h"
#include "kit-btf.h"
#include "kit-kernel.h"
#include "kit-xa.h"
#include "ktbpf/kernel.h"
#include "ktbpf/progs.h"

#define KIT_GUEST_MAX_PROGS 1024
#define KIT_GUEST_MAX_MAPS  8

enum kit_iface {
	KIT_IFACE_SCX = 0, /* sched_ext_ops */
	KIT_IFACE_TCP,	   /* tcp_congestion_ops */
	KIT_IFACE_MODULE,  /* "kit_mod_ops", a module's: not in the kernel's BTF */
};

/* Where the guest keeps sched_ext's current scheduler. */
enum kit_scx_layout {
	KIT_SCX_DEFAULT = 0, /* KIT_SCX_OPS */
	KIT_SCX_OPS,	     /* 6.12: static scx_ops + scx_(ops_)enable_state_var */
	KIT_SCX_ROOT,	     /* 6.16+: scx_root -> scx_sched.ops + scx_enable_state_var */
	KIT_SCX_NONE,	     /* no sched_ext symbols */
};

/* One struct_ops map (struct bpf_struct_ops_map) to create. */
struct kit_st_spec {
	const char *name;	  /* map name (15 bytes at most) */
	enum kit_iface iface;	  /* its ops struct */
	uint32_t state;		  /* kvalue state as written (KTBPF_ST_*) */
	const uint32_t *prog_ids; /* programs in its member slots (each at its spec's member) */
	uint32_t nr_prog_ids;
	bool linked; /* attached by a struct_ops bpf_link in link_idr (6.4+ layouts) */
};

enum kit_stats_key {
	KIT_STATS_ENABLED = 0, /* bpf_stats_enabled_key.key.enabled = 1 */
	KIT_STATS_DISABLED,    /* = 0 */
	KIT_STATS_UNREADABLE,  /* the key alone on a page that kit_guest_kernel() leaves out */
};

/* One program to create. Zero fields take defaults. */
struct kit_prog_spec {
	uint32_t id;	  /* prog_idr index; 0: previous id + 1 */
	uint32_t type;	  /* 0: BPF_PROG_TYPE_STRUCT_OPS; else e.g. 2 (kprobe) */
	const char *name; /* aux->name, up to 16 bytes (16 = no NUL); NULL: "prog<id>" */
	enum kit_iface iface;
	uint32_t member;	 /* member index in the ops struct */
	uint32_t verified_insns; /* 0: 100 + id */
	const char *obj;	 /* owner object: maps <obj>.bss/.data/.rodata; NULL: no maps */
	bool extra_map;		 /* also an unrelated map "ringbuf" first in used_maps */
};

struct kit_guest_opts {
	struct kit_kernel_opts kernel; /* l5, nr_cpus, slide, ... */
	enum kit_btf_variant btf;
	uint64_t ram_size;		   /* 0: 128 MiB */
	const struct kit_prog_spec *progs; /* NULL: default set below */
	uint32_t nr_progs;
	/*
	 * Default set when progs is NULL: nr_struct_ops (0: 4) struct_ops
	 * programs, even ones sched_ext_ops of object "kitsched", odd ones
	 * tcp_congestion_ops of "kitcc", each followed by a non-struct_ops
	 * program, ids 1, 2, 4, 5, 7, 8 ... (a hole every third id).
	 */
	uint32_t nr_struct_ops;
	bool no_other_progs; /* default set: no interleaved other programs */
	bool aux_kmalloc;    /* bpf_prog_aux in the direct map, not vmalloc */
	enum kit_stats_key stats_key;
	/*
	 * struct_ops instances, in map_idr after the programs' data maps. NULL:
	 * one per (object, interface) of the struct_ops programs with an object,
	 * named after the object, sched_ext ones READY and others INUSE.
	 */
	const struct kit_st_spec *instances;
	uint32_t nr_instances;
	bool no_instances; /* no struct_ops maps at all */
	enum kit_scx_layout scx;
	/* 1-based index of the instance the kernel's scheduler copies; 0: the first
	 * sched_ext instance when instances is NULL, none otherwise; UINT32_MAX: none. */
	uint32_t scx_attached;
	bool scx_state_set; /* else ENABLED when attached, DISABLED otherwise */
	uint32_t scx_state; /* raw enable state (0 ENABLING .. 3 DISABLED) */
	/* The kernel's exit record: absent (pointer NULL, freed) when set. */
	bool scx_no_exit_info;
	/* 6.15: the event counters in the static per-CPU event_stats_cpu (KIT_SCX_OPS) */
	bool scx_static_events;
	/*
	 * The size of a real kernel, for memory benchmarks: pad_btf_types more
	 * structs in the BTF ("kit_pad_<n>_<i>", ~75 bytes each; a 6.1 vmlinux
	 * has ~95000 types, 4 MiB) and pad_symbols more text symbols in
	 * kallsyms. pad_seed makes the padding (so the BTF) differ per kernel.
	 */
	uint32_t pad_btf_types, pad_symbols, pad_seed;
};

/* The truth about one struct_ops instance. */
struct kit_guest_inst {
	struct kit_st_spec spec;
	uint32_t map_id;
	uint64_t kva, uvalue_kva, links_kva;
	const char *iface;
	char obj[KTBPF_OBJ_NAME_LEN + 1]; /* its programs' object, "" if none */
	uint32_t nr_members;		  /* = nr_prog_ids, sorted by member index: */
	uint32_t member_idx[KTBPF_MAX_OPS_MEMBERS], prog_id[KTBPF_MAX_OPS_MEMBERS];
	const char *member[KTBPF_MAX_OPS_MEMBERS];
};

/* The truth about one program, as a correct walk reports it. */
struct kit_guest_prog {
	struct kit_prog_spec spec;
	uint32_t id;
	bool struct_ops;
	uint64_t kva, aux_kva, stats_template, used_maps_kva;
	char name[KTBPF_OBJ_NAME_LEN + 1];
	bool name_truncated;
	const char *iface, *member;
	uint32_t verified_insns;
	uint32_t nr_maps;
	uint64_t map_kvas[KIT_GUEST_MAX_MAPS];
	uint64_t cnt, nsecs, misses; /* saturating sums over the possible CPUs */
	uint64_t (*per_cpu)[3];	     /* [cpu][cnt, nsecs, misses] as written */
};

/*
 * sched_ext's state the kit writes (kernel/sched/ext.c's statics, or the
 * scheduler's struct scx_sched): an exit record of scx_bpf_error() with a
 * 3-entry backtrace and a dump, and event counter i of CPU c =
 * KIT_SCX_EVENT(i, c) (KIT_SCX_ROOT only: scx_sched.pcpu).
 */
#define KIT_SCX_FLAGS	     0x5ull
#define KIT_SCX_TIMEOUT	     750u /* jiffies */
#define KIT_SCX_AGE	     42u  /* jiffies since the watchdog's timestamp */
#define KIT_SCX_JIFFIES	     0xfffb6c20ull
#define KIT_SCX_BYPASS	     2
#define KIT_SCX_NR_REJECTED  3
#define KIT_SCX_ENABLE_SEQ   5
#define KIT_SCX_HOTPLUG_SEQ  11
#define KIT_SCX_EXIT_KIND    1025 /* SCX_EXIT_ERROR_BPF */
#define KIT_SCX_EXIT_CODE    -7
#define KIT_SCX_EXIT_REASON  "scx_bpf_error"
#define KIT_SCX_EXIT_MSG     "ktbpf test error 7"
#define KIT_SCX_EXIT_DUMP    "Error: ktbpf test error 7\nCPU states\n----------\n"
#define KIT_SCX_EXIT_BT_LEN  3
#define KIT_SCX_EXIT_BT_FUNC "kit_scx_error" /* bt[i] = its address + 0x10 * i */
#define KIT_SCX_EVENT(i, c)  (int64_t)(100 * ((i) + 1) + (c))

struct kit_guest {
	struct kit_image *im;
	struct kit_kernel *kk;
	struct btf *btf;
	struct kit_btf_layout lay;
	struct kit_xa *xa;
	struct kit_guest_opts opts;
	uint32_t nr_cpus;	      /* CPU numbers 0..nr_cpus-1 (holes included) */
	uint64_t prog_idr, stats_key; /* kvas */
	struct kit_guest_prog *progs; /* all programs, in id order */
	uint32_t nr_progs, nr_struct_ops;
	struct kit_guest_inst *insts; /* in map id order */
	uint32_t nr_insts;
	uint64_t map_idr, link_idr;
	struct kit_xa *map_xa, *link_xa;
	uint32_t next_link_id;
	uint32_t next_map_id;
	uint64_t scx_state_kva, scx_ops_kva, scx_root_kva; /* symbols (0: absent) */
	uint64_t scx_sched_kva;				   /* what scx_root points at */
	/* sched_ext's state as written (truth: the KIT_SCX_* values below) */
	uint64_t scx_exit_ptr_kva;  /* where the exit info pointer is (static or sch member) */
	uint64_t scx_exit_info_kva; /* struct scx_exit_info, 0 when none */
	uint64_t scx_pcpu;	    /* scx_sched.pcpu's template (KIT_SCX_ROOT), 0 if none */
	uint64_t scx_bt[KIT_SCX_EXIT_BT_LEN]; /* the exit record's backtrace */
	uint64_t scx_bt_kva;		      /* where it is (64 entries of room) */
	uint64_t st_ops_kva[4];		      /* struct bpf_struct_ops per interface */
	enum kit_iface st_ops_iface[4];
	uint32_t nr_st_ops;
	/* The expected active instance (kit's own evaluation of the rule). */
	bool active_found;
	char active_obj[KTBPF_OBJ_NAME_LEN + 1];
	uint32_t active_map_id; /* the one named: the scheduler, else the first */
	uint32_t active_ids[KTBPF_MAX_ACTIVE], nr_active;
	const char *active_iface;
	/* Discovered on first use by kit_guest_kernel(). */
	struct ktbpf_kernel *k;
	struct ktbpf_mem *mem; /* its region table (kit_mem(im) unless holes) */
	uint64_t holes[4][2];  /* guest PA ranges left out of mem */
	uint32_t nr_holes;
};

/* Build the guest (kit_kernel_finish() included). opts may be NULL. */
struct kit_guest *kit_guest_new(const struct kit_guest_opts *opts);
void kit_guest_free(struct kit_guest *g);

/* The default counters written at build: cnt = (id * 1000 + cpu), nsecs = cnt * 10, misses = cpu
 * % 2. */

/*
 * Write CPU cpu's counters of program i (index in g->progs) and update the
 * truth (saturating sums over the possible CPUs; a hole's copy is written
 * to the load area and not added).
 */
void kit_guest_set_stats(struct kit_guest *g, uint32_t i, uint32_t cpu, uint64_t cnt,
			 uint64_t nsecs, uint64_t misses);

/* Index in g->progs of the program with id; aborts when absent. */
uint32_t kit_guest_index(const struct kit_guest *g, uint32_t id);

/*
 * ktbpf_kernel_discover() over the image, no hints; owned by g. Aborts on
 * failure. The region table is kit_mem(g->im) unless holes were punched.
 */
struct ktbpf_kernel *kit_guest_kernel(struct kit_guest *g);

/*
 * Leave the 4 KiB pages holding [kva, kva+len) out of the region table that
 * kit_guest_kernel() builds (a region table with gaps). Call before it.
 */
void kit_guest_punch_hole(struct kit_guest *g, uint64_t kva, uint64_t len);

/* The kernel's sched_ext_ops copy: what the kit wrote at scx_ops / scx_root->ops (0: none). */
uint64_t kit_guest_scx_copy_kva(const struct kit_guest *g);

/* Member names of "kit_mod_ops" (KIT_IFACE_MODULE), in member order. */
extern const char *const kit_guest_mod_ops_members[];

/*
 * The worst guest for a walk's budget: n more struct_ops programs in
 * prog_idr after the last id, each with its own bpf_prog and bpf_prog_aux
 * (direct map) that pass every check, all with the per-CPU stats pointer
 * stats (0: program 0's), so that no two are neighbours (one read per
 * program and CPU).
 * Call after kit_guest_new(), before kit_guest_kernel(). The truth
 * (g->progs) is not extended: tests check caps, not contents.
 */
void kit_guest_flood(struct kit_guest *g, uint32_t n, uint64_t stats);

/* The truth program for id, or NULL. */
const struct kit_guest_prog *kit_guest_prog(const struct kit_guest *g, uint32_t id);

#endif
