/* SPDX-License-Identifier: MIT */
/*
 * ktbpf-qemu's options and the QEMU arguments it reads, refuses or adds.
 * QEMU accepts "-opt" and "--opt" alike; so does this.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "ktbpf/client.h"

static void usage(FILE *out)
{
	fputs("Usage: ktbpf-qemu [OPTION...] [--] QEMU-ARGUMENT...\n"
	      "\n"
	      "Run qemu-system-x86_64 with the guest's RAM registered with ktbpfd, so that\n"
	      "ktbpfctl (and any ktbpfd client) can read the guest kernel's struct_ops BPF\n"
	      "programs while it runs, freeze it for an exact snapshot, and take a failure\n"
	      "dump, also after QEMU died. Every QEMU argument is passed through; ktbpf-qemu\n"
	      "adds the RAM backend (a sealed memfd it shares with QEMU and ktbpfd), its own\n"
	      "QMP socket and -S (the guest starts once it is registered). It exits with\n"
	      "QEMU's status (128+N when QEMU died of signal N).\n"
	      "\n"
	      "Options (before the QEMU arguments):\n"
	      "  -s, --socket PATH    ktbpfd's socket (default: $KTBPF_SOCKET, else\n"
	      "                       " KTBPF_CLIENT_SYSTEM_SOCKET ")\n"
	      "  -n, --name NAME      the VM's name in ktbpfd (default: QEMU's -name, else\n"
	      "                       qemu-PID); unique among your VMs\n"
	      "  -l, --label KEY=VAL  a label for the VM (repeatable)\n"
	      "      --require-monitor  fail (exit 1, QEMU not started or stopped) when\n"
	      "                       ktbpfd cannot be reached or refuses the guest at\n"
	      "                       start; by default the guest then runs unmonitored\n"
	      "                       until ktbpfd answers. Later, a ktbpfd that goes\n"
	      "                       away never stops the guest: ktbpf-qemu says so and\n"
	      "                       registers it again once ktbpfd is back (tried\n"
	      "                       every 1 to 30 s)\n"
	      "      --qemu PROGRAM   the emulator (default: $QEMU_BIN, else\n"
	      "                       qemu-system-x86_64)\n"
	      "  -h, --help\n"
	      "      --version\n"
	      "\n"
	      "QEMU arguments it reads: -m (RAM size; no slots/maxmem), -machine/-M (pc or\n"
	      "q35, whose RAM split around the PCI hole it computes and checks against\n"
	      "QEMU's own memory tree), -smp, -name, -S. It refuses -numa, -mem-path,\n"
	      "-daemonize and -machine memory-backend=.\n"
	      "\n"
	      "Example:\n"
	      "  ktbpfd --socket /run/user/1000/ktbpfd.sock &\n"
	      "  KTBPF_SOCKET=/run/user/1000/ktbpfd.sock ktbpf-qemu --name t1 -- \\\n"
	      "      -machine q35 -m 2G -smp 2 -kernel bzImage -initrd initrd -nographic\n"
	      "  ktbpfctl snapshot t1; ktbpfctl dump t1 --reason 'test timed out'\n"
	      "\n"
	      "See ktbpf-qemu(1).\n",
	      out);
}

/* "-opt" or "--opt" is name. */
static bool is_opt(const char *a, const char *name)
{
	if (a[0] != '-')
		return false;
	a += a[1] == '-' ? 2 : 1;
	return !strcmp(a, name);
}

/* The value of key in a QEMU option string "a,b=c,key=v" (first positional
 * element when key is NULL), copied into buf; false when absent. */
static bool opt_value(const char *s, const char *key, char *buf, size_t size)
{
	bool first = true;

	while (*s) {
		size_t n = strcspn(s, ",");
		const char *eq = memchr(s, '=', n);
		const char *v = NULL;
		size_t vn = 0;

		if (!key && first && !eq) {
			v = s;
			vn = n;
		} else if (key && eq && (size_t)(eq - s) == strlen(key) &&
			   !strncmp(s, key, (size_t)(eq - s))) {
			v = eq + 1;
			vn = n - (size_t)(eq - s) - 1;
		}
		if (v) {
			if (vn >= size)
				vn = size - 1;
			memcpy(buf, v, vn);
			buf[vn] = 0;
			return true;
		}
		first = false;
		s += n;
		if (*s == ',')
			s++;
	}
	return false;
}

void say(const char *fmt, ...)
{
	va_list ap;

	fputs("ktbpf-qemu: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* A usage error: said, pointing at --help; -1. */
#define bad(fmt, ...) (say(fmt " (see ktbpf-qemu --help)", ##__VA_ARGS__), -1)

static int read_mem(const char *v, struct opts *o)
{
	char buf[64];

	if (strstr(v, "slots=") || strstr(v, "maxmem="))
		return bad("-m %s: memory hotplug (slots, maxmem) is not supported: RAM plugged "
			   "in later would be invisible to ktbpfd; drop slots= and maxmem=",
			   v);
	if (!opt_value(v, "size", buf, sizeof(buf)) && !opt_value(v, NULL, buf, sizeof(buf)))
		return bad("-m %s: no size", v);
	/* QEMU's -m takes a plain number as MiB, as layout_parse_size() does. */
	if (layout_parse_size(buf, &o->ram_size) < 0)
		return bad("-m %s: not a size (e.g. 2048, 2G, size=2G)", v);
	/* softmmu/vl.c parse_memory_options(): QEMU rounds the size up to 8 KiB,
	 * and the backend must be of the size it ends up with. */
	o->ram_size = (o->ram_size + 8191) & ~8191ull;
	return 0;
}

static int read_machine(const char *v, struct opts *o)
{
	struct ktbpf_err err = {0};
	char type[64];

	if (strstr(v, "memory-backend="))
		return bad("-machine %s: ktbpf-qemu provides the RAM backend itself; drop "
			   "memory-backend= and its -object: ktbpf-qemu's backend (id " ARGS_RAM_ID
			   ") is a shared memfd (share=on) of -m's size",
			   v);
	if (!opt_value(v, "type", type, sizeof(type)) && !opt_value(v, NULL, type, sizeof(type)))
		return 0; /* properties only: the type comes from another -machine */
	if (!strcmp(type, "help") || !strcmp(type, "?"))
		return 0; /* QEMU lists its machines and exits */
	if (layout_parse_machine(type, &o->machine, &err) < 0)
		return bad("-machine %s: %s", v, err.msg);
	return 0;
}

/* Whether QEMU argument a (value v) only asks QEMU to print something and
 * exit: -version, -help, or "help"/"?" given to an option that lists its
 * choices (-M help, -cpu ?, -device e1000,help). */
static bool asks_qemu_only(const char *a, const char *v)
{
	static const char *const lists[] = {"M",	"machine", "cpu",     "device",	 "accel",
					    "object",	"netdev",  "chardev", "display", "vga",
					    "audiodev", "global",  "d",	      "trace",	 "nic"};
	size_t n = strlen(v);

	if (is_opt(a, "version") || is_opt(a, "help") || is_opt(a, "h"))
		return true;
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
		if (is_opt(a, lists[i]))
			return !strcmp(v, "help") || !strcmp(v, "?") ||
			       (n > 5 && !strcmp(v + n - 5, ",help"));
	return false;
}

/* Read the QEMU arguments that decide the layout; refuse what breaks it. */
static int read_qemu_args(struct opts *o)
{
	const char *smp[16];
	unsigned int nr_smp = 0;

	for (int i = 0; i < o->nr_qemu_args; i++) {
		const char *a = o->qemu_args[i],
			   *v = i + 1 < o->nr_qemu_args ? o->qemu_args[i + 1] : "";
		char buf[128];
		int r = 0;

		if (asks_qemu_only(a, v)) {
			o->qemu_query = true;
			return 0;
		}
		if (is_opt(a, "numa") || is_opt(a, "mem-path"))
			return bad(
				"QEMU's %s is not supported: the guest's RAM must be one backend "
				"that ktbpf-qemu owns; drop it (and any -object memory-backend-* "
				"it names): ktbpf-qemu's backend is a shared memfd (share=on) of "
				"-m's size",
				a);
		if (is_opt(a, "daemonize"))
			return bad("QEMU's %s is not supported: ktbpf-qemu must wait for QEMU; "
				   "drop it and run ktbpf-qemu itself in the background",
				   a);
		if (is_opt(a, "S"))
			o->user_stopped = true;
		else if (is_opt(a, "m"))
			r = read_mem(v, o);
		else if (is_opt(a, "machine") || is_opt(a, "M"))
			r = read_machine(v, o);
		else if (is_opt(a, "smp")) {
			if (nr_smp < sizeof(smp) / sizeof(smp[0]))
				smp[nr_smp] = v;
			nr_smp++;
		} else if (is_opt(a, "name") && !o->name) {
			if (opt_value(v, "guest", buf, sizeof(buf)) ||
			    opt_value(v, NULL, buf, sizeof(buf)))
				o->name = strdup(buf);
		}
		if (r < 0)
			return r;
	}
	/* Past the cap the count is unknown: 0, left out of vm.register. */
	if (nr_smp <= sizeof(smp) / sizeof(smp[0]))
		o->cpus = layout_smp_cpus(smp, nr_smp);
	return 0;
}

static int add_label(struct opts *o, const char *kv)
{
	const char *eq = strchr(kv, '=');
	char key[128];

	if (!eq || eq == kv || (size_t)(eq - kv) >= sizeof(key))
		return bad("--label %s: want KEY=VALUE", kv);
	memcpy(key, kv, (size_t)(eq - kv));
	key[eq - kv] = 0;
	json_object_set_new(o->labels, key, json_string(eq + 1));
	return 0;
}

int args_parse(int argc, char **argv, struct opts *o)
{
	const char *name = NULL;
	int i;

	*o = (struct opts){.machine = LAYOUT_PC, .ram_size = 128ULL << 20};
	o->labels = json_object();
	o->qemu = getenv("QEMU_BIN") && *getenv("QEMU_BIN") ? getenv("QEMU_BIN")
							    : "qemu-system-x86_64";
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		bool takes = true;

		if (!strcmp(a, "--")) {
			i++;
			break;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--version")) {
			printf("ktbpf-qemu %s\n", KTBPF_VERSION);
			return 0;
		} else if (!strcmp(a, "--require-monitor")) {
			o->require_monitor = true;
			takes = false;
		} else if (!strcmp(a, "-s") || !strcmp(a, "--socket") || !strcmp(a, "-n") ||
			   !strcmp(a, "--name") || !strcmp(a, "-l") || !strcmp(a, "--label") ||
			   !strcmp(a, "--qemu")) {
			if (!v)
				return bad("%s needs a value", a);
			if (a[1] == 's' || !strcmp(a, "--socket"))
				o->socket = v;
			else if (a[1] == 'n' || !strcmp(a, "--name"))
				name = v;
			else if (!strcmp(a, "--qemu"))
				o->qemu = v;
			else if (add_label(o, v) < 0)
				return -1;
		} else {
			break; /* the first QEMU argument */
		}
		if (takes)
			i++;
	}
	o->qemu_args = argv + i;
	o->nr_qemu_args = argc - i;
	if (!o->nr_qemu_args)
		return bad("no QEMU arguments");
	if (name)
		o->name = strdup(name);
	if (read_qemu_args(o) < 0)
		return -1;
	if (!o->name && asprintf(&o->name, "qemu-%d", (int)getpid()) < 0)
		return bad("out of memory");
	o->socket = ktbpf_client_socket_path(o->socket);
	return 1;
}

void args_free(struct opts *o)
{
	free(o->name);
	json_decref(o->labels);
}

int args_qemu_argv(const struct opts *o, int ram_fd, int qmp_fd, char ***ret)
{
	char **v = calloc((size_t)o->nr_qemu_args + 12, sizeof(*v));
	int n = 0;

	if (!v)
		return -ENOMEM;
	v[n++] = strdup(o->qemu);
	v[n++] = strdup("-S");
	v[n++] = strdup("-machine");
	v[n++] = strdup("memory-backend=" ARGS_RAM_ID);
	v[n++] = strdup("-object");
	if (asprintf(&v[n++],
		     "memory-backend-file,id=" ARGS_RAM_ID ",size=%" PRIu64
		     ",mem-path=/proc/self/fd/%d,share=on",
		     o->ram_size, ram_fd) < 0)
		v[n - 1] = NULL;
	v[n++] = strdup("-chardev");
	if (asprintf(&v[n++], "socket,id=" ARGS_QMP_ID ",fd=%d", qmp_fd) < 0)
		v[n - 1] = NULL;
	v[n++] = strdup("-mon");
	v[n++] = strdup("chardev=" ARGS_QMP_ID ",mode=control");
	for (int i = 0; i < o->nr_qemu_args; i++)
		v[n++] = strdup(o->qemu_args[i]);
	for (int i = 0; i < n; i++) {
		if (!v[i]) {
			args_free_argv(v);
			return -ENOMEM;
		}
	}
	*ret = v;
	return 0;
}

void args_free_argv(char **argv)
{
	if (!argv)
		return;
	for (char **p = argv; *p; p++)
		free(*p);
	free(argv);
}
