/* SPDX-License-Identifier: MIT */
#ifndef KTBPF_PROGS_H
#define KTBPF_PROGS_H

/*
 * The walkers: one pass over prog_idr answers all three questions.
 *  - every BPF_PROG_TYPE_STRUCT_OPS program with its name, verified_insns and
 *    the interface/member it implements (aux->attach_btf_id resolved among
 *    the kernel's struct_ops interfaces, taken from its BTF at discovery;
 *    aux->attach_func_name);
 *  - its runtime stats, cnt/nsecs/misses summed with saturation over the
 *    possible CPUs (kernel/bpf/syscall.c: bpf_prog_get_stats());
 *  - the struct_ops instances (structops.c): every map of type
 *    BPF_MAP_TYPE_STRUCT_OPS in map_idr with its name, interface, state and
 *    member -> program id table, and the BPF object it belongs to (the <obj>
 *    of the <obj>.bss/.data/.rodata maps its programs use);
 *  - the active instance as the kernel sees it: sched_ext's current
 *    scheduler (scx_ops up to 6.15, scx_root->ops from 6.16, with the enable
 *    state), else the instances in state INUSE (a TCP congestion control);
 *    when nothing is attached it says so and why;
 *  - sched_ext's enable state and scheduler name, read twice around the map
 *    walk: a guest that changed meanwhile is walked again once, then
 *    reported as torn.
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
#define KTBPF_BPF_MAP_TYPE_STRUCT_OPS  26
#define KTBPF_MAX_MAPS		       65536 /* cap on maps visited in map_idr */
#define KTBPF_MAX_INSTANCES	       256   /* cap on struct_ops instances reported */
#define KTBPF_MAX_OPS_MEMBERS	       64    /* BPF_STRUCT_OPS_MAX_NR_MEMBERS */
#define KTBPF_MAX_ACTIVE	       8     /* active instances listed */
#define KTBPF_SCX_NAME_LEN	       128   /* SCX_OPS_NAME_LEN */

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
	uint32_t member_index;	      /* expected_attach_type: the member's index */
	uint64_t used_maps_kva;	      /* aux->used_maps (0: none) */
};

/* enum bpf_struct_ops_state (kernel/bpf/bpf_struct_ops.c; READY since 6.4). */
enum ktbpf_st_state {
	KTBPF_ST_UNKNOWN = -1, /* a value the kernel never writes */
	KTBPF_ST_INIT = 0,
	KTBPF_ST_INUSE = 1,    /* registered with its subsystem (not through a link) */
	KTBPF_ST_TOBEFREE = 2, /* unregistered */
	KTBPF_ST_READY = 3,    /* complete, registered only through a bpf_link */
};

/* "init", "inuse", "tobefree", "ready", else "unknown". */
const char *ktbpf_st_state_name(enum ktbpf_st_state st);

/* An implemented member of a struct_ops instance. */
struct ktbpf_st_member {
	char member[KTBPF_IFACE_LEN]; /* "cong_avoid" */
	uint32_t index;		      /* in the ops struct */
	uint32_t prog_id;
};

/* One struct_ops map (struct bpf_struct_ops_map). */
struct ktbpf_st_instance {
	uint32_t map_id;
	uint64_t kva;
	char name[KTBPF_OBJ_NAME_LEN + 1]; /* map name, e.g. "ktbpf_cc" */
	char iface[KTBPF_IFACE_LEN];	   /* "tcp_congestion_ops", "" if unknown */
	bool module;			   /* the ops struct is a module's (6.9+) */
	bool linked; /* a struct_ops bpf_link in link_idr points at it (6.4+: BPF_F_LINK maps) */
	enum ktbpf_st_state state;	       /* kvalue's state */
	uint32_t raw_state;		       /* as read */
	char obj_name[KTBPF_OBJ_NAME_LEN + 1]; /* its programs' <obj>, "" if none found */
	uint32_t nr_members;		       /* implemented members, in member order */
	struct ktbpf_st_member members[KTBPF_MAX_OPS_MEMBERS];
	uint64_t kdata_kva;   /* kvalue.data: the ops struct the kernel registers */
	uint64_t uvalue_kva;  /* uvalue: the ops struct with program ids */
	uint32_t ops_type_id; /* its BTF type in the kernel's BTF; 0 for a module's */
};

enum ktbpf_active_source {
	KTBPF_ACTIVE_NONE = 0,	/* nothing attached (see reason) */
	KTBPF_ACTIVE_SCHED_EXT, /* the kernel's current sched_ext scheduler (and INUSE others) */
	KTBPF_ACTIVE_INUSE,	/* instances in use (not sched_ext): INUSE, or READY and linked */
};

/* What the kernel has attached. */
struct ktbpf_active {
	bool attached;
	enum ktbpf_active_source source;
	uint32_t nr_instances;		       /* entries of map_ids */
	uint32_t map_ids[KTBPF_MAX_ACTIVE];    /* in map id order */
	uint32_t map_id;		       /* the first named: the scheduler, else the first */
	char obj_name[KTBPF_OBJ_NAME_LEN + 1]; /* object of map_id, "" if none */
	char iface[KTBPF_IFACE_LEN];	       /* interface of map_id, "" if none */
	char reason[160]; /* why nothing (or no map) is attached; "" otherwise */
};

enum ktbpf_scx_layout {
	KTBPF_SCX_NONE = 0, /* the kernel has no sched_ext */
	KTBPF_SCX_OPS,	    /* static scx_ops and scx_(ops_)enable_state_var (up to 6.15) */
	KTBPF_SCX_ROOT,	    /* scx_root -> struct scx_sched.ops (6.16+) */
};

enum ktbpf_scx_state {
	KTBPF_SCX_UNKNOWN = -1,
	KTBPF_SCX_ENABLING,
	KTBPF_SCX_ENABLED,
	KTBPF_SCX_DISABLING,
	KTBPF_SCX_DISABLED,
};

/* "enabling", "enabled", "disabling", "disabled", else "unknown". */
const char *ktbpf_scx_state_name(enum ktbpf_scx_state st);

#define KTBPF_SCX_MSG_LEN    1024 /* SCX_EXIT_MSG_LEN */
#define KTBPF_SCX_REASON_LEN 128
#define KTBPF_SCX_BT_LEN     64		 /* SCX_EXIT_BT_LEN */
#define KTBPF_SCX_DUMP_MAX   (32u << 10) /* SCX_EXIT_DUMP_DFL_LEN */

/* Which of struct ktbpf_scx's optional values were read (bits of have). */
enum {
	KTBPF_SCX_HAVE_FLAGS = 1u << 0,
	KTBPF_SCX_HAVE_WATCHDOG_TIMEOUT = 1u << 1,
	KTBPF_SCX_HAVE_WATCHDOG_AGE = 1u << 2,
	KTBPF_SCX_HAVE_BYPASS = 1u << 3,
	KTBPF_SCX_HAVE_SWITCHED_ALL = 1u << 4,
	KTBPF_SCX_HAVE_NR_REJECTED = 1u << 5,
	KTBPF_SCX_HAVE_ENABLE_SEQ = 1u << 6,
	KTBPF_SCX_HAVE_EXIT_KIND = 1u << 7,
	KTBPF_SCX_HAVE_EVENTS = 1u << 8,
	KTBPF_SCX_HAVE_SWITCHING_ALL = 1u << 9,
	KTBPF_SCX_HAVE_HOTPLUG_SEQ = 1u << 10,
};

enum ktbpf_scx_exit_source {
	KTBPF_SCX_EXIT_NONE = 0, /* no exit record readable */
	KTBPF_SCX_EXIT_KERNEL,	 /* the kernel's struct scx_exit_info */
	KTBPF_SCX_EXIT_UEI,	 /* the scheduler's own copy (scx's user_exit_info.h) */
};

/* "none", "kernel", "uei". */
const char *ktbpf_scx_exit_source_name(enum ktbpf_scx_exit_source src);

/* Why the scheduler exited, as the kernel (or the scheduler) recorded it. */
struct ktbpf_scx_exit {
	enum ktbpf_scx_exit_source source;
	int64_t kind;	    /* enum scx_exit_kind */
	char kind_name[32]; /* "SCX_EXIT_ERROR_BPF"; "" when BTF lacks the value */
	int64_t exit_code;
	char reason[KTBPF_SCX_REASON_LEN]; /* "scx_bpf_error", ... */
	char msg[KTBPF_SCX_MSG_LEN];	   /* the message, terminated */
	uint32_t bt_len;		   /* entries of bt (capped at KTBPF_SCX_BT_LEN) */
	uint64_t bt[KTBPF_SCX_BT_LEN];	   /* backtrace, kernel addresses */
	char bt_sym[KTBPF_SCX_BT_LEN][64]; /* "func+0x1c", "" unknown (ktbpf_scx_exit_symbolize) */
	char *dump;			   /* the debug dump text, NUL-terminated, or NULL;
					      owned by the snapshot */
	size_t dump_len;
};

/*
 * sched_ext's state as the kernel keeps it (up to 6.15 the statics of
 * kernel/sched/ext.c, from 6.16 struct scx_sched behind scx_root). A value
 * is meaningful only when its bit is set in have; jiffies are the guest's
 * (its HZ is not known to us).
 */
struct ktbpf_scx {
	enum ktbpf_scx_layout layout;
	enum ktbpf_scx_state state;
	char ops_name[KTBPF_SCX_NAME_LEN + 1]; /* the kernel's copy's .name; "" if none */
	uint32_t map_id;		       /* the instance it matches, 0 if none */
	uint32_t have;			       /* KTBPF_SCX_HAVE_* */
	uint64_t ops_flags;		       /* sched_ext_ops.flags (SCX_OPS_*) */
	uint64_t watchdog_timeout;	       /* jiffies */
	uint64_t watchdog_age;		       /* jiffies since the watchdog last saw progress */
	int32_t bypass_depth;
	bool switched_all;  /* every task is on sched_ext (__scx_switched_all) */
	bool switching_all; /* the scheduler takes every task (scx_switching_all: sysfs'
			       switch_all); set at enable, before switched_all */
	int64_t nr_rejected, enable_seq;
	int64_t hotplug_seq; /* CPU hotplug events since boot (scx_hotplug_seq) */
	int64_t exit_kind;   /* the kernel's current exit kind (scx_exit_kind / sch->exit_kind) */
	/* SCX_EV_* (6.15+), named from BTF, in struct scx_event_stats' order */
	uint32_t nr_events;
	struct {
		char name[KTBPF_SCX_EVENT_NAME_LEN];
		int64_t total; /* summed over the CPUs read */
	} events[KTBPF_SCX_MAX_EVENTS];
	uint32_t nr_event_cpus;	 /* rows of events_cpu */
	int64_t *events_cpu;	 /* [cpu row][event], owned by the snapshot */
	uint32_t *event_cpu_ids; /* CPU number of each row */
	struct ktbpf_scx_exit exit;
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

/*
 * How much work one walk may do. Guest data decides how much there is to
 * read (prog_idr's and map_idr's sizes, the possible CPUs, links[]), and the
 * caps on each multiply: 65536 programs x 8192 CPUs would be half a billion
 * reads. A walk that spends its budget stops where it is and answers with
 * what it has: s->capped and s->over_budget are set and a -ETIME diagnostic
 * names the budget. Counted in guest reads (an object's header, one CPU's
 * counters for a run of programs, an xarray step; host work of the same
 * order, such as matching a link against 64 programs, counts as one read)
 * and in the walking thread's CPU time, so that a walk a busy host
 * deschedules is not cut short (checked every KTBPF_BUDGET_CLOCK_EVERY
 * reads against the monotonic clock; the thread's CPU clock, a system call,
 * is read only by walks that run over a millisecond). A zero field is no
 * bound on that axis.
 */
struct ktbpf_budget {
	uint64_t max_reads; /* per walk; 0: unbounded */
	uint64_t max_ns;    /* CPU time per walk; 0: unbounded */
};

/*
 * The defaults (ktbpf_snapshot_new()): far above what a real guest needs (a
 * walk of 64 programs x 64 CPUs makes about 700 reads and takes ~20 us),
 * low enough that the worst hostile image stops within 50 ms (~40 ms here:
 * 2 Mi reads of 18 ns, or the time bound when reads fail and cost more).
 */
#define KTBPF_BUDGET_READS_DEFAULT (2u << 20)
#define KTBPF_BUDGET_NS_DEFAULT	   (40ull * 1000 * 1000)
#define KTBPF_BUDGET_CLOCK_EVERY   256u

/* Private (progs.c): the budget of the walk in progress. */
struct ktbpf_budget_run {
	uint64_t check_at; /* reads at which budget_check() runs next */
	uint64_t wall0, deadline, wall_mark, cpu_mark;
};

/* One walk's results. Reusable: ktbpf_progs_walk() resets it. */
struct ktbpf_snapshot {
	struct ktbpf_prog *progs; /* nr_progs entries, in id order */
	size_t nr_progs, cap_progs;
	struct ktbpf_st_instance *instances; /* nr_instances entries, in map id order */
	size_t nr_instances, cap_instances;
	struct ktbpf_active active;
	struct ktbpf_scx scx;
	bool torn; /* the guest changed during the walk (see diags) */
	enum ktbpf_stats_state stats;
	struct ktbpf_diag diags[KTBPF_MAX_DIAGS];
	size_t nr_diags;
	size_t diags_dropped;		    /* diagnostics beyond KTBPF_MAX_DIAGS */
	bool capped;			    /* a cap was hit: the answer may be incomplete */
	uint32_t nr_skipped;		    /* prog_idr entries or nodes that could not be read
					       (each may hide a struct_ops program) */
	uint32_t idr_entries;		    /* entries seen in prog_idr (all types) */
	uint64_t walk_ns;		    /* time of the walk alone */
	struct ktbpf_budget budget;	    /* set by the caller; kept across walks */
	uint64_t reads;			    /* budget units the last walk spent */
	bool over_budget;		    /* the last walk stopped at its budget */
	struct ktbpf_walker *walker;	    /* private: translator and caches of its walks */
	struct ktbpf_budget_run budget_run; /* private */
};

/*
 * A new empty snapshot with the default budget (NULL on OOM); free with
 * ktbpf_snapshot_free().
 */
struct ktbpf_snapshot *ktbpf_snapshot_new(void);
struct ktbpf_snapshot *ktbpf_snapshot_free(struct ktbpf_snapshot *s);

/*
 * Walk prog_idr once, then map_idr's struct_ops maps, and fill s (reset
 * first). Returns 0 even when some programs or maps were skipped (see
 * s->diags); a negative errno only when nothing could be answered (prog_idr
 * unreadable, a layout discovery could not plan, -ENOMEM). The snapshot's
 * own translator starts each walk with an empty cache: the guest may have
 * run since the last walk. s->torn says the guest changed state during the
 * walk (only a running guest does): the answer may mix the states before
 * and after.
 *
 * Thread safety: k is only read, so any number of threads may walk one
 * kernel at once, each into its own snapshot; a snapshot (with its
 * translator and caches) is one thread's at a time. Concurrent walks give
 * the same answers as one at a time.
 */
int ktbpf_progs_walk(const struct ktbpf_kernel *k, struct ktbpf_snapshot *s, struct ktbpf_err *err);

/*
 * When the kernel's exit record is gone (s->scx.exit.source NONE, after
 * ktbpf_progs_walk() of k into s): the scheduler's own copy, where its
 * object follows the scx convention (sched-ext/scx's user_exit_info.h: a
 * struct uei in .data with kind, exit_code, reason and msg, filled in
 * ops.exit), read by name with ktbpf_vars_read(). The object is the
 * running scheduler's, else the sched_ext instance still in use, else the
 * first sched_ext object. Fills s->scx.exit with source KTBPF_SCX_EXIT_UEI
 * when uei says the scheduler exited (kind not 0); leaves it alone when no
 * object follows the convention. Errors as ktbpf_vars_read(), also added
 * to s's diagnostics.
 */
int ktbpf_scx_uei_read(const struct ktbpf_kernel *k, struct ktbpf_snapshot *s,
		       struct ktbpf_err *err);

/*
 * The object whose variables a failure dump shows, of s walked by
 * ktbpf_progs_walk() (and ktbpf_scx_uei_read()): when sched_ext's scheduler
 * exited (s->scx.exit has a kind, from either source), that scheduler, the
 * one whose uei ktbpf_scx_uei_read() reads (the running one, else the first
 * sched_ext instance still in use, else the first with an object), even if
 * another object (a TCP congestion control) is active now; else the active
 * object; else that scheduler. NULL when there is none. Borrowed from s.
 */
const char *ktbpf_snapshot_dump_object(const struct ktbpf_snapshot *s);

/*
 * Name the kernel exit record's backtrace (s->scx.exit.bt) in bt_sym: an
 * address in a program's JIT image as "bpf:NAME+0x1c" (the snapshot's
 * programs' images, read now: s must be k's latest walk), else the guest
 * symbol at or below it, "func+0x1c", when k was discovered with
 * hints->keep_symbols; "" when neither. Not part of the walk: a linear
 * symbol scan per address (~0.2 ms each).
 */
void ktbpf_scx_exit_symbolize(const struct ktbpf_kernel *k, struct ktbpf_snapshot *s);

#endif
