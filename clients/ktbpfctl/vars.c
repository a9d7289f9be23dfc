/* SPDX-License-Identifier: MIT */
/*
 * ktbpfctl vars: a BPF object's variables by name (ktbpf/vars.h) from a
 * guest RAM file or ELF core, offline: the active scheduler's (or a named
 * object's, or given maps') global sections and per-CPU arrays, as a tree
 * of text or the JSON document of ktbpf/codec-vars.h. The options are
 * inspect's (shared in inspect.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ktbpf/codec-vars.h"
#include "ktbpf/vars.h"

#include "ktbpfctl.h"

void ktbpfctl_vars_usage(FILE *out)
{
	fputs("Usage: ktbpfctl vars --ram FILE [OPTIONS] [OBJ]\n"
	      "       ktbpfctl vars --ram FILE [OPTIONS] --map-id ID [--map-id ID]...\n"
	      "\n"
	      "Print a BPF object's variables by name, read from a copy of the guest's RAM:\n"
	      "its global sections (OBJ.bss, .data, .rodata, .data.*, .bss.*) and its per-CPU\n"
	      "arrays (each element summed over the possible CPUs, and per CPU), decoded\n"
	      "with the object's own BTF as the guest kernel keeps it. OBJ is a struct_ops\n"
	      "object's name as 'ktbpfctl inspect' shows it; without it, the active one\n"
	      "(sched_ext's scheduler, else the struct_ops in use). Integers, bools, enums by\n"
	      "name, floats, char arrays as strings, pointers as addresses, structs, unions\n"
	      "and arrays nested.\n"
	      "\n"
	      "Options: those of 'ktbpfctl inspect' (--ram, --region, --vmlinux, --system-map,\n"
	      "--btf, --vmcoreinfo-pa, --arch, --cr3, --ttbr1, --l5, --kaslr-offset, --tcr-el1,\n"
	      "--budget, --budget-ms), and:\n"
	      "  --map-id ID            read exactly this map (repeatable, at most 64), of any\n"
	      "                         object; OBJ is then ignored\n"
	      "  --json                 one JSON document: {\"object\", \"maps\": [{\"id\", "
	      "\"name\",\n"
	      "                         \"section\", \"type\", \"value_size\", \"max_entries\",\n"
	      "                         \"vars\": [{\"name\", \"type\", \"kind\", \"value\" or\n"
	      "                         \"children\"}]}], \"capped\", \"diagnostics\"}\n"
	      "  -h, --help             show this help\n"
	      "\n"
	      "Strings keep printable ASCII; '\\' is written '\\\\' and other bytes \\xNN.\n"
	      "\n"
	      "Examples:\n"
	      "  ktbpfctl vars --ram /dev/shm/vm1.mem\n"
	      "  ktbpfctl vars --ram guest.core ktbpf_scx --json\n"
	      "\n"
	      "Exit status:\n"
	      "  0  success\n"
	      "  1  no answer: RAM unreadable, no kernel found, no such object or map, the\n"
	      "     kernel lacks the layouts\n"
	      "  2  usage error\n"
	      "  3  printed, but incomplete: a map not decoded (bad or missing BTF, value\n"
	      "     unreadable) or a bound hit (stderr says which)\n"
	      "  4  the guest kernel is not ready yet\n",
	      out);
}

/* Why the answer is not whole, in words; false when it is. */
static bool incomplete(const struct ktbpf_vars *v, char *why, size_t size)
{
	size_t i;

	for (i = 0; i < v->nr_maps; i++)
		if (v->maps[i].error) {
			snprintf(why, size, "map %" PRIu32 " (%s): %s", v->maps[i].id,
				 v->maps[i].name, v->maps[i].msg);
			return true;
		}
	if (v->capped || v->diags_dropped) {
		snprintf(why, size, "%s", v->nr_diags ? v->diags[0].msg : "diagnostics dropped");
		return true;
	}
	return false;
}

int ktbpfctl_vars(int argc, char **argv)
{
	struct ktbpfctl_ram *ram = NULL;
	struct ktbpf_vars_query q = {0};
	struct ktbpf_vars *v = NULL;
	struct ktbpf_err err = {0};
	json_t *root = NULL;
	char msg[512], why[300];
	int r;

	r = ktbpfctl_ram_open("vars", ktbpfctl_vars_usage, argc, argv, &ram);
	if (r >= 0)
		return r;
	q.obj = ktbpfctl_ram_arg(ram);
	q.map_ids = ktbpfctl_ram_map_ids(ram, &q.nr_map_ids);
	r = ktbpf_vars_read(ktbpfctl_ram_kernel(ram), ktbpfctl_ram_snapshot(ram), &q, &v, &err);
	if (r < 0) {
		snprintf(msg, sizeof(msg), "cannot read variables: %s", err.msg);
		r = ktbpfctl_ram_fail(ram, KTBPFCTL_EXIT_FAIL, msg);
		goto out;
	}
	root = ktbpf_codec_vars(v);
	if (!root) {
		r = ktbpfctl_ram_fail(ram, KTBPFCTL_EXIT_FAIL, "out of memory for the document");
		goto out;
	}
	if (ktbpfctl_ram_json(ram)) {
		json_dumpf(root, stdout, JSON_COMPACT);
		fputc('\n', stdout);
	} else {
		ktbpfctl_json_printable(root);
		ktbpfctl_render_vars(root);
	}
	r = KTBPFCTL_EXIT_OK;
	if (fflush(stdout) != 0 || ferror(stdout)) {
		snprintf(msg, sizeof(msg), "cannot write the output: %s",
			 strerror(errno ? errno : EIO));
		r = ktbpfctl_ram_fail(NULL, KTBPFCTL_EXIT_FAIL, msg);
	} else if (incomplete(v, why, sizeof(why))) {
		snprintf(msg, sizeof(msg), "answer incomplete: %s", why);
		r = ktbpfctl_ram_fail(NULL, KTBPFCTL_EXIT_INCOMPLETE, msg);
	}
out:
	json_decref(root);
	ktbpf_vars_free(v);
	ktbpfctl_ram_free(ram);
	return r;
}
