/* SPDX-License-Identifier: MIT */
/*
 * ktbpfctl metrics: ktbpfd's metrics.get, the Prometheus text exposition of
 * every VM you may see, printed as it came (pipe it to a file for
 * node_exporter's textfile collector, or to promtool check metrics).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ktbpf/client.h"

#include "ktbpfctl.h"

static void usage(FILE *out)
{
	fputs("Usage: ktbpfctl metrics [--socket PATH] [--json]\n"
	      "\n"
	      "Print the metrics of every VM registered with ktbpfd that you may see (yours;\n"
	      "all of them for root) in the Prometheus text exposition format 0.0.4: runs,\n"
	      "run time and recursion misses of each struct_ops program (counters), its\n"
	      "verified instructions, bpf_stats_enabled, the sched_ext state, and _info\n"
	      "metrics carrying ids. The guests are walked live: a scrape never freezes one.\n"
	      "\n"
	      "Options:\n"
	      "  -s, --socket PATH  ktbpfd's socket (default: $KTBPF_SOCKET, else\n"
	      "                     " KTBPF_CLIENT_SYSTEM_SOCKET ")\n"
	      "  -j, --json         print metrics.get's JSON answer ({content_type, text})\n"
	      "  -h, --help         show this help\n"
	      "\n"
	      "Examples:\n"
	      "  ktbpfctl metrics\n"
	      "  ktbpfctl metrics > /var/lib/prometheus/node-exporter/ktbpf.prom.$$ &&\n"
	      "    mv /var/lib/prometheus/node-exporter/ktbpf.prom.$$ \\\n"
	      "       /var/lib/prometheus/node-exporter/ktbpf.prom\n"
	      "  (ktbpfd --metrics-textfile PATH does this by itself on a timer.)\n"
	      "\n"
	      "Exit status: 0 success, 1 could not answer (no daemon, an error from the\n"
	      "daemon), 2 usage error. See ktbpfctl(1).\n",
	      out);
}

int ktbpfctl_metrics(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"socket", required_argument, NULL, 's'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *socket = NULL;
	struct ktbpf_client *c = NULL;
	struct ktbpf_err err = {0};
	json_t *res = NULL;
	const char *text;
	bool json = false;
	int ch, r;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "s:jh", longopts, NULL)) != -1) {
		switch (ch) {
		case 's':
			socket = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return KTBPFCTL_EXIT_OK;
		default:
			fprintf(stderr, "see 'ktbpfctl metrics --help'\n");
			return KTBPFCTL_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ktbpfctl metrics: unexpected argument '%s'\n", argv[optind]);
		return KTBPFCTL_EXIT_USAGE;
	}
	r = ktbpf_client_connect(socket, &c, &err);
	if (r >= 0)
		r = ktbpf_client_call(c, "metrics.get", NULL, NULL, 0, &res, &err);
	ktbpf_client_free(c);
	if (r < 0) {
		fprintf(stderr, "ktbpfctl metrics: %s\n", err.msg);
		return KTBPFCTL_EXIT_FAIL;
	}
	text = json_string_value(json_object_get(res, "text"));
	if (!text) {
		fprintf(stderr, "ktbpfctl metrics: the daemon's answer has no text\n");
		json_decref(res);
		return KTBPFCTL_EXIT_FAIL;
	}
	if (json) {
		json_dumpf(res, stdout, JSON_COMPACT);
		fputc('\n', stdout);
	} else
		fputs(text, stdout);
	json_decref(res);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "ktbpfctl metrics: cannot write the output: %s\n",
			strerror(errno ? errno : EIO));
		return KTBPFCTL_EXIT_FAIL;
	}
	return KTBPFCTL_EXIT_OK;
}
