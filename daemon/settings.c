/* SPDX-License-Identifier: MIT */
/*
 * ktbpfd's settings: the defaults, then a config file, then the command
 * line, each overriding the one before. The file is --config FILE, else
 * KTBPFD_CONFIG when it exists; one "name = value" a line, the names of the
 * long options ("freeze-timeout-ms = 500"), '#' starts a comment.
 *
 * SIGHUP reads all three again (settings_reload()): a file with an error
 * changes nothing. What the daemon owns from the start (the socket, the
 * state directory) needs a restart and says so; the rest applies at once:
 * timeouts and retention to what starts next, limits to what arrives next
 * (a connection keeps the line and fd limits it was accepted with), dump
 * retention at the next dump or dump.list, the metrics textfile and the
 * kernel checks' timers restarted with their new period.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ktbpf/mem.h"
#include "ktbpf/peer.h"
#include "ktbpf/wire.h"
#include "daemon-internal.h"

#define MAX_CONFIG_BYTES (64u << 10)

enum kind { NUM, UINT, SIZE, STR };

/* One setting: option name, where it lives, its range; scale multiplies (seconds to ms). */
struct def {
	const char *name;
	enum kind kind;
	size_t off;
	uint64_t min, max, scale;
	bool restart; /* only read at start */
};

#define N(name, field, min, max, scale)                                                            \
	{                                                                                          \
		name, NUM, offsetof(struct settings, field), min, max, scale, false                \
	}
#define U(name, field, max)                                                                        \
	{                                                                                          \
		name, UINT, offsetof(struct settings, field), 1, max, 1, false                     \
	}

static const struct def defs[] = {
	N("freeze-timeout-ms", freeze_timeout_ms, 1, UINT32_MAX, 1),
	N("retention-ms", retention_ms, 1, UINT32_MAX, 1),
	U("max-connections", max_connections, UINT32_MAX),
	{"max-line", SIZE, offsetof(struct settings, max_line), 1, UINT32_MAX, 1, false},
	U("max-fds-msg", max_fds_msg, KTBPF_WIRE_FDS_MSG_CAP),
	U("max-pending", max_pending, UINT32_MAX),
	U("max-vms", max_vms, UINT32_MAX),
	U("max-regions", max_regions, KTBPF_MEM_MAX_REGIONS),
	{"max-out", SIZE, offsetof(struct settings, max_out), 1, UINT32_MAX, 1, false},
	{"state-dir", STR, offsetof(struct settings, state_dir), 0, 0, 0, true},
	N("dump-max-use", dump_max_use, 0, UINT64_MAX, 1),
	N("dump-keep-free", dump_keep_free, 0, UINT64_MAX, 1),
	N("dump-max-age-s", dump_max_age_s, 0, UINT64_MAX, 1),
	{"metrics-textfile", STR, offsetof(struct settings, metrics_textfile), 0, 0, 0, false},
	N("metrics-interval", metrics_interval_ms, 1, UINT32_MAX / 1000, 1000),
	N("check-interval-ms", check_interval_ms, 1, UINT32_MAX, 1),
};
#define NR_DEFS (sizeof(defs) / sizeof(defs[0]))

enum { OPT_SOCKET = 256, OPT_CONFIG, OPT_VERSION, OPT_DEF };

void settings_default(struct settings *s)
{
	*s = (struct settings){
		.max_connections = 256,
		.max_line = KTBPF_WIRE_MAX_LINE,
		.max_fds_msg = KTBPF_WIRE_FDS_MSG_CAP,
		.max_fds_queued = KTBPF_WIRE_FDS_MSG_CAP,
		.max_pending = KTBPF_PEER_MAX_PENDING,
		.max_vms = 1024,
		.max_regions = KTBPF_MEM_MAX_REGIONS,
		.max_out = KTBPF_WIRE_MAX_OUT,
		.freeze_timeout_ms = 2000,
		.retention_ms = 600000,
		.retry_min_ms = 50,
		.retry_max_ms = 5000,
		.drain_timeout_ms = 10000,
		.dump_max_use = 1ull << 30,
		.dump_keep_free = 256ull << 20,
		.dump_max_age_s = 3 * 24 * 3600,
		.metrics_interval_ms = 15000,
		.check_interval_ms = 2000,
	};
	/* systemd's StateDirectory= sets $STATE_DIRECTORY (a colon-separated list: the first). */
	s->state_dir = getenv("STATE_DIRECTORY");
	if (s->state_dir && strchr(s->state_dir, ':')) {
		static char first[4096];

		snprintf(first, sizeof(first), "%.*s", (int)strcspn(s->state_dir, ":"),
			 s->state_dir);
		s->state_dir = first;
	}
	if (!s->state_dir || !*s->state_dir)
		s->state_dir = "/var/lib/ktbpfd";
}

/* Set df in s from text v (a string setting borrows v); where names the source in errors. */
static int set_one(struct settings *s, const struct def *df, const char *v, const char *where)
{
	char *p = (char *)s + df->off, *end;
	unsigned long long n;

	if (df->kind == STR) {
		*(const char **)p = v;
		return 0;
	}
	errno = 0;
	n = strtoull(v, &end, 0);
	if (errno || end == v || *end || v[0] == '-' || n < df->min || n > df->max) {
		fprintf(stderr,
			"ktbpfd: %s: %s: '%s' is not a number in %" PRIu64 "..%" PRIu64 "\n", where,
			df->name, v, df->min, df->max);
		return -EINVAL;
	}
	if (df->kind == UINT)
		*(unsigned *)p = (unsigned)n;
	else if (df->kind == SIZE)
		*(size_t *)p = (size_t)n;
	else
		*(uint64_t *)p = n * df->scale;
	return 0;
}

/* A numeric setting's value (as stored). */
static uint64_t value_of(const struct settings *s, const struct def *df)
{
	const char *p = (const char *)s + df->off;

	return df->kind == UINT	  ? *(const unsigned *)p
	       : df->kind == SIZE ? *(const size_t *)p
				  : *(const uint64_t *)p;
}

static const struct def *find_def(const char *name, size_t len)
{
	for (size_t i = 0; i < NR_DEFS; i++)
		if (strlen(defs[i].name) == len && !memcmp(defs[i].name, name, len))
			return &defs[i];
	return NULL;
}

static char *trim(char *s, char *end)
{
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		*--end = '\0';
	*end = '\0';
	return s;
}

/*
 * Apply the config file at path to s. *ret_buf holds its text (string
 * settings point into it: free it only once s is gone). An absent file is
 * fine unless must.
 */
static int load_file(struct settings *s, const char *path, bool must, char **ret_buf)
{
	FILE *f = fopen(path, "re");
	char *buf, *line, *next;
	unsigned lineno = 0;
	size_t n;

	*ret_buf = NULL;
	if (!f) {
		if (!must && errno == ENOENT)
			return 0;
		fprintf(stderr, "ktbpfd: config %s: %s\n", path, strerror(errno));
		return -errno;
	}
	buf = malloc(MAX_CONFIG_BYTES + 1);
	n = buf ? fread(buf, 1, MAX_CONFIG_BYTES + 1, f) : 0;
	fclose(f);
	if (!buf || n > MAX_CONFIG_BYTES) {
		fprintf(stderr, "ktbpfd: config %s: %s\n", path,
			buf ? "longer than 64 KiB" : "out of memory");
		free(buf);
		return buf ? -EFBIG : -ENOMEM;
	}
	buf[n] = '\0';
	for (line = buf; line; line = next) {
		char *eq, *hash, *name, *val, where[64 + 4096];
		const struct def *df;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		if ((hash = strchr(line, '#')))
			*hash = '\0';
		name = trim(line, line + strlen(line));
		if (!*name)
			continue;
		snprintf(where, sizeof(where), "config %s line %u", path, lineno);
		eq = strchr(name, '=');
		df = NULL;
		if (eq) {
			*eq = '\0';
			name = trim(name, eq);
			df = find_def(name, strlen(name));
		}
		if (!eq || !df) {
			fprintf(stderr, "ktbpfd: %s: '%s' is not name = value with a known name\n",
				where, name);
			free(buf);
			return -EINVAL;
		}
		val = trim(eq + 1, eq + 1 + strlen(eq + 1));
		if (set_one(s, df, val, where) < 0) {
			free(buf);
			return -EINVAL;
		}
	}
	*ret_buf = buf;
	return 0;
}

static struct option *longopts(void)
{
	static struct option o[NR_DEFS + 5];

	if (o[0].name)
		return o;
	o[0] = (struct option){"socket", required_argument, NULL, OPT_SOCKET};
	o[1] = (struct option){"config", required_argument, NULL, OPT_CONFIG};
	o[2] = (struct option){"help", no_argument, NULL, 'h'};
	o[3] = (struct option){"version", no_argument, NULL, OPT_VERSION};
	for (size_t i = 0; i < NR_DEFS; i++)
		o[4 + i] = (struct option){defs[i].name, required_argument, NULL, OPT_DEF + (int)i};
	return o;
}

/* The command line: --socket and --config into *src, the rest applied to s when s != NULL. */
static int parse_argv(struct settings *s, int argc, char **argv, struct settings_src *src)
{
	int c;

	optind = 0; /* glibc: start over (SIGHUP parses again) */
	opterr = s != NULL;
	while ((c = getopt_long(argc, argv, "h", longopts(), NULL)) != -1) {
		if (c == 'h') {
			src->help = true;
			continue;
		}
		if (c == OPT_VERSION) {
			src->version = true;
			continue;
		}
		if (c == OPT_SOCKET) {
			src->socket = optarg;
			continue;
		}
		if (c == OPT_CONFIG) {
			src->config = optarg;
			continue;
		}
		if (c < OPT_DEF) {
			if (s)
				return -EINVAL;
			continue;
		}
		if (s && set_one(s, &defs[c - OPT_DEF], optarg, "command line") < 0)
			return -EINVAL;
	}
	if (s && optind < argc) {
		fprintf(stderr, "ktbpfd: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

int settings_load(struct settings *s, int argc, char **argv, struct settings_src *src)
{
	const char *config;
	int r;

	*src = (struct settings_src){0};
	settings_default(s);
	parse_argv(NULL, argc, argv, src); /* where the file is, first */
	config = src->config ? src->config : KTBPFD_CONFIG;
	r = load_file(s, config, src->config != NULL, &src->buf);
	if (r < 0)
		return r;
	if (parse_argv(s, argc, argv, src) < 0) {
		free(src->buf);
		src->buf = NULL;
		return -EINVAL;
	}
	if (s->max_fds_queued < s->max_fds_msg)
		s->max_fds_queued = s->max_fds_msg;
	return 0;
}

static bool same_str(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/* "name old -> new" for every setting that changed; the ones that need a restart kept. */
static void log_changes(const struct settings *old, struct settings *now)
{
	for (size_t i = 0; i < NR_DEFS; i++) {
		const struct def *df = &defs[i];
		const char *a = (const char *)old + df->off;
		char *b = (char *)now + df->off;

		if (df->kind == STR) {
			if (same_str(*(const char *const *)a, *(char **)b))
				continue;
			fprintf(stderr, "ktbpfd: SIGHUP: %s '%s' -> '%s'%s\n", df->name,
				*(const char *const *)a ? *(const char *const *)a : "",
				*(char **)b ? *(char **)b : "",
				df->restart ? ": needs a restart, kept" : "");
			if (df->restart)
				*(const char **)b = *(const char *const *)a;
			continue;
		}
		if (value_of(old, df) == value_of(now, df))
			continue;
		fprintf(stderr, "ktbpfd: SIGHUP: %s %" PRIu64 " -> %" PRIu64 "\n", df->name,
			value_of(old, df) / df->scale, value_of(now, df) / df->scale);
	}
}

int settings_reload(struct daemon *d)
{
	struct settings now, old = d->set;
	struct settings_src src;
	int r = settings_load(&now, d->argc, d->argv, &src);

	if (r < 0) {
		fprintf(stderr, "ktbpfd: SIGHUP: settings not reloaded (the error above); the "
				"old ones stay\n");
		return r;
	}
	log_changes(&old, &now);
	d->set = now;
	/* String settings point into the file's text: the old text stays (a scrape in flight
	 * may hold its path); reloads are rare and the text is small. */
	if (src.buf) {
		src.next = d->config_texts;
		d->config_texts = malloc(sizeof(*d->config_texts));
		if (d->config_texts)
			*d->config_texts = src;
	}
	fprintf(stderr, "ktbpfd: SIGHUP: settings reloaded (%s)\n",
		src.config ? src.config : KTBPFD_CONFIG);
	return 0;
}

void settings_usage(FILE *out)
{
	fputs("Usage: ktbpfd [--socket PATH] [--config FILE] [OPTION...]\n"
	      "\n"
	      "Serve ktbpf's JSON-RPC API (rpc/openrpc.json) on a Unix socket: VMMs register\n"
	      "guests with their RAM as fds, clients ask for snapshots of the guests'\n"
	      "struct_ops BPF programs. Without --socket the sockets come from systemd\n"
	      "(socket activation).\n"
	      "\n"
	      "  --socket PATH              listen on PATH (created; removed at exit)\n"
	      "  --config FILE              settings as 'name = value' lines, the names of the\n"
	      "                             options below (default " KTBPFD_CONFIG " when\n"
	      "                             it exists); the command line wins; SIGHUP reads\n"
	      "                             both again\n"
	      "  --freeze-timeout-ms N      wait N ms for a VMM to freeze (default 2000)\n"
	      "  --retention-ms N           keep a detached VM readable N ms (default 600000)\n"
	      "  --max-connections N        (default 256)\n"
	      "  --max-line BYTES           longest request line (default 1 MiB)\n"
	      "  --max-fds-msg N            fds in one message, 1..253 (default 253)\n"
	      "  --max-pending N            requests served at once per connection (default 64)\n"
	      "  --max-vms N                (default 1024)\n"
	      "  --max-regions N            regions per VM, 1..64 (default 64)\n"
	      "  --max-out BYTES            answers queued for a slow reader before it is\n"
	      "                             disconnected (default 16 MiB)\n"
	      "  --state-dir DIR            failure dumps go in DIR/dumps (default\n"
	      "                             $STATE_DIRECTORY, else /var/lib/ktbpfd)\n"
	      "  --dump-max-use BYTES       keep at most BYTES of dumps, oldest deleted first\n"
	      "                             (default 1 GiB; 0: no limit)\n"
	      "  --dump-keep-free BYTES     delete the oldest dumps while the disk has less\n"
	      "                             free (default 256 MiB; 0: no limit)\n"
	      "  --dump-max-age-s N         delete dumps older than N s (default 259200, 3 days)\n"
	      "  --metrics-textfile PATH    write every VM's metrics (Prometheus text format) to\n"
	      "                             PATH for node_exporter's textfile collector,\n"
	      "                             atomically (PATH.tmp.PID renamed); no TCP port\n"
	      "  --metrics-interval SECONDS rewrite it every SECONDS (default 15)\n"
	      "  --check-interval-ms N      check that an idle VM's kernel still runs (a reboot\n"
	      "                             changes it) every N ms (default 2000); every\n"
	      "                             snapshot checks too\n"
	      "  -h, --help                 this text\n"
	      "      --version              print ktbpfd's version\n",
	      out);
}
