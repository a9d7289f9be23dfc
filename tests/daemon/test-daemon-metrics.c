/* SPDX-License-Identifier: MIT */
/*
 * ktbpfd's metrics (metrics.get, `ktbpfctl metrics`, --metrics-textfile) over
 * a kit guest: the exposition held to a golden file (timing lines dropped),
 * a scrape that never asks the VMM to freeze, another uid's VMs left out, and
 * the textfile rewritten atomically on its timer.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon-client.h"
#include "kit-guest.h"

static struct daemon_proc dp;

/* The text without its timing lines (ktbpfd_scrape_duration_seconds's HELP, TYPE and sample). */
static char *drop_timing(const char *text)
{
	char *out = malloc(strlen(text) + 1), *o = out;

	for (const char *l = text; *l;) {
		const char *nl = strchr(l, '\n');
		size_t n = nl ? (size_t)(nl - l) + 1 : strlen(l);

		if (!memmem(l, n, "ktbpfd_scrape_duration_seconds", 30)) {
			memcpy(o, l, n);
			o += n;
		}
		l += n;
	}
	*o = 0;
	return out;
}

/* text, without its timing lines, is the golden file name. */
static void assert_golden(const char *text, const char *name)
{
	char *got = drop_timing(text);

	unit_assert_golden(got, GOLDEN_DIR, name);
	free(got);
}
static json_t *metrics(struct client *c)
{
	json_t *r = client_call(c, "metrics.get", NULL, NULL, 0);

	cr_assert_eq(resp_code(r), 0, "%s", json_dumps(r, 0));
	return r;
}

static const char *text_of(const json_t *r)
{
	return json_string_value(json_object_get(json_object_get(r, "result"), "text"));
}

Test(daemon_metrics, kit_guest_exposition_equals_the_golden_file_and_never_freezes)
{
	struct kit_guest_opts o = {.kernel = {.nr_cpus = 3}, .nr_struct_ops = 5};
	struct kit_guest *g = kit_guest_new(&o);
	struct client *vmm, *c;
	json_t *r;

	daemon_start(&dp, NULL);
	vmm = client_new(&dp);
	c = client_new(&dp);
	vm_register(vmm, g, &(struct vm_reg){.name = "ci-kit", .can_freeze = true});
	vm_assert_ready(c, "ci-kit");
	r = metrics(c);
	cr_assert_str_eq(
		json_string_value(json_object_get(json_object_get(r, "result"), "content_type")),
		"text/plain; version=0.0.4; charset=utf-8");
	cr_assert_not_null(strstr(text_of(r), "\nktbpfd_scrape_duration_seconds "));
	assert_golden(text_of(r), "daemon-kit.prom");
	json_decref(r);
	/* the VMM (can_freeze) was never asked to freeze */
	r = client_read(vmm, 200);
	cr_assert_null(r, "a scrape sent the VMM %s", json_dumps(r, 0));
	client_free(c);
	client_free(vmm);
	daemon_stop_ok(&dp);
	kit_guest_free(g);
}

Test(daemon_metrics, vm_not_discovered_is_up_0_and_ktbpfctl_metrics_prints_the_same_text)
{
	struct kit_guest *g = kit_guest_new(NULL);
	struct client *c;
	char cmd[512], out[1 << 16];
	size_t n;
	FILE *p;
	json_t *r;

	/* a guest that has not booted far enough: no VMCOREINFO yet */
	memset(kit_ptr(g->im, g->kk->vmcoreinfo_pa, 64), 0, 64);
	daemon_start(&dp, NULL);
	c = client_new(&dp);
	vm_register(c, g, &(struct vm_reg){.name = "booting", .can_freeze = false});
	r = metrics(c);
	cr_assert_not_null(strstr(text_of(r), "ktbpfd_vm_up{vm=\"booting\"} 0\n"), "%s",
			   text_of(r));
	cr_assert_null(strstr(text_of(r), "ktbpfd_prog_"));
	json_decref(r);
	snprintf(cmd, sizeof(cmd), "'%s' metrics --socket '%s'", getenv("KTBPFCTL"), dp.sock);
	p = popen(cmd, "r");
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = 0;
	cr_assert_eq(pclose(p), 0);
	cr_assert_not_null(
		strstr(out, "# TYPE ktbpfd_vm_up gauge\nktbpfd_vm_up{vm=\"booting\"} 0\n"), "%s",
		out);
	client_free(c);
	daemon_stop_ok(&dp);
	kit_guest_free(g);
}

Test(daemon_metrics, textfile_is_written_by_rename_and_rewritten_on_the_timer)
{
	struct kit_guest *g = kit_guest_new(NULL);
	char dir[] = "/tmp/ktbpfd-prom-XXXXXX", path[128], buf[1 << 16];
	const char *args[] = {"--metrics-textfile", path, "--metrics-interval", "1", NULL};
	struct stat st1, st2;
	struct client *c;
	FILE *f;
	size_t n;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/ktbpf.prom", dir);
	daemon_start(&dp, args);
	c = client_new(&dp);
	vm_register(c, g, &(struct vm_reg){.name = "tf", .can_freeze = false});
	vm_assert_ready(c, "tf");
	/* the first file comes at start; wait for a rewrite that has the VM */
	for (int i = 0; i < 40; i++) {
		buf[0] = 0;
		f = fopen(path, "r");
		if (f) {
			n = fread(buf, 1, sizeof(buf) - 1, f);
			buf[n] = 0;
			fclose(f);
		}
		if (strstr(buf, "ktbpfd_vm_up{vm=\"tf\"} 1\n"))
			break;
		usleep(100 * 1000);
	}
	cr_assert_not_null(strstr(buf, "ktbpfd_vm_up{vm=\"tf\"} 1\n"), "%s", buf);
	cr_assert_not_null(strstr(buf, "ktbpfd_prog_runs_total{vm=\"tf\""));
	cr_assert_eq(stat(path, &st1), 0);
	usleep(1300 * 1000);
	cr_assert_eq(stat(path, &st2), 0);
	/* rewritten by rename: a new inode, never the old one truncated */
	cr_assert_neq(st1.st_ino, st2.st_ino);
	client_free(c);
	daemon_stop_ok(&dp);
	/* no temporary file left behind */
	{
		char cmd[256];

		snprintf(cmd, sizeof(cmd), "test $(ls -A '%s' | wc -l) = 1", dir);
		cr_assert_eq(system(cmd), 0, "leftover files in %s", dir);
	}
	unlink(path);
	rmdir(dir);
	kit_guest_free(g);
}
