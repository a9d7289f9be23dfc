/* SPDX-License-Identifier: MIT */
#ifndef KTBPFD_DAEMON_INTERNAL_H
#define KTBPFD_DAEMON_INTERNAL_H

/*
 * ktbpfd's objects: the daemon (one libuv loop, its settings and listeners),
 * connections (a uv_poll_t over our own recvmsg/sendmsg, rpc/'s wire and
 * peer) and VMs (regions, the kernel discovered in the background, snapshot
 * rounds with freeze and thaw). Everything here belongs to the loop thread;
 * the thread pool only runs discovery and walks (vm.c, snapshot.c), which
 * read a VM's memory and kernel and write their own work item.
 */

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "ktbpf/kernel.h"
#include "ktbpf/peer.h"
#include "ktbpf/progs.h"
#include "ktbpf/wire.h"

#define KTBPFD_MAX_LISTENERS 8

/* Every limit on what a client controls, and the timings (all settable on the command line). */
struct settings {
	unsigned max_connections; /* connections at once */
	size_t max_line;	  /* bytes in one request line */
	unsigned max_fds_msg;	  /* fds in one received message (<= 253) */
	unsigned max_fds_queued;  /* fds waiting for their request, per connection */
	unsigned max_pending;	  /* requests being served at once, per connection */
	unsigned max_vms;	  /* registered VMs, detached ones included */
	unsigned max_regions;	  /* regions per VM (<= KTBPF_MEM_MAX_REGIONS) */
	size_t max_out;		  /* bytes queued for a slow reader before it is dropped */
	uint64_t freeze_timeout_ms;
	uint64_t retention_ms;		     /* how long a detached VM stays readable */
	uint64_t retry_min_ms, retry_max_ms; /* discovery backoff */
	uint64_t drain_timeout_ms;	     /* SIGTERM: longest wait for in-flight work */
	const char *state_dir;		     /* dumps live in <state_dir>/dumps */
	uint64_t dump_max_use;		     /* bytes of dumps kept (0: no limit) */
	uint64_t dump_keep_free;	     /* free disk bytes kept (0: no limit) */
	uint64_t dump_max_age_s;	     /* seconds a dump is kept (0: no limit) */
	const char *metrics_textfile;	     /* textfile-collector path, NULL: none */
	uint64_t metrics_interval_ms;	     /* how often it is rewritten */
	uint64_t check_interval_ms;	     /* an idle VM's kernel checked this often */
};

/* Where settings came from (settings.c): the command line's --socket and --config, the
 * config file's text (string settings point into it). */
struct settings_src {
	const char *socket, *config;
	bool help, version;
	char *buf;
	struct settings_src *next; /* older texts, kept until exit */
};

#ifndef KTBPFD_CONFIG
#define KTBPFD_CONFIG "/etc/ktbpf/ktbpfd.conf"
#endif

struct listener {
	uv_poll_t poll;
	int fd;
	struct daemon *d;
};

struct list {
	struct list *prev, *next;
};

struct daemon {
	uv_loop_t *loop;
	struct settings set;
	int argc; /* the command line, read again on SIGHUP */
	char **argv;
	struct settings_src *config_texts;
	struct listener listeners[KTBPFD_MAX_LISTENERS];
	unsigned nr_listeners;
	char *socket_path; /* unlinked at exit when we created it */
	struct list conns, vms;
	unsigned nr_conns, nr_vms;
	uint64_t next_vm_id;
	uint64_t start_ns;
	unsigned works;	     /* discovery and walk items in the thread pool */
	unsigned frozen_vms; /* VMs frozen by us and not yet thawed */
	bool draining;
	bool drained; /* the drain ended: handles are closing */
	uint64_t drain_deadline_ns;
	uv_signal_t sigterm, sigint, sighup;
	uv_timer_t reap_timer, drain_timer;
	bool systemd;
	struct dump_store *dumps; /* NULL when the state directory could not be opened */
	uv_timer_t metrics_timer; /* the textfile's (when settings ask for one) */
	bool metrics_timer_on;
	bool metrics_busy; /* a textfile scrape is in flight */
};

struct conn {
	struct list link;
	struct daemon *d;
	uv_poll_t poll;
	int fd;
	int events; /* what the poll handle waits for */
	struct ktbpf_wire *w;
	struct ktbpf_peer *peer;
	uid_t uid;
	gid_t gid;
	pid_t pid;
	bool closing; /* marked: the reaper closes it */
	bool closed;  /* uv_close() called */
};

enum vm_state { VM_WAITING, VM_DISCOVERING, VM_READY, VM_FAILED };

enum freeze_mode { FREEZE_NEVER, FREEZE_PREFER, FREEZE_REQUIRE };

/* A snapshot answer for the daemon itself (a metrics scrape): s is the round's snapshot, valid
 * during the call only, or NULL when the round could not walk. */
struct vm;
typedef void (*snapshot_cb)(void *ud, struct vm *vm, const struct ktbpf_snapshot *s);

struct ktbpf_vars;

struct waiter {
	struct ktbpf_peer_req *req; /* NULL for an internal waiter (cb) */
	enum freeze_mode mode;
	snapshot_cb cb;
	void *ud;
	json_t *dump; /* vm.dump: its reason and test; NULL otherwise */
	bool vars;    /* the asker wants the active object's variables (vm.dump always) */
};

struct waiters {
	struct waiter *v;
	size_t n, cap;
};

/* One freeze request in flight; outlives its round when the VMM answers late. */
struct freeze_call {
	struct vm *vm;	/* a reference */
	bool abandoned; /* timed out or the round ended: a late "frozen" gets a thaw */
};

enum round_state { ROUND_IDLE, ROUND_FREEZING, ROUND_WALKING };

/* What a kernel check read (check.c), after a walk or on the timer. */
struct kernel_check {
	int note_r; /* ktbpf_vmcoreinfo_unchanged(): 0, or the note changed or is gone */
	char note_msg[KTBPF_ERR_MSG_MAX];
	bool has_jiffies;
	uint64_t jiffies;
};

struct vm {
	struct list link;
	struct daemon *d;
	unsigned refs;
	bool gone; /* unregistered or expired: off the list, freed at the last unref */
	char id[24];
	char *name;
	json_t *labels;
	uid_t uid;
	enum ktbpf_arch arch;
	uint32_t cpus;
	bool can_freeze;
	struct ktbpf_mem *mem;
	struct ktbpf_kernel_hints hints;
	struct ktbpf_file files[3]; /* vmlinux, System.map, BTF; fd -1 when absent */
	struct conn *owner;	    /* NULL once detached */
	uint64_t detached_ns;

	/*
	 * Registration, and the first discovery attempt after it (vm.status
	 * "registration", "first_discovery"): a VMM that registers before the
	 * guest runs shows RAM never written and a first attempt that found no
	 * kernel.
	 */
	uint64_t registered_ns, registered_unix_ns;
	bool ram_written_at_register;
	bool first_done, first_found;
	uint64_t first_ns;
	char first_reason[KTBPF_ERR_MSG_MAX];

	/* Discovery. */
	enum vm_state state;
	char reason[2 * KTBPF_ERR_MSG_MAX + 160];
	int disc_code;
	unsigned attempts;
	uint64_t retry_ms, retry_at_ns;
	bool disc_running, reset_pending;
	char reset_why[KTBPF_ERR_MSG_MAX + 64]; /* why the pending reset (the reason it leaves) */
	struct ktbpf_kernel *kernel;
	uint64_t discovered_ns;

	/* Is the discovered kernel still the running one? (check.c) */
	bool check_running, verify_running;
	uint64_t checked_ns;			  /* last check, after a walk or on the timer */
	uint64_t jiffies, jiffies_moved_ns;	  /* last read; when it last changed (0: not yet) */
	uint64_t verify_at_ns, verify_backoff_ms; /* a still jiffies' next verification */
	unsigned kernel_changes, verifications;

	/* Snapshots: one round at a time; requests that cannot join it wait for the next. */
	enum round_state round;
	enum freeze_mode round_mode;
	struct waiters cur, next;
	bool frozen;
	char freeze_why[256]; /* why the round is not frozen ("" when it is) */
	uint64_t freeze_t0, freeze_ns;
	struct freeze_call *fc;
	struct ktbpf_snapshot *snap;
	int walk_r;
	struct ktbpf_err walk_err;
	struct kernel_check walk_check;
	uint64_t walk_end_unix_ns; /* CLOCK_REALTIME when the walk ended */
	/* The round's variables, read after the walk when an asker wants them. */
	bool want_vars;
	struct ktbpf_vars *vars;
	int vars_r;
	struct ktbpf_err vars_err;
	uv_work_t walk_work;
	uint64_t walks;

	uv_timer_t retry_timer, freeze_timer, expire_timer, check_timer;
	unsigned handles_open;
};

/* settings.c */
#include <stdio.h>
void settings_default(struct settings *s);
/* Defaults, the config file, the command line; errors printed. src->buf is the file's text. */
int settings_load(struct settings *s, int argc, char **argv, struct settings_src *src);
/* SIGHUP: settings_load() again into d->set (unchanged on error); then apply what runs. */
int settings_reload(struct daemon *d);
void settings_usage(FILE *out);

/* ktbpfd.c */
uint64_t now_ns(void);
/* From the drain timer only (never from inside a callback that closes things). */
void daemon_check_drain(struct daemon *d);

/* list.c-like helpers (ktbpfd.c) */
void list_init(struct list *l);
void list_add(struct list *head, struct list *n);
void list_del(struct list *n);
#define list_entry(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* conn.c */
void conn_accept(struct daemon *d, int lfd);
/* A connection over fd (owned: closed with it) for a peer with cred; send NULL: the socket's
 * own (fuzz/fuzz-daemon.c passes a sink and feeds the wire itself). NULL on OOM. */
struct ucred;
struct conn *conn_new(struct daemon *d, int fd, const struct ucred *cred, ktbpf_peer_send_fn send);
void conn_close_later(struct conn *c);
void conns_close_all(struct daemon *d);

/* vm.c */
struct vm *vm_new(struct daemon *d);
struct vm *vm_ref(struct vm *vm);
void vm_unref(struct vm *vm);
void vm_remove(struct vm *vm); /* off the list; freed when unreferenced */
struct vm *vm_find(struct daemon *d, const char *key, uid_t uid, bool *ret_denied);
bool vm_visible(const struct vm *vm, uid_t uid);
const char *vm_state_name(const struct vm *vm);
void vm_discover_start(struct vm *vm);
/* On the list now: record when and whether its RAM held data, and start discovery. */
void vm_registered(struct vm *vm);
struct ktbpf_kernel_facts *vm_like_facts(const struct vm *vm);
/* Forget the kernel and discover again, now or after the round in flight; why (NULL: a
 * vm.reset) becomes the reason vm.status gives. */
void vm_reset(struct vm *vm, const char *why);
void vm_detach(struct vm *vm);
json_t *vm_info_json(const struct vm *vm);
json_t *vm_status_json(const struct vm *vm);

/* check.c: whether a VM's discovered kernel still runs (a reboot changes it) */
/* Thread pool side: read what the check needs (the note, jiffies) from k's guest RAM. */
void kernel_check_read(const struct ktbpf_kernel *k, struct kernel_check *c);
/* Loop side: act on what was read (rediscover, verify, or nothing). */
void kernel_check_done(struct vm *vm, const struct kernel_check *c);
void kernel_check_start(struct vm *vm); /* the timer, once the kernel is discovered */

/* snapshot.c */
/* vars: also read the active object's variables (the Snapshot's "vars"). */
void vm_snapshot_request(struct vm *vm, struct ktbpf_peer_req *req, enum freeze_mode mode,
			 bool vars);
/* vm.dump: a snapshot round whose result is persisted; takes dump (params to keep). */
void vm_dump_request(struct vm *vm, struct ktbpf_peer_req *req, enum freeze_mode mode,
		     json_t *dump);

/* dumps.c: the failure-dump store */
struct ktbpf_err;
int dumps_open(struct daemon *d);
void dumps_close(struct daemon *d);
void dumps_write(struct daemon *d, const struct vm *vm, json_t *doc, struct ktbpf_peer_req *req);
json_t *dumps_list(struct daemon *d, uid_t uid, const char *vm, size_t limit);
int dumps_get(struct daemon *d, uid_t uid, const char *id, json_t **ret);
int dumps_delete(struct daemon *d, uid_t uid, const char *id);
/* The same for the daemon: cb runs once, on the loop thread, maybe from inside this call. */
int vm_snapshot_internal(struct vm *vm, enum freeze_mode mode, snapshot_cb cb, void *ud);

/* metrics.c */
void m_metrics_get(struct ktbpf_peer_req *req, void *userdata);
int metrics_textfile_start(struct daemon *d);
void metrics_textfile_reload(struct daemon *d);

/* methods.c */
extern const struct ktbpf_peer_method ktbpfd_methods[];
extern const size_t ktbpfd_nr_methods;

#endif
