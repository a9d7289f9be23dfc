// SPDX-License-Identifier: GPL-2.0
/*
 * ktbpf_scx: a minimal sched_ext scheduler used as a ktbpf test target.
 *
 * Global FIFO: select_cpu picks an idle CPU with the default policy (and
 * dispatches straight to its local DSQ when it is idle), everything else is
 * inserted into SCX_DSQ_GLOBAL.  Every callback bumps a counter so a reader
 * (the guest loader, or ktbpf from the host) can see that it ran.
 *
 * Loads on Linux 6.12's sched_ext and on 6.13+ (tested on 7.2): 6.13 renamed
 * the kfunc scx_bpf_dispatch to scx_bpf_dsq_insert (and dropped the old name
 * later), so both are declared weak and the one the kernel has is called,
 * as sched-ext/scx's scheds/include/scx/compat.bpf.h does.
 * scx_bpf_select_cpu_dfl keeps its name and, as seen from BPF, its four
 * arguments (7.x adds a hidden bpf_prog_aux one: KF_IMPLICIT_ARGS).
 * Targets libbpf 1.1: legacy SEC(".struct_ops")
 * (".struct_ops.link" needs libbpf >= 1.2, "struct_ops.s/" sleepable
 * programs too).  Kernel types are declared by hand below, so no vmlinux.h or
 * host /sys/kernel/btf/vmlinux is needed to compile:
 *   clang -target bpf -O2 -g -c ktbpf_scx.bpf.c -o ktbpf_scx.bpf.o
 *
 * Maps libbpf creates for the object "ktbpf_scx" (taken from the file name).
 * Kernel map names are at most 15 chars and libbpf reserves 7 of them for the
 * section suffix (max(7, strlen(".bss"))), so only 8 chars of the object name
 * survive: "ktbpf_sc.bss", not "ktbpf_scx.bss" (seen with libbpf 1.1.2).
 *   ktbpf_sc.bss      zero-initialised counters
 *   ktbpf_sc.data     initialised globals (magic, nr_running, uei, ...)
 *   ktbpf_sc.rodata   read-only config (frozen)
 *   ktbpf_pcpu        a per-CPU array (enqueue and running events per CPU)
 *   ktbpf_scx_ops     the struct_ops map (struct sched_ext_ops)
 */

typedef unsigned char __u8;
typedef signed char __s8;
typedef unsigned short __u16;
typedef signed short __s16;
typedef unsigned int __u32;
typedef signed int __s32;
typedef unsigned long long __u64;
typedef signed long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
typedef __u32 u32;
typedef __s32 s32;
typedef __u64 u64;
typedef __s64 s64;
typedef __s16 s16;
typedef __u8 u8;
typedef _Bool bool;
#define true 1
#define false 0

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

/* ---- kernel types (6.12), CO-RE relocatable; only what we touch ---- */

struct task_struct {
	int pid;
	char comm[16];
} __attribute__((preserve_access_index));

enum scx_exit_kind {
	SCX_EXIT_NONE,
	SCX_EXIT_DONE,
	SCX_EXIT_UNREG = 64,
	SCX_EXIT_UNREG_BPF,
	SCX_EXIT_UNREG_KERN,
	SCX_EXIT_SYSRQ,
	SCX_EXIT_ERROR = 1024,
	SCX_EXIT_ERROR_BPF,
	SCX_EXIT_ERROR_STALL,
};

struct scx_exit_info {
	enum scx_exit_kind kind;
	s64 exit_code;
	const char *reason;
	char *msg;
} __attribute__((preserve_access_index));

/*
 * Subset of struct sched_ext_ops.  libbpf matches members by name against the
 * kernel's BTF (libbpf 1.1 rejects members the kernel lacks, so list only
 * members that exist in 6.12 and 7.2); omitted members stay NULL/0 in the
 * kernel copy.
 */
struct sched_ext_ops {
	s32 (*select_cpu)(struct task_struct *p, s32 prev_cpu, u64 wake_flags);
	void (*enqueue)(struct task_struct *p, u64 enq_flags);
	void (*dispatch)(s32 cpu, struct task_struct *prev);
	void (*running)(struct task_struct *p);
	s32 (*init)(void);
	void (*exit)(struct scx_exit_info *info);
	u64 flags;
	u32 timeout_ms;
	char name[128];
};

/* include/linux/sched/ext.h (6.12 and 7.2): enum scx_dsq_id_flags, scx_public_consts */
#define SCX_DSQ_FLAG_BUILTIN (1ULL << 63)
#define SCX_DSQ_GLOBAL	     (SCX_DSQ_FLAG_BUILTIN | 1)
#define SCX_DSQ_LOCAL	     (SCX_DSQ_FLAG_BUILTIN | 2)
#define SCX_SLICE_DFL	     (20ULL * 1000000)
/*
 * enum scx_ops_flags: kernel/sched/ext.c (6.12), kernel/sched/ext/internal.h
 * (7.2); the same bit in both.
 */
#define SCX_OPS_SWITCH_PARTIAL (1ULL << 3)

/*
 * bpf_ksym_exists() came with libbpf 1.2 (bpf_helpers.h); Debian 12 has 1.1.
 * A weak kfunc the kernel lacks is left unresolved by libbpf (address 0, and
 * the call to it is dead code the verifier removes), so the test is a load
 * of the kfunc's address.
 */
#ifndef bpf_ksym_exists
#define bpf_ksym_exists(sym)                                                                       \
	({                                                                                         \
		_Static_assert(!__builtin_constant_p(!!sym), #sym " should be marked as __weak");  \
		!!sym;                                                                             \
	})
#endif

/* kernel/sched/ext.c (6.12), kernel/sched/ext/idle.c (7.2) */
s32 scx_bpf_select_cpu_dfl(struct task_struct *p, s32 prev_cpu, u64 wake_flags,
			   bool *is_idle) __ksym;
/* 6.13+: kernel/sched/ext.c (7.2: kernel/sched/ext/ext.c) */
void scx_bpf_dsq_insert(struct task_struct *p, u64 dsq_id, u64 slice, u64 enq_flags) __ksym __weak;
/* up to 6.12 (kept as an alias for some releases after) */
void scx_bpf_dispatch(struct task_struct *p, u64 dsq_id, u64 slice, u64 enq_flags) __ksym __weak;

/*
 * scx_bpf_error()'s kfunc: kernel/sched/ext.c (6.12), kernel/sched/ext/ext.c
 * (7.2, which adds a hidden bpf_prog_aux argument: KF_IMPLICIT_ARGS). The
 * format must live in a map value, hence a global.
 */
void scx_bpf_error_bstr(char *fmt, unsigned long long *data, u32 data__sz) __ksym;

static __always_inline void insert(struct task_struct *p, u64 dsq_id, u64 slice, u64 enq_flags)
{
	if (bpf_ksym_exists(scx_bpf_dsq_insert))
		scx_bpf_dsq_insert(p, dsq_id, slice, enq_flags);
	else
		scx_bpf_dispatch(p, dsq_id, slice, enq_flags);
}

char _license[] SEC("license") = "GPL";

/* ---- globals ---- */

/* .rodata: tunables (frozen at load) */
const volatile u64 ktbpf_slice_ns = SCX_SLICE_DFL;

/* .data: initialised, so they land in <obj>.data */
u64 ktbpf_magic = 0x6b74627066736378ULL; /* "ktbpfscx" */
u64 nr_running = 1;

/* .bss: zero-initialised counters */
u64 nr_select_cpu;
u64 nr_direct_dispatch;
u64 nr_enqueue;
u64 nr_init;
u64 nr_exit;
s64 exit_kind = -1;
s32 last_pid;

/*
 * Globals of several types for `ktbpfctl vars`, which the truth test reads
 * from guest RAM and compares with the guest's own bpf() lookups. They change
 * only in callbacks of SCHED_EXT tasks, so they hold still once the agent's
 * workload ends, as the program counters do.
 */
enum ktbpf_phase { KTBPF_PHASE_IDLE, KTBPF_PHASE_INIT = 3, KTBPF_PHASE_RUNNING = 7 };
enum ktbpf_phase phase;		       /* an enum, shown by name */
bool seen_enqueue;		       /* a bool */
u32 cpu_hist[8];		       /* an array: select_cpu calls by prev_cpu % 8 */
s16 neg_small = -300;		       /* a negative short (.data) */
u64 big_magic = 0xfedcba9876543210ULL; /* above 2^63 (.data) */
char label[16] = "ktbpf\\scx\x01";    /* a string with a backslash and a control byte */

struct ktbpf_stats {
	u64 enqueued;
	s32 last_pid;
	u32 flags : 4;	 /* bitfields: enqueue flags' low bits */
	u32 odd : 1;	 /* the last pid was odd */
	s32 delta : 11;	 /* a signed bitfield: last pid - previous, clamped */
	char tag[6];
	struct ktbpf_stats *self; /* a pointer, never set: 0x0 */
} stats = {.tag = "st"};	  /* a struct (.data: initialised) */

/*
 * A per-CPU array: element 0 counts enqueues, element 1 running, each on
 * the CPU it happened on (summed over CPUs by the host, per CPU too).
 */
struct ktbpf_pcpu_val {
	u64 events;
	s32 last_cpu;
	u8 seen;
};

/* include/uapi/linux/bpf.h: enum bpf_map_type (no vmlinux.h here) */
#define BPF_MAP_TYPE_PERCPU_ARRAY 6

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, u32);
	__type(value, struct ktbpf_pcpu_val);
} ktbpf_pcpu SEC(".maps");

static __always_inline void pcpu_count(u32 idx, s32 cpu)
{
	struct ktbpf_pcpu_val *v = bpf_map_lookup_elem(&ktbpf_pcpu, &idx);

	if (v) {
		v->events++;
		v->last_cpu = cpu;
		v->seen = 1;
	}
}

/*
 * The scx exit convention (sched-ext/scx's user_exit_info.h: UEI_DEFINE,
 * UEI_RECORD): the scheduler's own copy of why it exited, in .data, filled
 * in ops.exit; it outlives the kernel's struct scx_exit_info, which the
 * kernel frees once the scheduler is disabled.
 */
struct user_exit_info {
	int kind;
	s64 exit_code;
	char reason[128];
	char msg[1024];
};
struct user_exit_info uei SEC(".data");
static const char ktbpf_str_fmt[] = "%s"; /* .rodata: bpf_snprintf wants a frozen format */

/*
 * Test scenarios, chosen at build time (build-bpf.sh OUT NAME VARIANT):
 * KTBPF_SCX_ERROR_AFTER=N calls scx_bpf_error("ktbpf test error %d", N) at
 * the N-th enqueue; KTBPF_SCX_STALL never dispatches a task (enqueue drops it,
 * select_cpu does not dispatch), so the watchdog ejects the scheduler after
 * its timeout_ms.
 */
#ifdef KTBPF_SCX_ERROR_AFTER
char ktbpf_error_fmt[] = "ktbpf test error %d";
#endif
#ifdef KTBPF_SCX_STALL
#define KTBPF_TIMEOUT_MS 1000
#else
#define KTBPF_TIMEOUT_MS 10000
#endif

/* ---- callbacks ---- */

SEC("struct_ops/ktbpf_select_cpu")
s32 BPF_PROG(ktbpf_select_cpu, struct task_struct *p, s32 prev_cpu, u64 wake_flags)
{
	bool is_idle = false;
	s32 cpu;

	__sync_fetch_and_add(&nr_select_cpu, 1);
	__sync_fetch_and_add(&cpu_hist[(u32)prev_cpu & 7], 1);
	cpu = scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &is_idle);
#ifdef KTBPF_SCX_STALL
	is_idle = false;
#endif
	if (is_idle) {
		__sync_fetch_and_add(&nr_direct_dispatch, 1);
		insert(p, SCX_DSQ_LOCAL, ktbpf_slice_ns, 0);
	}
	return cpu;
}

SEC("struct_ops/ktbpf_enqueue")
void BPF_PROG(ktbpf_enqueue, struct task_struct *p, u64 enq_flags)
{
	s32 pid = p->pid, d;
	u64 n = __sync_fetch_and_add(&nr_enqueue, 1) + 1;

	d = pid - last_pid;
	last_pid = pid;
	phase = KTBPF_PHASE_RUNNING;
	seen_enqueue = true;
	__sync_fetch_and_add(&stats.enqueued, 1);
	stats.last_pid = pid;
	stats.flags = enq_flags & 0xf;
	stats.odd = pid & 1;
	stats.delta = d > 1000 ? 1000 : d < -1000 ? -1000 : d;
	pcpu_count(0, bpf_get_smp_processor_id());
#ifdef KTBPF_SCX_ERROR_AFTER
	if (n == KTBPF_SCX_ERROR_AFTER) {
		unsigned long long arg[1] = {KTBPF_SCX_ERROR_AFTER};

		scx_bpf_error_bstr(ktbpf_error_fmt, arg, sizeof(arg));
	}
#endif
#ifdef KTBPF_SCX_STALL
	/* never inserted: the task stays runnable until the watchdog ejects us */
	return;
#endif
	(void)n;
	insert(p, SCX_DSQ_GLOBAL, ktbpf_slice_ns, enq_flags);
}

SEC("struct_ops/ktbpf_running")
void BPF_PROG(ktbpf_running, struct task_struct *p)
{
	__sync_fetch_and_add(&nr_running, 1);
	pcpu_count(1, bpf_get_smp_processor_id());
}

SEC("struct_ops/ktbpf_init")
s32 BPF_PROG(ktbpf_init)
{
	__sync_fetch_and_add(&nr_init, 1);
	phase = KTBPF_PHASE_INIT;
	return 0;
}

SEC("struct_ops/ktbpf_exit")
void BPF_PROG(ktbpf_exit, struct scx_exit_info *ei)
{
	u64 arg[1];

	__sync_fetch_and_add(&nr_exit, 1);
	exit_kind = ei->kind;
	/*
	 * bpf_snprintf("%s") rather than bpf_probe_read_kernel_str(): libbpf 1.1
	 * turns the latter into bpf_probe_read_str, which struct_ops programs may
	 * not call, when its feature probe (a tracepoint program) fails, as it
	 * does on the minimal test kernel.
	 */
	arg[0] = (u64)ei->reason;
	bpf_snprintf(uei.reason, sizeof(uei.reason), ktbpf_str_fmt, arg, sizeof(arg));
	arg[0] = (u64)ei->msg;
	bpf_snprintf(uei.msg, sizeof(uei.msg), ktbpf_str_fmt, arg, sizeof(arg));
	uei.exit_code = ei->exit_code;
	/* kind last: a reader that sees it set sees the rest (clang-14 has no 32-bit cmpxchg) */
	uei.kind = ei->kind;
}

/*
 * The scheduler's name (ops.name, what /sys/kernel/sched_ext/root/ops reads)
 * and its struct_ops map "<name>_ops". build-bpf.sh OUT_DIR NAME builds a
 * second scheduler from this source with -DKTBPF_SCX_NAME=NAME (and the file
 * NAME.bpf.o, so libbpf's object name, hence its <obj>.bss/.data/.rodata map
 * names, differ too): the truth test loads two and attaches one.
 */
#ifndef KTBPF_SCX_NAME
#define KTBPF_SCX_NAME ktbpf_scx
#endif
#define KTBPF_STR_(x)	 #x
#define KTBPF_STR(x)	 KTBPF_STR_(x)
#define KTBPF_CAT_(a, b) a##b
#define KTBPF_CAT(a, b)	 KTBPF_CAT_(a, b)

SEC(".struct_ops")
struct sched_ext_ops KTBPF_CAT(KTBPF_SCX_NAME, _ops) = {
	.select_cpu = (void *)ktbpf_select_cpu,
	.enqueue = (void *)ktbpf_enqueue,
	.running = (void *)ktbpf_running,
	.init = (void *)ktbpf_init,
	.exit = (void *)ktbpf_exit,
	/*
	 * Only tasks that ask for SCHED_EXT run here (the agent's workload does),
	 * so once that workload ends no callback fires: the guest's counters hold
	 * still between its own report and the host's pause, and the truth test
	 * can compare them exactly. ops.dispatch is left out for the same reason:
	 * the core calls it whenever a CPU goes idle, scx tasks or not.
	 */
	.flags = SCX_OPS_SWITCH_PARTIAL,
	.timeout_ms = KTBPF_TIMEOUT_MS,
	.name = KTBPF_STR(KTBPF_SCX_NAME),
};
