// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * ktbpf_cc: a tiny Reno-like TCP congestion control implemented as a
 * struct_ops object, used as a known workload in the ktbpf test guest.
 *
 * Built without the host's vmlinux BTF and without vmlinux.h: the kernel types
 * used here are declared locally with preserve_access_index, so field offsets
 * are relocated (CO-RE) against the guest kernel's BTF when libbpf loads it.
 *
 * Global data, so that libbpf creates the internal maps
 *   ktbpf_cc.bss    (zero-initialised counters)
 *   ktbpf_cc.data   (initialised counters)
 *   ktbpf_cc.rodata (a constant)
 * and every callback references .bss and .data (and so lists those maps in
 * its used_maps).  Keep the object file name ktbpf_cc.bpf.o: libbpf derives
 * the map name prefix "ktbpf_cc" from it (8 characters, so "ktbpf_cc.rodata"
 * still fits the kernel's 15-character object names).
 *
 * Accepted by 6.1 and 6.12 kernels: only ssthresh, cong_avoid and undo_cwnd
 * are required; init and cwnd_event are optional.
 */
/* No <linux/types.h>: it needs the multiarch <asm/types.h>, absent with -target bpf. */
typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed char __s8;
typedef short __s16;
typedef int __s32;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char _license[] SEC("license") = "Dual BSD/GPL";

/* Minimal kernel type declarations (CO-RE relocated). */
struct sock {
	int __unused_sock; /* placeholder; no member of struct sock is used */
} __attribute__((preserve_access_index));

struct tcp_sock {
	__u32 snd_cwnd;
	__u32 snd_cwnd_cnt;
	__u32 snd_cwnd_clamp;
	__u32 snd_ssthresh;
	__u32 prior_cwnd;
} __attribute__((preserve_access_index));

/* Only the members set below; libbpf matches them by name to the kernel's. */
struct tcp_congestion_ops {
	__u32 (*ssthresh)(struct sock *sk);
	void (*cong_avoid)(struct sock *sk, __u32 ack, __u32 acked);
	void (*cwnd_event)(struct sock *sk, int ev);
	__u32 (*undo_cwnd)(struct sock *sk);
	void (*init)(struct sock *sk);
	char name[16];
};

#define TCP_INFINITE_SSTHRESH 0x7fffffff

/* .rodata */
const volatile __u32 ktbpf_min_cwnd = 2;

/* .bss: calls per callback */
__u64 ktbpf_nr_init;
__u64 ktbpf_nr_ssthresh;
__u64 ktbpf_nr_cong_avoid;
__u64 ktbpf_nr_undo;
__u64 ktbpf_nr_cwnd_event;

/* .data: an initialised marker and running totals */
__u64 ktbpf_magic = 0x6b74627066ULL; /* "ktbpf" */
__u64 ktbpf_acked_total = 1;
__u64 ktbpf_calls_total = 1;

static __always_inline struct tcp_sock *tcp_sk(struct sock *sk)
{
	return (struct tcp_sock *)sk;
}

static __always_inline __u32 min_u32(__u32 a, __u32 b)
{
	return a < b ? a : b;
}

static __always_inline __u32 max_u32(__u32 a, __u32 b)
{
	return a > b ? a : b;
}

static __always_inline void count(__u64 *ctr)
{
	__sync_fetch_and_add(ctr, 1);
	__sync_fetch_and_add(&ktbpf_calls_total, 1);
}

SEC("struct_ops/kcc_init")
void BPF_PROG(kcc_init, struct sock *sk)
{
	count(&ktbpf_nr_init);
	tcp_sk(sk)->snd_ssthresh = TCP_INFINITE_SSTHRESH;
}

SEC("struct_ops/kcc_ssthresh")
__u32 BPF_PROG(kcc_ssthresh, struct sock *sk)
{
	const struct tcp_sock *tp = tcp_sk(sk);

	count(&ktbpf_nr_ssthresh);
	return max_u32(tp->snd_cwnd >> 1U, ktbpf_min_cwnd);
}

SEC("struct_ops/kcc_cong_avoid")
void BPF_PROG(kcc_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
	struct tcp_sock *tp = tcp_sk(sk);
	__u32 cwnd = tp->snd_cwnd;
	__u32 clamp = tp->snd_cwnd_clamp;
	__u32 w;

	count(&ktbpf_nr_cong_avoid);
	__sync_fetch_and_add(&ktbpf_acked_total, acked);

	/* slow start */
	if (cwnd < tp->snd_ssthresh) {
		__u32 c = min_u32(cwnd + acked, tp->snd_ssthresh);

		acked -= c - cwnd;
		cwnd = min_u32(c, clamp);
		tp->snd_cwnd = cwnd;
		if (!acked)
			return;
	}

	/* additive increase: one segment per window */
	w = cwnd ? cwnd : 1;
	if (tp->snd_cwnd_cnt >= w) {
		tp->snd_cwnd_cnt = 0;
		cwnd++;
	}
	tp->snd_cwnd_cnt += acked;
	if (tp->snd_cwnd_cnt >= w) {
		__u32 delta = tp->snd_cwnd_cnt / w;

		tp->snd_cwnd_cnt -= delta * w;
		cwnd += delta;
	}
	tp->snd_cwnd = min_u32(cwnd, clamp);
}

SEC("struct_ops/kcc_cwnd_event")
void BPF_PROG(kcc_cwnd_event, struct sock *sk, int ev)
{
	count(&ktbpf_nr_cwnd_event);
}

SEC("struct_ops/kcc_undo_cwnd")
__u32 BPF_PROG(kcc_undo_cwnd, struct sock *sk)
{
	const struct tcp_sock *tp = tcp_sk(sk);

	count(&ktbpf_nr_undo);
	return max_u32(tp->snd_cwnd, tp->prior_cwnd);
}

SEC(".struct_ops")
struct tcp_congestion_ops ktbpf_cc_ops = {
	.init = (void *)kcc_init,
	.ssthresh = (void *)kcc_ssthresh,
	.cong_avoid = (void *)kcc_cong_avoid,
	.cwnd_event = (void *)kcc_cwnd_event,
	.undo_cwnd = (void *)kcc_undo_cwnd,
	.name = "ktbpf_cc",
};
