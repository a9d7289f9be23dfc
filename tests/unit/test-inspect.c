/* SPDX-License-Identifier: MIT */
/*
 * `ktbpfctl inspect`, the real binary ($KTBPFCTL), on kit guests saved as raw
 * RAM files and as ELF cores written here: its JSON must carry the kit's
 * truth, its errors must be one clear line with the documented exit status.
 * jansson's compact output keeps insertion order, so whole objects are
 * compared as text.
 */
#include <criterion/criterion.h>
#include <elf.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/btf.h>
#include <jansson.h>

#include "kit-btf.h"
#include "kit-guest.h"
#include "kit-vars.h"
#include "unit.h"

/* Run $KTBPFCTL with args (NULL-terminated), capturing stdout and stderr. */
static struct unit_run run(const char *const *args)
{
	const char *bin = getenv("KTBPFCTL");
	const char *argv[32] = {"ktbpfctl"};

	cr_assert_not_null(bin, "KTBPFCTL (path of the ktbpfctl binary) is not set");
	for (size_t i = 0; args[i]; i++) {
		cr_assert_lt(i + 2, sizeof(argv) / sizeof(argv[0]), "too many arguments");
		argv[i + 1] = args[i];
	}
	return unit_run(bin, argv);
}
/* A failure: the status, one stderr line "ktbpfctl: ..." mentioning what. */
static void assert_one_line_error(const struct unit_run *r, int status, const char *what)
{
	const char *nl = strchr(r->err, '\n');

	cr_assert_eq(r->status, status, "exit %d, want %d; stderr: %s", r->status, status, r->err);
	cr_assert(!strncmp(r->err, "ktbpfctl: ", 10), "stderr: %s", r->err);
	cr_assert(nl && nl[1] == '\0', "exactly one line: %s", r->err);
	if (what)
		cr_assert(strstr(r->err, what), "'%s' not in: %s", what, r->err);
}

static char *tmp_path(const char *name)
{
	char *p = NULL;

	cr_assert(asprintf(&p, "/tmp/ktbpf-inspect-%d-%s", (int)getpid(), name) > 0);
	return p;
}

/* "progs": every struct_ops program of g, field by field. */
static void assert_json_progs(const struct kit_guest *g, const char *out)
{
	char buf[512];

	for (uint32_t i = 0; i < g->nr_progs; i++) {
		const struct kit_guest_prog *t = &g->progs[i];

		if (!t->struct_ops)
			continue;
		snprintf(buf, sizeof(buf),
			 "{\"id\":%u,\"name\":\"%s\",\"interface\":\"%s\",\"member\":\"%s\","
			 "\"verified_insns\":%u,\"run_cnt\":%" PRIu64 ",\"run_time_ns\":%" PRIu64
			 ",\"recursion_misses\":%" PRIu64 ",\"stats_complete\":true}",
			 t->id, t->name, t->iface, t->member, t->verified_insns, t->cnt, t->nsecs,
			 t->misses);
		cr_assert(strstr(out, buf), "missing %s in\n%s", buf, out);
	}
}

/* "struct_ops": every instance, members in member order, in map id order. */
static void assert_json_instances(const struct kit_guest *g, const char *out)
{
	static const char *const state[] = {"init", "inuse", "tobefree", "ready"};
	char buf[4096];
	size_t n;
	uint32_t i, m;

	n = (size_t)snprintf(buf, sizeof(buf), "\"struct_ops\":[");
	for (i = 0; i < g->nr_insts; i++) {
		const struct kit_guest_inst *t = &g->insts[i];

		n += (size_t)snprintf(buf + n, sizeof(buf) - n,
				      "%s{\"map_id\":%u,\"name\":\"%s\",\"interface\":\"%s\","
				      "\"state\":\"%s\",\"object\":\"%s\",\"members\":[",
				      i ? "," : "", t->map_id, t->spec.name, t->iface,
				      state[t->spec.state], t->obj);
		for (m = 0; m < t->nr_members; m++)
			n += (size_t)snprintf(buf + n, sizeof(buf) - n,
					      "%s{\"member\":\"%s\",\"prog_id\":%u}", m ? "," : "",
					      t->member[m], t->prog_id[m]);
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "],\"linked\":%s}",
				      t->spec.linked ? "true" : "false");
	}
	snprintf(buf + n, sizeof(buf) - n, "],");
	cr_assert(strstr(out, buf), "missing %s in\n%s", buf, out);
}

/* The truth as ktbpfctl --json must print it. */
static void assert_json_truth(const struct kit_guest *g, const char *out)
{
	char buf[1024];
	uint32_t i, possible = 0;

	for (i = 0; i < g->nr_cpus; i++)
		possible += kit_kernel_cpu_possible(g->kk, i);
	snprintf(buf, sizeof(buf),
		 "{\"kernel\":{\"release\":\"6.1.0-kit\",\"arch\":\"x86_64\",\"kaslr_offset\":"
		 "\"0x%" PRIx64 "\",\"phys_base\":\"0x%" PRIx64 "\",\"page_offset\":\"0x%" PRIx64
		 "\",\"pgtable_levels\":%d,\"nr_cpu_ids\":%u,\"possible_cpus\":%u,"
		 "\"percpu_scheme\":\"%s\",",
		 g->kk->kerneloffset, g->kk->phys_base, g->kk->page_offset,
		 g->opts.kernel.l5 ? 5 : 4, g->nr_cpus, possible,
		 g->opts.kernel.relative_percpu ? "relative" : "zero-based");
	cr_assert(!strncmp(out, buf, strlen(buf)), "kernel:\n%s\nwant prefix:\n%s", out, buf);
	cr_assert(strstr(out, "\"stats_enabled\":true,\"progs\":[{"), "%s", out);
	assert_json_progs(g, out);
	assert_json_instances(g, out);
	cr_assert_eq(g->nr_active, 2, "the default guest: its scheduler and its TCP cc");
	snprintf(buf, sizeof(buf),
		 "\"active\":{\"attached\":true,\"instances\":[%u,%u],\"map_id\":%u,\"obj_name\":"
		 "\"%s\",\"interface\":\"%s\",\"source\":\"sched_ext\",\"reason\":null},"
		 "\"sched_ext\":{\"enable_state\":\"enabled\",\"ops_name\":\"%s\",\"map_id\":%u,"
		 "\"layout\":\"scx_ops\",",
		 g->active_ids[0], g->active_ids[1], g->active_map_id, g->active_obj,
		 g->active_iface, g->active_obj, g->active_map_id);
	cr_assert(strstr(out, buf), "missing %s in\n%s", buf, out);
	/* sched_ext's state and exit record as the kit wrote them (kit-guest.h KIT_SCX_*) */
	snprintf(buf, sizeof(buf),
		 "\"layout\":\"scx_ops\",\"ops_flags\":\"0x%llx\",\"watchdog_timeout_jiffies\":%u,"
		 "\"watchdog_age_jiffies\":%u,\"bypass_depth\":%d,\"switched_all\":true,"
		 "\"switching_all\":true,\"nr_rejected\":%d,\"enable_seq\":%d,"
		 "\"hotplug_seq\":%d,\"exit_kind\":%d,\"events\":null,"
		 "\"exit\":{\"source\":\"kernel\",\"kind\":%d,\"kind_name\":\"SCX_EXIT_ERROR_BPF\","
		 "\"exit_code\":%d,\"reason\":\"%s\",\"msg\":\"%s\",\"backtrace\":[\"0x%" PRIx64
		 "\",\"0x%" PRIx64 "\",\"0x%" PRIx64
		 "\"],\"dump\":\"Error: ktbpf test error 7\\nCPU "
		 "states\\n----------\\n\"}},\"torn\":false,",
		 KIT_SCX_FLAGS, KIT_SCX_TIMEOUT, KIT_SCX_AGE, KIT_SCX_BYPASS, KIT_SCX_NR_REJECTED,
		 KIT_SCX_ENABLE_SEQ, KIT_SCX_HOTPLUG_SEQ, KIT_SCX_EXIT_KIND, KIT_SCX_EXIT_KIND,
		 KIT_SCX_EXIT_CODE, KIT_SCX_EXIT_REASON, KIT_SCX_EXIT_MSG, g->scx_bt[0],
		 g->scx_bt[1], g->scx_bt[2]);
	cr_assert(strstr(out, buf), "missing %s in\n%s", buf, out);
	cr_assert(strstr(out, "\"capped\":false,\"skipped\":0,\"diagnostics\":[],\"walk_ns\":"),
		  "%s", out);
	cr_assert_eq(strchr(out, '\n'), out + strlen(out) - 1, "one line of JSON");
}

Test(inspect, raw_ram_file_json_matches_truth)
{
	struct kit_guest_opts o = {.kernel = {.l5 = true, .slide = 0x1e00000, .nr_cpus = 3}};
	struct kit_guest *g = kit_guest_new(&o);
	char *path = tmp_path("raw");
	struct unit_run r;

	kit_image_save(g->im, path);
	r = run((const char *const[]){"inspect", "--ram", path, "--json", NULL});
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	cr_assert_str_eq(r.err, "");
	assert_json_truth(g, r.out);
	unit_run_free(&r);
	unlink(path);
	free(path);
	kit_guest_free(g);
}

/*
 * --vars: the snapshot carries the active object's variables (the codec of
 * `vars --json`), and the table prints them; without it there are none.
 */
Test(inspect, vars_option_adds_the_active_objects_variables)
{
	struct kit_guest_opts o = {.scx = KIT_SCX_ROOT, .scx_no_exit_info = true};
	struct kit_guest *g = kit_guest_new(&o);
	static uint8_t v[KIT_UEI_SIZE];
	char *path = tmp_path("vars");
	struct unit_run r;
	json_t *j, *m;

	kit_vars_uei_value(v, 1025, -7, "scx_bpf_error", "ktbpf test error 7");
	kit_vars_uei_map(g, "kitsched", v, false);
	kit_image_save(g->im, path);
	r = run((const char *const[]){"inspect", "--ram", path, "--json", "--vars", NULL});
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	j = json_loads(r.out, 0, NULL);
	cr_assert_not_null(j, "%s", r.out);
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "vars"), "object")),
			 "kitsched", "%s", r.out);
	m = json_array_get(json_object_get(json_object_get(j, "vars"), "maps"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(m, "name")), "kitsched.data");
	cr_assert_str_eq(json_string_value(json_object_get(
				 json_array_get(json_object_get(m, "vars"), 0), "name")),
			 "uei");
	json_decref(j);
	unit_run_free(&r);
	r = run((const char *const[]){"inspect", "--ram", path, "--vars", NULL});
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	cr_assert_not_null(strstr(r.out, "variables of kitsched (the active object)"), "%s", r.out);
	cr_assert_not_null(strstr(r.out, "    msg = \"ktbpf test error 7\"  <char[1024]>\n"), "%s",
			   r.out);
	cr_assert_not_null(strstr(r.out, "exit (the scheduler's uei copy): SCX_EXIT_ERROR_BPF"),
			   "%s", r.out);
	unit_run_free(&r);
	r = run((const char *const[]){"inspect", "--ram", path, "--json", NULL});
	cr_assert_null(strstr(r.out, "\"vars\""), "variables without --vars");
	unit_run_free(&r);
	r = run((const char *const[]){"vars", "--ram", path, "--vars", NULL});
	cr_assert_eq(r.status, 2, "--vars is inspect's");
	unit_run_free(&r);
	unlink(path);
	free(path);
	kit_guest_free(g);
}

/*
 * sched_ext ejected its scheduler (its record freed) while a TCP congestion
 * control is in use: the failure report shows the scheduler's variables and
 * its uei's exit, not the active cc's.
 */
Test(inspect, vars_of_an_ejected_scheduler_are_the_last_schedulers)
{
	struct kit_guest_opts o = {
		.scx = KIT_SCX_ROOT, .scx_no_exit_info = true, .scx_attached = UINT32_MAX};
	struct kit_guest *g = kit_guest_new(&o);
	static uint8_t v[KIT_UEI_SIZE];
	char *path = tmp_path("ejected");
	struct unit_run r;

	kit_vars_uei_value(v, 1026, 0, "runnable task stall", "kworker/0:1[9] failed to run");
	kit_vars_uei_map(g, "kitsched", v, false);
	kit_image_save(g->im, path);
	r = run((const char *const[]){"inspect", "--ram", path, "--vars", NULL});
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	cr_assert_not_null(strstr(r.out, "active: kitcc"), "a TCP cc is active now: %s", r.out);
	cr_assert_not_null(
		strstr(r.out, "variables of kitsched (sched_ext's scheduler, not active)"),
		"the scheduler that exited, not the active cc: %s", r.out);
	cr_assert_not_null(strstr(r.out, "reason = \"runnable task stall\""), "%s", r.out);
	cr_assert_not_null(strstr(r.out, "exit (the scheduler's uei copy)"), "%s", r.out);
	unit_run_free(&r);
	unlink(path);
	free(path);
	kit_guest_free(g);
}

/* x86_64 6.15+ per-CPU offsets, with holes in the possible mask: sums over the possible CPUs. */
Test(inspect, relative_percpu_guest_with_possible_holes_json_matches_truth)
{
	struct kit_guest_opts o = {
		.kernel = {.relative_percpu = true, .nr_cpus = 5, .possible_holes = 0x8}};
	struct kit_guest *g = kit_guest_new(&o);
	char *path = tmp_path("rel");
	struct unit_run r;

	kit_image_save(g->im, path);
	r = run((const char *const[]){"inspect", "--ram", path, "--json", NULL});
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	cr_assert(strstr(r.out, "\"possible_cpus\":4,\"percpu_scheme\":\"relative\""), "%s", r.out);
	assert_json_truth(g, r.out);
	unit_run_free(&r);
	r = run((const char *const[]){"inspect", "--ram", path, NULL});
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	cr_assert(strstr(r.out, "CPUs          4 possible (nr_cpu_ids 5, per-CPU relative)"), "%s",
		  r.out);
	unit_run_free(&r);
	unlink(path);
	free(path);
	kit_guest_free(g);
}

Test(inspect, table_output_names_programs_and_active_object)
{
	struct kit_guest *g = kit_guest_new(NULL);
	char *path = tmp_path("table");
	struct unit_run r;

	kit_image_save(g->im, path);
	r = run((const char *const[]){"inspect", "--ram", path, "--repeat", "3", NULL});
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	cr_assert(strstr(r.out, "sched_ext_ops.select_cpu"), "%s", r.out);
	cr_assert(strstr(r.out, "tcp_congestion_ops.cong_avoid"), "%s", r.out);
	cr_assert(strstr(r.out,
			 "active: kitsched (sched_ext_ops, the kernel's sched_ext scheduler; "
			 "map 7, 8)"),
		  "%s", r.out);
	cr_assert(strstr(r.out, "sched_ext: enabled, scheduler 'kitsched' (scx_ops layout)"), "%s",
		  r.out);
	cr_assert(strstr(r.out, "select_cpu=1 enqueue=7"), "%s", r.out);
	cr_assert(strstr(r.out,
			 "  flags 0x5, watchdog timeout 750 jiffies, last progress 42 "
			 "jiffies ago\n"
			 "  bypass depth 2, all tasks switched yes (switch_all yes), rejected 3, "
			 "enable seq 5, hotplug seq 11, exit kind 1025\n"
			 "  exit (the kernel's record): SCX_EXIT_ERROR_BPF (kind 1025), exit "
			 "code -7, reason 'scx_bpf_error'\n"
			 "    message: ktbpf test error 7\n"),
		  "%s", r.out);
	cr_assert(strstr(r.out, "    dump:\nError: ktbpf test error 7\nCPU states\n"), "%s", r.out);
	cr_assert(strstr(r.out, "runtime stats enabled"), "%s", r.out);
	cr_assert(strstr(r.out, "walk: 3 runs, median"), "%s", r.out);
	unit_run_free(&r);
	unlink(path);
	free(path);
	kit_guest_free(g);
}

/* Nothing attached: said with a reason, never a loaded object; no sched_ext part on a kernel
 * without it. */
Test(inspect, nothing_attached_json_and_table_say_why)
{
	static const struct kit_prog_spec progs[] = {
		{.id = 1, .iface = KIT_IFACE_TCP, .member = 1, .obj = "idle"},
	};
	static const uint32_t ids[] = {1};
	static const struct kit_st_spec insts[] = {
		{.name = "idle",
		 .iface = KIT_IFACE_TCP,
		 .state = KTBPF_ST_TOBEFREE,
		 .prog_ids = ids,
		 .nr_prog_ids = 1},
	};
	struct kit_guest_opts o = {.progs = progs,
				   .nr_progs = 1,
				   .instances = insts,
				   .nr_instances = 1,
				   .scx = KIT_SCX_NONE};
	struct kit_guest *g = kit_guest_new(&o);
	char *path = tmp_path("none"), want[512];
	struct unit_run r;

	kit_image_save(g->im, path);
	r = run((const char *const[]){"inspect", "--ram", path, "--json", NULL});
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	snprintf(want, sizeof(want),
		 "\"struct_ops\":[{\"map_id\":%u,\"name\":\"idle\",\"interface\":"
		 "\"tcp_congestion_ops\",\"state\":\"tobefree\",\"object\":\"idle\",\"members\":"
		 "[{\"member\":\"cong_avoid\",\"prog_id\":1}],\"linked\":false}],\"active\":{"
		 "\"attached\":false,"
		 "\"instances\":[],\"map_id\":null,\"obj_name\":null,\"interface\":null,\"source\":"
		 "\"none\",\"reason\":\"1 struct_ops instance(s) loaded, none attached\"},"
		 "\"sched_ext\":null,\"torn\":false,",
		 g->insts[0].map_id);
	cr_assert(strstr(r.out, want), "missing %s in\n%s", want, r.out);
	unit_run_free(&r);
	r = run((const char *const[]){"inspect", "--ram", path, NULL});
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	cr_assert(strstr(r.out, "active: nothing attached (1 struct_ops instance(s) loaded, none "
				"attached)"),
		  "%s", r.out);
	cr_assert_null(strstr(r.out, "sched_ext:"), "%s", r.out);
	unit_run_free(&r);
	unlink(path);
	free(path);
	kit_guest_free(g);
}

Test(inspect, region_option_places_ram_at_a_file_offset)
{
	struct kit_guest *g = kit_guest_new(NULL);
	char *path = tmp_path("region"), region[64];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	static const char junk[8192] = {1};
	struct unit_run r;

	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	cr_assert_eq(write(fd, g->im->buf, g->im->size), (ssize_t)g->im->size);
	close(fd);
	snprintf(region, sizeof(region), "0:%" PRIu64 "M:8K", g->im->size >> 20);
	r = run((const char *const[]){"inspect", "--ram", path, "--region", region, "--json",
				      NULL});
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	assert_json_truth(g, r.out);
	unit_run_free(&r);
	unlink(path);
	free(path);
	kit_guest_free(g);
}

/*
 * An ELF core as QEMU's dump-guest-memory writes it: a VMCOREINFO note and
 * PT_LOADs at their physical addresses, here two segments stored in reverse
 * order in the file. The note in RAM is wiped so only the core's note helps.
 */
static void write_core(struct kit_guest *g, const char *path)
{
	const char *vi = kit_kernel_vmcoreinfo_text(g->kk);
	uint64_t half = g->im->size / 2, vlen = strlen(vi);
	uint64_t note_off = sizeof(Elf64_Ehdr) + 3 * sizeof(Elf64_Phdr);
	uint64_t note_size = sizeof(Elf64_Nhdr) + 12 + ((vlen + 3) & ~3ull);
	uint64_t data = (note_off + note_size + 4095) & ~4095ull;
	Elf64_Ehdr eh = {.e_type = ET_CORE,
			 .e_machine = EM_X86_64,
			 .e_version = EV_CURRENT,
			 .e_phoff = sizeof(Elf64_Ehdr),
			 .e_ehsize = sizeof(Elf64_Ehdr),
			 .e_phentsize = sizeof(Elf64_Phdr),
			 .e_phnum = 3};
	Elf64_Phdr ph[3] = {
		{.p_type = PT_NOTE, .p_offset = note_off, .p_filesz = note_size},
		{.p_type = PT_LOAD,
		 .p_offset = data + half,
		 .p_paddr = 0,
		 .p_filesz = half,
		 .p_memsz = half},
		{.p_type = PT_LOAD,
		 .p_offset = data,
		 .p_paddr = half,
		 .p_filesz = half,
		 .p_memsz = half},
	};
	Elf64_Nhdr nh = {.n_namesz = 11, .n_descsz = (Elf64_Word)vlen, .n_type = 0};
	char name[12] = "VMCOREINFO", pad[4] = {0};
	FILE *f = fopen(path, "w");

	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	memset(kit_ptr(g->im, g->kk->vmcoreinfo_pa, 64), 0, 64);
	cr_assert_not_null(f);
	fwrite(&eh, sizeof(eh), 1, f);
	fwrite(ph, sizeof(ph), 1, f);
	fwrite(&nh, sizeof(nh), 1, f);
	fwrite(name, 12, 1, f);
	fwrite(vi, vlen, 1, f);
	fwrite(pad, (4 - vlen % 4) % 4, 1, f);
	fseek(f, (long)data, SEEK_SET);
	fwrite(g->im->buf + half, half, 1, f);
	fwrite(g->im->buf, half, 1, f);
	cr_assert_eq(fclose(f), 0);
}

Test(inspect, elf_core_with_vmcoreinfo_note_matches_truth)
{
	struct kit_guest_opts o = {.kernel = {.slide = 0x4200000}, .nr_struct_ops = 6};
	struct kit_guest *g = kit_guest_new(&o);
	char *path = tmp_path("core");
	struct unit_run r;

	write_core(g, path);
	r = run((const char *const[]){"inspect", "--ram", path, "--json", NULL});
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	assert_json_truth(g, r.out);
	unit_run_free(&r);
	r = run((const char *const[]){"inspect", "--ram", path, "--region", "0:4K:0", NULL});
	assert_one_line_error(&r, 2, "ELF core");
	unit_run_free(&r);
	unlink(path);
	free(path);
	kit_guest_free(g);
}

/* ktbpfctl opens the files it is given and hands them over as fds: one it cannot open is named. */
Test(inspect, unopenable_symbol_file_names_its_option)
{
	struct kit_guest *g = kit_guest_new(NULL);
	char *path = tmp_path("fileopt");
	static const char *const opts[] = {"--vmlinux", "--system-map", "--btf"};
	struct unit_run r;

	kit_image_save(g->im, path);
	for (int i = 0; i < 3; i++) {
		char want[64];

		r = run((const char *const[]){"inspect", "--ram", path, opts[i],
					      "/nonexistent/file", NULL});
		snprintf(want, sizeof(want), "cannot open %s '/nonexistent/file'", opts[i]);
		assert_one_line_error(&r, 1, want);
		unit_run_free(&r);
	}
	unlink(path);
	free(path);
	kit_guest_free(g);
}

Test(inspect, missing_file_fails_with_one_line)
{
	struct unit_run r =
		run((const char *const[]){"inspect", "--ram", "/nonexistent/ram", NULL});

	assert_one_line_error(&r, 1, "/nonexistent/ram");
	cr_assert_str_eq(r.out, "");
	unit_run_free(&r);
	r = run((const char *const[]){"inspect", "--json", "--ram", "/nonexistent/ram", NULL});
	assert_one_line_error(&r, 1, "No such file");
	cr_assert(!strncmp(r.out, "{\"error\":\"cannot open guest RAM", 30), "%s", r.out);
	unit_run_free(&r);
}

Test(inspect, short_and_garbage_files_fail_with_one_line)
{
	char *path = tmp_path("garbage");
	static uint8_t buf[1 << 20];
	struct unit_run r;
	size_t i;
	FILE *f;

	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 2654435761u >> 13);
	f = fopen(path, "w");
	fwrite(buf, 100, 1, f);
	fclose(f);
	/* No note in it: what a guest still booting looks like (exit 4, retry). */
	r = run((const char *const[]){"inspect", "--ram", path, NULL});
	assert_one_line_error(&r, 4, "not ready");
	/* The library says what is missing; ktbpfctl names its own options for it. */
	cr_assert_not_null(strstr(r.err, "options that may help: --vmcoreinfo-pa PA"), "%s", r.err);
	cr_assert_not_null(strstr(r.err, "--cr3 PA"), "%s", r.err);
	unit_run_free(&r);
	f = fopen(path, "w");
	fwrite(buf, sizeof(buf), 1, f);
	fclose(f);
	r = run((const char *const[]){"inspect", "--ram", path, "--json", NULL});
	assert_one_line_error(&r, 4, "VMCOREINFO");
	cr_assert(!strncmp(r.out, "{\"error\":", 9), "%s", r.out);
	unit_run_free(&r);
	f = fopen(path, "w");
	fclose(f);
	r = run((const char *const[]){"inspect", "--ram", path, NULL});
	assert_one_line_error(&r, 1, "empty");
	unit_run_free(&r);
	unlink(path);
	free(path);
}

Test(inspect, usage_errors_exit_2)
{
	const char *const *cases[] = {
		(const char *const[]){"inspect", NULL},
		(const char *const[]){"inspect", "--ram", "x", "--bogus", NULL},
		(const char *const[]){"inspect", "--ram", "x", "--region", "12", NULL},
		(const char *const[]){"inspect", "--ram", "x", "--repeat", "0", NULL},
		(const char *const[]){"inspect", "--ram", "x", "--arch", "sparc", NULL},
		(const char *const[]){"inspect", "--ram", "x", "extra", NULL},
		(const char *const[]){"inspect", "--ram", NULL},
		/* strtoull() skips blanks and takes a sign: " -1" must not be 2^64-1 */
		(const char *const[]){"inspect", "--ram", "x", "--region", " -1:4K:0", NULL},
		(const char *const[]){"inspect", "--ram", "x", "--region", "0:+4K:0", NULL},
		(const char *const[]){"inspect", "--ram", "x", "--region", "0:16E:0", NULL},
		(const char *const[]){"inspect", "--ram", "x", "--cr3", " -4096", NULL},
		/* a second value would silently replace the first */
		(const char *const[]){"inspect", "--ram", "x", "--ram", "y", NULL},
		(const char *const[]){"inspect", "--ram", "x", "--cr3", "1", "--ttbr1", "2", NULL},
		(const char *const[]){"frobnicate", NULL},
		(const char *const[]){NULL},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct unit_run r = run(cases[i]);

		cr_log_info("case %zu: %s", i, r.err);
		assert_one_line_error(&r, 2, NULL);
		unit_run_free(&r);
	}
}

Test(inspect, repeated_option_is_named_in_the_error)
{
	struct unit_run r = run((const char *const[]){"inspect", "--ram", "x", "--json", "--btf",
						      "a", "--btf", "b", NULL});

	assert_one_line_error(&r, 2, "'--btf' given twice");
	cr_assert(!strncmp(r.out, "{\"error\":", 9), "%s", r.out);
	unit_run_free(&r);
}

/*
 * A guest's strings are bytes, not UTF-8: jansson refuses invalid UTF-8, and
 * the program must still be listed (the bytes shown as '?'), not vanish.
 */
Test(inspect, non_utf8_guest_name_keeps_the_program_in_json)
{
	const struct kit_prog_spec progs[] = {
		{.id = 1, .name = "ok_prog", .iface = KIT_IFACE_TCP, .member = 1, .obj = "kitcc"},
		{.id = 2,
		 .name = "bad\xff\xfe",
		 .iface = KIT_IFACE_TCP,
		 .member = 2,
		 .obj = "kitcc"},
	};
	struct kit_guest_opts o = {.progs = progs, .nr_progs = 2};
	struct kit_guest *g = kit_guest_new(&o);
	char *path = tmp_path("utf8");
	struct unit_run r;

	kit_image_save(g->im, path);
	r = run((const char *const[]){"inspect", "--ram", path, "--json", NULL});
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	cr_assert(strstr(r.out, "\"id\":1,\"name\":\"ok_prog\""), "%s", r.out);
	cr_assert(strstr(r.out, "\"id\":2,\"name\":\"bad??\""), "%s", r.out);
	unit_run_free(&r);
	unlink(path);
	free(path);
	kit_guest_free(g);
}

/*
 * A hostile guest's escape sequences (a program name, the scheduler's exit
 * message) never reach the terminal through the tables.
 */
Test(inspect, guest_escape_sequences_are_not_printed_to_the_terminal)
{
	const struct kit_prog_spec progs[] = {
		{.id = 1, .name = "ev\x1b]0;pwn\x07", .iface = KIT_IFACE_SCX, .obj = "kitsched"},
	};
	struct kit_guest_opts o = {.progs = progs, .nr_progs = 1};
	struct kit_guest *g = kit_guest_new(&o);
	const struct ktbpf_scx_offsets *so = &g->lay.off.st.scx;
	uint64_t msg = kit_r64(g->im, kit_kernel_kva_pa(g->kk, g->scx_exit_info_kva + so->ei_msg));
	char *path = tmp_path("esc");
	struct unit_run r;

	kit_kernel_wkva(g->kk, msg,
			"boom\x1b[2J\xc2\x9b"
			"31m",
			14);
	kit_image_save(g->im, path);
	r = run((const char *const[]){"inspect", "--ram", path, "--vars", NULL});
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	cr_assert_null(strchr(r.out, '\x1b'), "an escape reached the terminal: %s", r.out);
	cr_assert_null(strstr(r.out, "\xc2\x9b"), "a C1 CSI reached the terminal");
	cr_assert_not_null(strstr(r.out, "ev?]0;pwn?"), "%s", r.out);
	cr_assert_not_null(strstr(r.out, "message: boom?[2J??31m"), "%s", r.out);
	unit_run_free(&r);
	unlink(path);
	free(path);
	kit_guest_free(g);
}

/* An answer that could not be written is a failure, not exit 0. */
Test(inspect, unwritable_output_fails)
{
	struct kit_guest *g = kit_guest_new(NULL);
	char *path = tmp_path("full"), *cmd = NULL;
	const char *bin = getenv("KTBPFCTL");
	int st;

	cr_assert_not_null(bin, "KTBPFCTL (path of the ktbpfctl binary) is not set");
	kit_image_save(g->im, path);
	cr_assert(asprintf(&cmd, "'%s' inspect --ram '%s' --json >/dev/full 2>/dev/null", bin,
			   path) > 0);
	st = system(cmd);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "status 0x%x", st);
	free(cmd);
	cr_assert(asprintf(&cmd, "'%s' inspect --ram '%s' >/dev/full 2>/dev/null", bin, path) > 0);
	st = system(cmd);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "status 0x%x", st);
	free(cmd);
	unlink(path);
	free(path);
	kit_guest_free(g);
}

/*
 * The case: a guest read with another kernel's BTF (and a vmlinux of
 * another build) must fail naming the file, not answer "0 programs".
 */
Test(inspect, file_of_another_kernel_is_named)
{
	struct kit_guest *g = kit_guest_new(NULL);
	struct kit_btf_layout lay;
	struct btf *other = kit_btf_kernel_new(KIT_BTF_V612_ANON, &lay);
	char *ram = tmp_path("other-ram"), *btf = tmp_path("other.btf"), *vml = tmp_path("vml");
	uint32_t n;
	const void *raw = kit_btf_raw(other, &n);
	FILE *fp = fopen(btf, "w");
	struct unit_run r;

	cr_assert_eq(fwrite(raw, 1, n, fp), n);
	fclose(fp);
	kit_image_save(g->im, ram);
	r = run((const char *const[]){"inspect", "--ram", ram, "--btf", btf, "--json", NULL});
	assert_one_line_error(&r, 1, "does not match the guest kernel");
	cr_assert(!strncmp(r.err, "ktbpfctl: BTF file ", 19) && strstr(r.err, btf), "%s", r.err);
	cr_assert(strstr(r.out, "{\"error\":"), "%s", r.out);
	unit_run_free(&r);
	kit_kernel_write_vmlinux(g->kk, vml,
				 KIT_VMLINUX_SYMTAB | KIT_VMLINUX_BTF | KIT_VMLINUX_BUILD_ID |
					 KIT_VMLINUX_OTHER_BUILD);
	r = run((const char *const[]){"inspect", "--ram", ram, "--vmlinux", vml, NULL});
	assert_one_line_error(&r, 1, "build ID");
	cr_assert(!strncmp(r.err, "ktbpfctl: vmlinux ", 18) && strstr(r.err, vml), "%s", r.err);
	unit_run_free(&r);
	unlink(ram);
	unlink(btf);
	unlink(vml);
	free(ram);
	free(btf);
	free(vml);
	btf__free(other);
	kit_guest_free(g);
}

/*
 * A hostile guest: one program's stats pointer leads nowhere, another's aux
 * is not its own (skipped). The answer is printed in full, and the exit
 * status (3) and one stderr line say it is not whole, in both output modes.
 */
Test(inspect, incomplete_answer_exits_3_and_says_why)
{
	struct kit_guest *g = kit_guest_new(NULL);
	const struct kit_guest_prog *a = &g->progs[0], *b = &g->progs[2];
	char *path = tmp_path("incomplete"), want[64];
	struct unit_run r;

	cr_assert(a->struct_ops && b->struct_ops);
	kit_kernel_w64(g->kk, a->kva + g->lay.off.prog_stats, 0xffffc90fffff0000ull);
	kit_kernel_w32(g->kk, b->aux_kva + g->lay.off.aux_id, 999);
	kit_image_save(g->im, path);
	r = run((const char *const[]){"inspect", "--ram", path, "--json", NULL});
	assert_one_line_error(&r, 3,
			      "ktbpfctl: answer incomplete: 1 entries skipped, "
			      "runtime stats of 1 programs incomplete");
	cr_assert(!strncmp(r.out, "{\"kernel\":", 10), "the answer is printed: %s", r.out);
	snprintf(want, sizeof(want), "{\"id\":%u,", a->id);
	cr_assert(strstr(r.out, want) && strstr(r.out, "\"stats_complete\":false"), "%s", r.out);
	cr_assert(strstr(r.out, "\"skipped\":1"), "%s", r.out);
	unit_run_free(&r);
	r = run((const char *const[]){"inspect", "--ram", path, NULL});
	assert_one_line_error(&r, 3, "answer incomplete");
	cr_assert(strstr(r.out, "INCOMPLETE"), "%s", r.out);
	unit_run_free(&r);
	unlink(path);
	free(path);
	kit_guest_free(g);
}

/*
 * --budget: a walk stopped by its budget prints what it has, exits 3 and
 * says the budget was spent; 0 lifts it; a bad value is a usage error.
 */
Test(inspect, budget_spent_exits_3_and_names_the_budget)
{
	struct kit_guest_opts o = {.nr_struct_ops = 8, .kernel = {.nr_cpus = 8}};
	struct kit_guest *g = kit_guest_new(&o);
	char *path = tmp_path("budget");
	struct unit_run r;

	kit_image_save(g->im, path);
	r = run((const char *const[]){"inspect", "--ram", path, "--json", "--budget", "20", NULL});
	assert_one_line_error(&r, 3,
			      "ktbpfctl: answer incomplete: the walk's budget was spent (raise "
			      "--budget/--budget-ms)");
	cr_assert(strstr(r.out, "\"capped\":true") && strstr(r.out, "\"over_budget\":true"), "%s",
		  r.out);
	cr_assert(strstr(r.out, "walk budget of 20 guest reads spent"), "%s", r.out);
	unit_run_free(&r);
	r = run((const char *const[]){"inspect", "--ram", path, "--budget", "0", "--budget-ms", "0",
				      "--json", NULL});
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	assert_json_truth(g, r.out);
	unit_run_free(&r);
	r = run((const char *const[]){"inspect", "--ram", path, "--budget", "lots", NULL});
	assert_one_line_error(&r, 2, "bad --budget 'lots'");
	unit_run_free(&r);
	unlink(path);
	free(path);
	kit_guest_free(g);
}

Test(inspect, help_and_version)
{
	struct unit_run r = run((const char *const[]){"--help", NULL});

	cr_assert_eq(r.status, 0);
	cr_assert(strstr(r.out, "Usage: ktbpfctl") && strstr(r.out, "inspect"), "%s", r.out);
	unit_run_free(&r);
	r = run((const char *const[]){"inspect", "--help", NULL});
	cr_assert_eq(r.status, 0);
	cr_assert(strstr(r.out, "Usage: ktbpfctl inspect --ram FILE"), "%s", r.out);
	cr_assert(strstr(r.out, "Exit status:") && strstr(r.out, "Examples:"), "%s", r.out);
	cr_assert(strstr(r.out, "  3  the answer was printed but is incomplete"), "%s", r.out);
	unit_run_free(&r);
	r = run((const char *const[]){"--help", NULL});
	cr_assert(strstr(r.out, "  3  an answer was printed but it is incomplete"), "%s", r.out);
	unit_run_free(&r);
	r = run((const char *const[]){"--version", NULL});
	cr_assert_eq(r.status, 0);
	cr_assert(!strncmp(r.out, "ktbpfctl ", 9), "%s", r.out);
	unit_run_free(&r);
}

/*
 * An arm64 guest's RAM file as QEMU virt leaves it (RAM from GPA 1 GiB at
 * file offset 0), 52-bit LPA2: with its region, no other option, every
 * program as the kit made it; without, the error says where RAM may start,
 * as bad input (retrying never helps).
 */
Test(inspect, arm64_virt_ram_file_with_region_matches_truth)
{
	struct kit_guest_opts o = {
		.kernel = {.arch = KTBPF_ARCH_AARCH64, .a64_t1sz = 12, .a64_pac = true}};
	struct kit_guest *g = kit_guest_new(&o);
	char *path = tmp_path("arm64"), region[64];
	struct unit_run r;

	kit_image_save(g->im, path);
	snprintf(region, sizeof(region), "0x40000000:%" PRIu64 "M:0", g->im->size >> 20);
	r = run((const char *const[]){"inspect", "--ram", path, "--region", region, "--json",
				      NULL});
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	cr_assert(strstr(r.out, "\"arch\":\"aarch64\""), "%s", r.out);
	cr_assert(strstr(r.out, "\"pgtable_levels\":5"), "%s", r.out);
	assert_json_progs(g, r.out);
	assert_json_instances(g, r.out);
	unit_run_free(&r);
	/* Bad input (1), not "not ready" (4): no retry would ever help. */
	r = run((const char *const[]){"inspect", "--ram", path, NULL});
	cr_assert_eq(r.status, 1, "stderr: %s", r.err);
	cr_assert(strstr(r.err, "QEMU virt: 0x40000000"), "%s", r.err);
	cr_assert(!strstr(r.err, "options that may help"), "%s", r.err);
	unit_run_free(&r);
	unlink(path);
	free(path);
	kit_guest_free(g);
}
