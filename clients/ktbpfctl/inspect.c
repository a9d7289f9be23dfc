/* SPDX-License-Identifier: MIT */
/*
 * ktbpfctl inspect: answer the struct_ops questions from a guest RAM file or
 * an ELF core, offline (no daemon): discover the kernel once, walk prog_idr,
 * print a table or one JSON document.
 *
 * The JSON document is rpc/'s codec (ktbpf/codec.h), the same one ktbpfd's
 * vm.snapshot answers with.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ktbpf/codec-vars.h"
#include "ktbpf/codec.h"
#include "ktbpf/elfcore.h"
#include "ktbpf/kernel.h"
#include "ktbpf/progs.h"
#include "ktbpf/vars.h"

#include "ktbpfctl.h"

#define MAX_REPEAT 1000000

struct opts {
	const char *ram;
	struct {
		uint64_t gpa, size, offset;
	} regions[KTBPF_MEM_MAX_REGIONS];
	size_t nr_regions;
	const char *vmlinux, *system_map, *btf; /* paths: opened here, given as fds */
	struct ktbpf_kernel_hints hints;
	bool json;
	bool vars; /* inspect --vars: the active object's variables too */
	unsigned long repeat;
	struct ktbpf_budget budget;
	/* The command these options are for (inspect, vars) and its own extras. */
	const char *cmd;
	void (*usage)(FILE *out);
	bool takes_arg;	      /* one positional argument (vars: OBJ) */
	const char *arg;      /* it */
	uint32_t map_ids[64]; /* vars --map-id */
	size_t nr_map_ids;
};

/* Everything one run holds, released by ctx_fini(). */
struct ctx {
	int fd;
	struct ktbpf_file files[3]; /* --vmlinux, --system-map, --btf; fd -1 when not given */
	struct ktbpf_mem *mem;
	struct ktbpf_kernel *k;
	struct ktbpf_snapshot *snap;
	uint64_t *times;
	char vmcoreinfo[KTBPF_VMCOREINFO_MAX + 1];
	size_t vmcoreinfo_len; /* from an ELF core's note; 0: none */
};

void ktbpfctl_inspect_usage(FILE *out)
{
	fputs("Usage: ktbpfctl inspect --ram FILE [--region GPA:SIZE:OFFSET]... [--vmlinux FILE]\n"
	      "                        [--system-map FILE] [--btf FILE] [--vmcoreinfo-pa PA]\n"
	      "                        [--arch ARCH] [--cr3|--ttbr1 PA] [--l5] [--kaslr-offset N]\n"
	      "                        [--tcr-el1 VALUE] [--json] [--vars] [--repeat N]\n"
	      "                        [--budget READS] [--budget-ms MS]\n"
	      "\n"
	      "Read a guest kernel's struct_ops BPF programs from a copy of its RAM: their\n"
	      "names, the interface member each implements, verified instructions, run\n"
	      "counts and times summed over CPUs, whether runtime stats are enabled in the\n"
	      "guest, the struct_ops instances (maps: state, member -> program, object) and\n"
	      "the one the kernel has attached (sched_ext's current scheduler, else those in\n"
	      "use, such as a TCP congestion control), and sched_ext's state: flags, watchdog,\n"
	      "bypass depth, counters, SCX_EV_* events and why the scheduler exited (the\n"
	      "kernel's exit record: kind, message, backtrace, dump). Kernel facts (KASLR,\n"
	      "paging, symbols, BTF) are discovered from the RAM itself; files given below\n"
	      "take precedence.\n"
	      "\n",
	      out);
	fputs("Options:\n"
	      "  --ram FILE             guest RAM: a raw memory file (QEMU memory-backend-file)\n"
	      "                         or an ELF core (QEMU dump-guest-memory, /proc/vmcore);\n"
	      "                         an ELF core gives its own regions and VMCOREINFO\n"
	      "  --region GPA:SIZE:OFFSET\n"
	      "                         guest physical range GPA..GPA+SIZE is at byte OFFSET of\n"
	      "                         the raw file (repeatable, at most 64; numbers in C "
	      "syntax,\n"
	      "                         SIZE may end in K, M or G). Default: the whole file at GPA "
	      "0\n"
	      "  --vmlinux FILE         the guest's vmlinux (ELF .symtab and .BTF)\n"
	      "  --system-map FILE      the guest's System.map (or a /proc/kallsyms copy)\n"
	      "  --btf FILE             the guest's BTF: raw (/sys/kernel/btf/vmlinux) or an ELF\n"
	      "                         with .BTF\n"
	      "                         (files are checked against the guest: one from another\n"
	      "                         kernel fails, naming it)\n"
	      "  --vmcoreinfo-pa PA     guest physical address of the VMCOREINFO note (skips the "
	      "scan)\n"
	      "  --arch ARCH            x86_64 or aarch64 (default: from VMCOREINFO, else x86_64)\n"
	      "  --cr3 PA, --ttbr1 PA   page-table root (x86_64 CR3, aarch64 TTBR1_EL1): needed\n"
	      "                         when the guest has no VMCOREINFO, else it overrides it\n"
	      "  --l5                   the guest uses 5-level paging (when VMCOREINFO is absent)\n"
	      "  --kaslr-offset N       the KASLR slide (when VMCOREINFO is absent)\n"
	      "  --tcr-el1 VALUE        aarch64 TCR_EL1 (granule, VA size, DS): needed when the\n"
	      "                         guest has no VMCOREINFO, else it overrides it\n"
	      "  --json                 print one JSON document instead of tables\n"
	      "  --vars                 also the variables by name of the active object (of\n"
	      "                         the scheduler sched_ext ejected, when it did; as\n"
	      "                         'ktbpfctl vars' prints them); \"vars\" in --json\n"
	      "  --repeat N             walk N times after one discovery; report median and\n"
	      "                         minimum walk time (benchmarking)\n"
	      "  --budget READS         stop a walk after this many guest reads and print what\n"
	      "                         it has, marked incomplete (exit 3); 0: no bound\n"
	      "                         (default 2097152; 64 programs x 64 CPUs take ~700)\n"
	      "  --budget-ms MS         the same for the walk's CPU time (default 40)\n"
	      "  -h, --help             show this help\n"
	      "An option with a value, --region apart, may be given once (twice: usage error).\n"
	      "\n"
	      "JSON: counters are integers (clamped to 2^63-1); addresses and offsets are hex\n"
	      "strings \"0x...\". On error, --json also prints {\"error\": \"...\"} on stdout.\n"
	      "\n"
	      "Examples:\n"
	      "  ktbpfctl inspect --ram guest.core\n"
	      "  ktbpfctl inspect --ram /dev/shm/vm1.mem --vmlinux vmlinux-6.12 --json\n"
	      "  ktbpfctl inspect --ram guest.mem --region 0:2G:0 --region 0x100000000:2G:2G\n"
	      "  ktbpfctl inspect --ram arm64-virt.mem --region 0x40000000:512M:0  (QEMU virt)\n"
	      "\n"
	      "Exit status:\n"
	      "  0  success (diagnostics about single programs do not fail the command)\n"
	      "  1  the question could not be answered: RAM file unreadable, no kernel found,\n"
	      "     prog_idr unreadable, output not written\n"
	      "  2  usage error\n"
	      "  3  the answer was printed but is incomplete: prog_idr/map_idr entries skipped,\n"
	      "     a limit hit, diagnostics dropped, runtime stats incomplete or their state\n"
	      "     unknown, or a torn snapshot (stderr says which)\n"
	      "  4  the guest kernel is not ready yet: no VMCOREINFO note in its RAM (still\n"
	      "     booting, or a kernel without CONFIG_VMCORE_INFO); the same command may\n"
	      "     succeed later\n",
	      out);
}

/* One error line on stderr, and {"error": ...} on stdout in JSON mode. */
static bool json_mode(const struct opts *o)
{
	return o && o->json;
}
#define fail(o, status, ...) ktbpfctl_fail(NULL, json_mode(o), status, __VA_ARGS__)

/* A number in C syntax (0x.., decimal), optionally followed by K, M or G (binary). */
static int parse_u64(const char *s, bool suffix, uint64_t *ret)
{
	unsigned long long v;
	unsigned int shift = 0;
	char *end;

	/* strtoull() would skip blanks and accept a sign: " -1" is 2^64-1 */
	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		return -EINVAL;
	if (suffix && *end && !end[1]) {
		switch (*end) {
		case 'k':
		case 'K':
			shift = 10;
			break;
		case 'm':
		case 'M':
			shift = 20;
			break;
		case 'g':
		case 'G':
			shift = 30;
			break;
		default:
			return -EINVAL;
		}
		end++;
	}
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		return -EINVAL;
	*ret = (uint64_t)v << shift;
	return 0;
}

static int parse_region(struct opts *o, const char *arg)
{
	char buf[128], *size, *off;

	if (o->nr_regions >= KTBPF_MEM_MAX_REGIONS)
		return fail(o, KTBPFCTL_EXIT_USAGE, "more than %d --region options",
			    KTBPF_MEM_MAX_REGIONS);
	if (snprintf(buf, sizeof(buf), "%s", arg) >= (int)sizeof(buf))
		goto bad;
	size = strchr(buf, ':');
	off = size ? strchr(size + 1, ':') : NULL;
	if (!off)
		goto bad;
	*size++ = '\0';
	*off++ = '\0';
	if (parse_u64(buf, true, &o->regions[o->nr_regions].gpa) < 0 ||
	    parse_u64(size, true, &o->regions[o->nr_regions].size) < 0 ||
	    parse_u64(off, true, &o->regions[o->nr_regions].offset) < 0 ||
	    !o->regions[o->nr_regions].size)
		goto bad;
	o->nr_regions++;
	return 0;
bad:
	return fail(o, KTBPFCTL_EXIT_USAGE,
		    "bad --region '%s': expected GPA:SIZE:OFFSET, e.g. 0x100000000:2G:0x80000000",
		    arg);
}

enum {
	OPT_RAM = 256,
	OPT_REGION,
	OPT_VMLINUX,
	OPT_SYSMAP,
	OPT_BTF,
	OPT_VIPA,
	OPT_ARCH,
	OPT_JSON,
	OPT_REPEAT,
	OPT_CR3,
	OPT_TCR,
	OPT_L5,
	OPT_KASLR,
	OPT_BUDGET,
	OPT_BUDGET_MS,
	OPT_MAP_ID,
	OPT_VARS,
};

static const struct option longopts[] = {
	{"ram", required_argument, NULL, OPT_RAM},
	{"region", required_argument, NULL, OPT_REGION},
	{"vmlinux", required_argument, NULL, OPT_VMLINUX},
	{"system-map", required_argument, NULL, OPT_SYSMAP},
	{"btf", required_argument, NULL, OPT_BTF},
	{"vmcoreinfo-pa", required_argument, NULL, OPT_VIPA},
	{"arch", required_argument, NULL, OPT_ARCH},
	{"json", no_argument, NULL, OPT_JSON},
	{"repeat", required_argument, NULL, OPT_REPEAT},
	{"cr3", required_argument, NULL, OPT_CR3},
	{"ttbr1", required_argument, NULL, OPT_CR3},
	{"tcr-el1", required_argument, NULL, OPT_TCR},
	{"l5", no_argument, NULL, OPT_L5},
	{"kaslr-offset", required_argument, NULL, OPT_KASLR},
	{"budget", required_argument, NULL, OPT_BUDGET},
	{"budget-ms", required_argument, NULL, OPT_BUDGET_MS},
	{"map-id", required_argument, NULL, OPT_MAP_ID},
	{"vars", no_argument, NULL, OPT_VARS},
	{"help", no_argument, NULL, 'h'},
	{0},
};

/* Returns -1 to go on, else an exit status. */
static int parse_opt(struct opts *o, int c, const char *arg)
{
	uint64_t v;

	switch (c) {
	case OPT_RAM:
		o->ram = arg;
		break;
	case OPT_REGION:
		return parse_region(o, arg) ? KTBPFCTL_EXIT_USAGE : -1;
	case OPT_VMLINUX:
		o->vmlinux = arg;
		break;
	case OPT_SYSMAP:
		o->system_map = arg;
		break;
	case OPT_BTF:
		o->btf = arg;
		break;
	case OPT_JSON:
		o->json = true;
		break;
	case OPT_VIPA:
		if (parse_u64(arg, false, &v) < 0 || !v)
			return fail(o, KTBPFCTL_EXIT_USAGE,
				    "bad --vmcoreinfo-pa '%s': expected "
				    "a non-zero guest physical address",
				    arg);
		o->hints.vmcoreinfo_pa = v;
		break;
	case OPT_ARCH:
		o->hints.arch = ktbpf_arch_from_name(arg);
		if (o->hints.arch == KTBPF_ARCH_UNKNOWN)
			return fail(o, KTBPFCTL_EXIT_USAGE,
				    "unknown --arch '%s': use x86_64 or aarch64", arg);
		break;
	case OPT_REPEAT:
		if (parse_u64(arg, false, &v) < 0 || !v || v > MAX_REPEAT)
			return fail(o, KTBPFCTL_EXIT_USAGE, "bad --repeat '%s': expected 1..%d",
				    arg, MAX_REPEAT);
		o->repeat = (unsigned long)v;
		break;
	case OPT_CR3:
	case OPT_TCR:
	case OPT_KASLR:
		if (parse_u64(arg, false, &v) < 0)
			return fail(o, KTBPFCTL_EXIT_USAGE, "bad value '%s': expected a number",
				    arg);
		if (c == OPT_CR3) {
			o->hints.has_cr3 = true;
			o->hints.cr3 = v;
		} else if (c == OPT_TCR) {
			o->hints.has_tcr_el1 = true;
			o->hints.tcr_el1 = v;
		} else {
			o->hints.has_kaslr_offset = true;
			o->hints.kaslr_offset = v;
		}
		break;
	case OPT_L5:
		o->hints.has_l5 = true;
		o->hints.l5 = true;
		break;
	case OPT_BUDGET:
		if (parse_u64(arg, false, &v) < 0)
			return fail(
				o, KTBPFCTL_EXIT_USAGE,
				"bad --budget '%s': expected a number of guest reads (0: no bound)",
				arg);
		o->budget.max_reads = v;
		break;
	case OPT_BUDGET_MS:
		if (parse_u64(arg, false, &v) < 0 || v > UINT64_MAX / 1000000)
			return fail(o, KTBPFCTL_EXIT_USAGE,
				    "bad --budget-ms '%s': expected milliseconds (0: no bound)",
				    arg);
		o->budget.max_ns = v * 1000000;
		break;
	case OPT_MAP_ID:
		if (!o->takes_arg)
			return fail(o, KTBPFCTL_EXIT_USAGE,
				    "--map-id is an option of 'ktbpfctl vars'");
		if (parse_u64(arg, false, &v) < 0 || !v || v > INT32_MAX ||
		    o->nr_map_ids == sizeof(o->map_ids) / sizeof(o->map_ids[0]))
			return fail(o, KTBPFCTL_EXIT_USAGE,
				    "bad --map-id '%s': expected a map id (at most 64 of them)",
				    arg);
		o->map_ids[o->nr_map_ids++] = (uint32_t)v;
		break;
	case OPT_VARS:
		if (o->takes_arg)
			return fail(o, KTBPFCTL_EXIT_USAGE,
				    "--vars is an option of 'ktbpfctl inspect'");
		o->vars = true;
		break;
	case 'h':
		o->usage(stdout);
		return KTBPFCTL_EXIT_OK;
	default:
		return fail(o, KTBPFCTL_EXIT_USAGE, "see 'ktbpfctl %s --help'", o->cmd);
	}
	return -1;
}

static int parse_args(struct opts *o, int argc, char **argv)
{
	unsigned int seen = 0, bit;
	int c, r, i, li = 0;

	/* Find --json first so that usage errors already follow the output mode. */
	for (i = 1; i < argc && strcmp(argv[i], "--"); i++)
		if (!strcmp(argv[i], "--json"))
			o->json = true;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", longopts, &li)) != -1) {
		if (c == ':')
			return fail(o, KTBPFCTL_EXIT_USAGE,
				    "option '%s' needs a value: see "
				    "'ktbpfctl %s --help'",
				    argv[optind - 1], o->cmd);
		if (c == '?')
			return fail(o, KTBPFCTL_EXIT_USAGE,
				    "unknown option '%s': see "
				    "'ktbpfctl %s --help'",
				    argv[optind - 1], o->cmd);
		/* A value given twice would silently replace the first (--ram a --ram b). */
		bit = c >= OPT_RAM && c <= OPT_BUDGET_MS ? 1u << (c - OPT_RAM) : 0;
		if (c == OPT_REGION || c == OPT_JSON || c == OPT_L5 || c == OPT_MAP_ID)
			bit = 0;
		if (seen & bit)
			return fail(o, KTBPFCTL_EXIT_USAGE, "option '--%s' given twice",
				    longopts[li].name);
		seen |= bit;
		r = parse_opt(o, c, optarg);
		if (r >= 0)
			return r;
	}
	if (o->takes_arg && optind < argc)
		o->arg = argv[optind++];
	if (optind < argc)
		return fail(o, KTBPFCTL_EXIT_USAGE, "unexpected argument '%s'", argv[optind]);
	if (!o->ram)
		return fail(
			o, KTBPFCTL_EXIT_USAGE,
			"no guest RAM given: pass --ram FILE (a raw memory file or an ELF core)");
	return -1;
}

/*
 * The RAM file is mapped (KTBPF_MEM_ASSUME_STABLE) so that walks run at memory
 * speed; if another process truncates it under us, the mapping faults with
 * SIGBUS. The library cannot own a process-wide handler, the command can:
 * say what happened and exit, instead of dumping core.
 */
static void on_sigbus(int sig)
{
	static const char msg[] =
		"ktbpfctl: the guest RAM file shrank while it was being read (was the VM "
		"stopped or the file truncated?); nothing was printed\n";

	(void)sig;
	(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
	_exit(KTBPFCTL_EXIT_FAIL);
}

/*
 * Regions: an ELF core's PT_LOADs, the --region list, or the whole file at
 * GPA 0. Returns -1 to go on, else an exit status.
 */
static int load_ram(const struct opts *o, struct ctx *c)
{
	struct ktbpf_err err = {0};
	struct stat st;
	size_t i, vlen = 0;

	signal(SIGBUS, on_sigbus);
	c->fd = open(o->ram, O_RDONLY | O_CLOEXEC);
	if (c->fd < 0)
		return fail(o, KTBPFCTL_EXIT_FAIL, "cannot open guest RAM '%s': %s", o->ram,
			    strerror(errno));
	if (fstat(c->fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0)
		return fail(o, KTBPFCTL_EXIT_FAIL,
			    "guest RAM '%s' is empty or not a regular file: pass a raw memory "
			    "file or an ELF core",
			    o->ram);
	c->mem = ktbpf_mem_new();
	if (!c->mem)
		return fail(o, KTBPFCTL_EXIT_FAIL, "out of memory");
	if (ktbpf_elfcore_is_elf(c->fd)) {
		if (o->nr_regions)
			return fail(o, KTBPFCTL_EXIT_USAGE,
				    "'%s' is an ELF core: its PT_LOAD segments give the regions, "
				    "drop --region",
				    o->ram);
		if (ktbpf_elfcore_add(c->mem, c->fd, KTBPF_MEM_ASSUME_STABLE, c->vmcoreinfo,
				      sizeof(c->vmcoreinfo), &vlen, &err) < 0)
			return fail(o, KTBPFCTL_EXIT_FAIL, "ELF core '%s': %s", o->ram, err.msg);
		c->vmcoreinfo_len = vlen < sizeof(c->vmcoreinfo) ? vlen : 0;
		c->vmcoreinfo[c->vmcoreinfo_len] = '\0';
		return -1;
	}
	if (!o->nr_regions) {
		if (ktbpf_mem_add_fd(c->mem, 0, (uint64_t)st.st_size, c->fd, 0,
				     KTBPF_MEM_ASSUME_STABLE, &err) < 0)
			return fail(o, KTBPFCTL_EXIT_FAIL, "guest RAM '%s': %s", o->ram, err.msg);
		return -1;
	}
	for (i = 0; i < o->nr_regions; i++) {
		if (ktbpf_mem_add_fd(c->mem, o->regions[i].gpa, o->regions[i].size, c->fd,
				     o->regions[i].offset, KTBPF_MEM_ASSUME_STABLE, &err) < 0)
			return fail(o, KTBPFCTL_EXIT_FAIL,
				    "--region 0x%" PRIx64 ":0x%" PRIx64 ":0x%" PRIx64 ": %s",
				    o->regions[i].gpa, o->regions[i].size, o->regions[i].offset,
				    err.msg);
	}
	return -1;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The options that give what the library says would help (err->need), in
 * our own terms: the library's messages name inputs, never our options.
 */
static void options_for(unsigned int need, enum ktbpf_arch arch, char *buf, size_t size)
{
	static const struct {
		unsigned int bit;
		const char *opts;
	} map[] = {
		{KTBPF_NEED_VMCOREINFO, "--vmcoreinfo-pa PA"},
		{KTBPF_NEED_SYMBOLS, "--vmlinux FILE or --system-map FILE"},
		{KTBPF_NEED_BTF, "--btf FILE or --vmlinux FILE"},
		{KTBPF_NEED_PGD, NULL}, /* --cr3 or --ttbr1 by arch */
		{KTBPF_NEED_TCR_EL1, "--tcr-el1 VALUE"},
		{KTBPF_NEED_L5, "--l5"},
	};
	size_t i, len = 0;

	buf[0] = '\0';
	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		const char *opt = map[i].opts;

		if (!(need & map[i].bit))
			continue;
		if (!opt)
			opt = arch == KTBPF_ARCH_AARCH64 ? "--ttbr1 PA" : "--cr3 PA";
		len += (size_t)snprintf(buf + len, size - len, "%s%s",
					len ? "; " : " (options that may help: ", opt);
		if (len >= size)
			return;
	}
	if (len)
		snprintf(buf + len, size - len, ")");
}

/* A failed discovery: one line, and an exit status by what can be done about it. */
static int discover_failed(const struct opts *o, int r, const struct ktbpf_err *err)
{
	char opts[256];

	options_for(err->need, o->hints.arch, opts, sizeof(opts));
	switch (ktbpf_err_class(r)) {
	case KTBPF_ERR_NOT_READY:
		return fail(o, KTBPFCTL_EXIT_NOT_READY,
			    "guest kernel in '%s' not ready: %s; retry when it has booted%s",
			    o->ram, err->msg, opts);
	case KTBPF_ERR_INPUT:
		/* A file that belongs to another kernel: the message names it and what differs. */
		if (r == -EXDEV)
			return fail(o, KTBPFCTL_EXIT_FAIL, "%s", err->msg);
		/* fall through */
	default:
		return fail(o, KTBPFCTL_EXIT_FAIL, "no guest kernel found in '%s': %s%s", o->ram,
			    err->msg, opts);
	}
}

/*
 * The library opens no path: the files named on the command line are
 * opened here and handed over as fds. Returns -1 to go on, else an exit
 * status.
 */
static int open_files(struct opts *o, struct ctx *c)
{
	const char *paths[3] = {o->vmlinux, o->system_map, o->btf};
	const char *flags[3] = {"--vmlinux", "--system-map", "--btf"};
	const struct ktbpf_file **slots[3] = {&o->hints.vmlinux, &o->hints.system_map,
					      &o->hints.btf};

	for (size_t i = 0; i < 3; i++) {
		if (!paths[i])
			continue;
		c->files[i].fd = open(paths[i], O_RDONLY | O_CLOEXEC);
		if (c->files[i].fd < 0)
			return fail(o, KTBPFCTL_EXIT_FAIL, "cannot open %s '%s': %s", flags[i],
				    paths[i], strerror(errno));
		c->files[i].name = paths[i];
		*slots[i] = &c->files[i];
	}
	return -1;
}

/*
 * Discover once, walk o->repeat times (the last walk is the one reported).
 * Returns -1 on success, else an exit status.
 */
static int run(struct opts *o, struct ctx *c)
{
	struct ktbpf_err err = {0};
	unsigned long i;
	int r;

	r = load_ram(o, c);
	if (r >= 0)
		return r;
	r = open_files(o, c);
	if (r >= 0)
		return r;
	if (c->vmcoreinfo_len) {
		o->hints.vmcoreinfo_text = c->vmcoreinfo;
		o->hints.vmcoreinfo_len = c->vmcoreinfo_len;
	}
	r = ktbpf_kernel_discover(c->mem, &o->hints, &c->k, &err);
	if (r < 0)
		return discover_failed(o, r, &err);
	c->snap = ktbpf_snapshot_new();
	c->times = calloc(o->repeat, sizeof(*c->times));
	if (!c->snap || !c->times)
		return fail(o, KTBPFCTL_EXIT_FAIL, "out of memory");
	c->snap->budget = o->budget;
	for (i = 0; i < o->repeat; i++) {
		if (ktbpf_progs_walk(c->k, c->snap, &err) < 0)
			return fail(o, KTBPFCTL_EXIT_FAIL, "cannot list BPF programs: %s", err.msg);
		c->times[i] = c->snap->walk_ns;
	}
	/* Why the scheduler exited, from its own uei once the kernel freed its record;
	 * a failure is in the snapshot's diagnostics. */
	ktbpf_scx_uei_read(c->k, c->snap, &err);
	ktbpf_scx_exit_symbolize(c->k, c->snap); /* BPF programs only: symbols are not kept */
	qsort(c->times, o->repeat, sizeof(*c->times), cmp_u64);
	return -1;
}

static int print_json(const struct opts *o, const struct ctx *c, json_t *root)
{
	if (o->repeat > 1)
		json_object_set_new(root, "repeat",
				    json_pack("{s:o, s:o, s:o}", "walks",
					      ktbpf_codec_count(o->repeat), "median_walk_ns",
					      ktbpf_codec_count(c->times[o->repeat / 2]),
					      "min_walk_ns", ktbpf_codec_count(c->times[0])));
	json_dumpf(root, stdout, JSON_COMPACT);
	fputc('\n', stdout);
	return KTBPFCTL_EXIT_OK;
}

/* The table is rendered from the same JSON document (render.c), as `ktbpfctl snapshot` does. */
static int print_table(const struct opts *o, const struct ctx *c, json_t *root)
{
	ktbpfctl_json_printable(root);
	ktbpfctl_render_snapshot(root);
	if (o->repeat > 1)
		printf("\nwalk: %lu runs, median %.3f us, min %.3f us\n", o->repeat,
		       (double)c->times[o->repeat / 2] / 1e3, (double)c->times[0] / 1e3);
	else
		printf("\nwalk: %.3f us\n", (double)c->snap->walk_ns / 1e3);
	return KTBPFCTL_EXIT_OK;
}

/* The Snapshot's "vars": the active object's (else the ejected scheduler's) variables, or why not.
 */
static int add_vars(struct ctx *c, json_t *root)
{
	struct ktbpf_vars *v = NULL;
	struct ktbpf_err err = {0};
	struct ktbpf_vars_query q = {.obj = ktbpf_snapshot_dump_object(c->snap)};
	int r = ktbpf_vars_read(c->k, c->snap, &q, &v, &err);

	r = json_object_set_new(root, "vars", ktbpf_codec_vars_result(v, r, &err));
	ktbpf_vars_free(v);
	return r;
}

static void ctx_fini(struct ctx *c)
{
	free(c->times);
	ktbpf_snapshot_free(c->snap);
	ktbpf_kernel_free(c->k);
	ktbpf_mem_free(c->mem);
	if (c->fd >= 0)
		close(c->fd);
	for (size_t i = 0; i < 3; i++)
		if (c->files[i].fd >= 0)
			close(c->files[i].fd);
}

int ktbpfctl_inspect(int argc, char **argv)
{
	struct opts o = {.repeat = 1,
			 .budget = {.max_reads = KTBPF_BUDGET_READS_DEFAULT,
				    .max_ns = KTBPF_BUDGET_NS_DEFAULT},
			 .cmd = "inspect",
			 .usage = ktbpfctl_inspect_usage};
	struct ctx c = {.fd = -1, .files = {{.fd = -1}, {.fd = -1}, {.fd = -1}}};
	json_t *root = NULL;
	char why[256];
	int r;

	r = parse_args(&o, argc, argv);
	if (r >= 0)
		return r;
	r = run(&o, &c);
	if (r < 0) {
		root = ktbpf_codec_snapshot(c.snap, ktbpf_kernel_info(c.k));
		if (root && o.vars && add_vars(&c, root) < 0)
			root = (json_decref(root), NULL);
		if (!root)
			r = fail(&o, KTBPFCTL_EXIT_FAIL,
				 "cannot build the JSON document (out of memory?)");
		else
			r = o.json ? print_json(&o, &c, root) : print_table(&o, &c, root);
	}
	/* A full disk or a closed pipe must not pass for an answer. */
	if (r == KTBPFCTL_EXIT_OK && (fflush(stdout) != 0 || ferror(stdout)))
		r = fail(NULL, KTBPFCTL_EXIT_FAIL, "cannot write the output: %s",
			 strerror(errno ? errno : EIO));
	if (r == KTBPFCTL_EXIT_OK && ktbpfctl_snapshot_incomplete(root, why, sizeof(why)))
		r = fail(NULL, KTBPFCTL_EXIT_INCOMPLETE, "answer incomplete: %s", why);
	json_decref(root);
	ctx_fini(&c);
	return r;
}

/* The RAM session of another command (vars): inspect's options, discovery and one walk. */
struct ktbpfctl_ram {
	struct opts o;
	struct ctx c;
};

int ktbpfctl_ram_open(const char *cmd, void (*usage)(FILE *out), int argc, char **argv,
		      struct ktbpfctl_ram **ret)
{
	struct ktbpfctl_ram *ram = calloc(1, sizeof(*ram));
	int r;

	if (!ram)
		return fail(NULL, KTBPFCTL_EXIT_FAIL, "out of memory");
	ram->o = (struct opts){.repeat = 1,
			       .budget = {.max_reads = KTBPF_BUDGET_READS_DEFAULT,
					  .max_ns = KTBPF_BUDGET_NS_DEFAULT},
			       .cmd = cmd,
			       .usage = usage,
			       .takes_arg = true};
	ram->c = (struct ctx){.fd = -1, .files = {{.fd = -1}, {.fd = -1}, {.fd = -1}}};
	r = parse_args(&ram->o, argc, argv);
	if (r < 0)
		r = run(&ram->o, &ram->c);
	if (r >= 0) {
		ktbpfctl_ram_free(ram);
		return r;
	}
	*ret = ram;
	return -1;
}

void ktbpfctl_ram_free(struct ktbpfctl_ram *ram)
{
	if (ram) {
		ctx_fini(&ram->c);
		free(ram);
	}
}

const struct ktbpf_kernel *ktbpfctl_ram_kernel(const struct ktbpfctl_ram *ram)
{
	return ram->c.k;
}

struct ktbpf_snapshot *ktbpfctl_ram_snapshot(struct ktbpfctl_ram *ram)
{
	return ram->c.snap;
}

bool ktbpfctl_ram_json(const struct ktbpfctl_ram *ram)
{
	return ram->o.json;
}

const char *ktbpfctl_ram_arg(const struct ktbpfctl_ram *ram)
{
	return ram->o.arg;
}

const uint32_t *ktbpfctl_ram_map_ids(const struct ktbpfctl_ram *ram, size_t *ret_nr)
{
	*ret_nr = ram->o.nr_map_ids;
	return ram->o.map_ids;
}

int ktbpfctl_ram_fail(const struct ktbpfctl_ram *ram, int status, const char *msg)
{
	return fail(ram ? &ram->o : NULL, status, "%s", msg);
}
