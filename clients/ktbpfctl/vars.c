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

#define MAX_TEXT_DEPTH 64

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

static void print_value(const json_t *n)
{
	const char *kind = json_string_value(json_object_get(n, "kind"));
	const json_t *v = json_object_get(n, "value");

	if (!strcmp(kind, "error")) {
		printf(" ! %s", json_string_value(json_object_get(n, "error")));
		return;
	}
	if (!strcmp(kind, "nosum")) {
		printf(" (not summed)");
		return;
	}
	if (!v)
		return;
	if (!strcmp(kind, "string"))
		printf(" = \"%s\"", json_string_value(v));
	else if (json_is_string(v))
		printf(" = %s", json_string_value(v));
	else if (json_is_integer(v))
		printf(" = %" JSON_INTEGER_FORMAT, json_integer_value(v));
	else if (json_is_real(v))
		printf(" = %.17g", json_real_value(v));
	else if (json_is_boolean(v))
		printf(" = %s", json_is_true(v) ? "true" : "false");
}

static void print_node(const json_t *n, int depth)
{
	const char *name = json_string_value(json_object_get(n, "name"));
	const json_t *idx = json_object_get(n, "index"), *kids = json_object_get(n, "children");
	size_t i;

	printf("%*s", 2 * depth, "");
	if (name && !strcmp(name, "cpu"))
		printf("cpu %" JSON_INTEGER_FORMAT, json_integer_value(idx));
	else if (idx)
		printf("[%" JSON_INTEGER_FORMAT "]", json_integer_value(idx));
	else
		printf("%s", name && *name ? name : "(anon)");
	print_value(n);
	printf("  <%s>\n", json_string_value(json_object_get(n, "type")));
	for (i = 0; kids && depth < MAX_TEXT_DEPTH && i < json_array_size(kids); i++)
		print_node(json_array_get(kids, i), depth + 1);
}

static void print_text(const json_t *root)
{
	const json_t *maps = json_object_get(root, "maps"),
		     *diags = json_object_get(root, "diagnostics");
	const char *obj = json_string_value(json_object_get(root, "object"));
	size_t i, j;

	if (obj && *obj)
		printf("object %s\n", obj);
	for (i = 0; i < json_array_size(maps); i++) {
		const json_t *m = json_array_get(maps, i), *err = json_object_get(m, "error");
		const json_t *vars = json_object_get(m, "vars");
		const char *type = json_string_value(json_object_get(m, "type"));

		printf("\nmap %" JSON_INTEGER_FORMAT " %s",
		       json_integer_value(json_object_get(m, "id")),
		       json_string_value(json_object_get(m, "name")));
		if (!strcmp(type, "percpu_array"))
			printf(": per-CPU array, %" JSON_INTEGER_FORMAT
			       " entries of %" JSON_INTEGER_FORMAT " bytes, %" JSON_INTEGER_FORMAT
			       " CPUs\n",
			       json_integer_value(json_object_get(m, "max_entries")),
			       json_integer_value(json_object_get(m, "value_size")),
			       json_integer_value(json_object_get(m, "cpus")));
		else
			printf(": %s, %" JSON_INTEGER_FORMAT " bytes\n",
			       json_string_value(json_object_get(m, "section")),
			       json_integer_value(json_object_get(m, "value_size")));
		if (err)
			printf("  ! %s\n", json_string_value(json_object_get(err, "message")));
		for (j = 0; j < json_array_size(vars); j++)
			print_node(json_array_get(vars, j), 1);
	}
	if (json_array_size(diags))
		printf("\ndiagnostics:\n");
	for (i = 0; i < json_array_size(diags); i++)
		printf("  %s\n",
		       json_string_value(json_object_get(json_array_get(diags, i), "message")));
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
		print_text(root);
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
