/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "ktbpf/err.h"

Test(err, set_fills_code_message_and_returns_code)
{
	struct ktbpf_err e;

	cr_assert_eq(ktbpf_err_set(&e, -ENOENT, "symbol '%s' not found", "prog_idr"), -ENOENT);
	cr_assert_eq(e.code, -ENOENT);
	cr_assert_not(e.has_addr);
	cr_assert_str_eq(e.msg, "symbol 'prog_idr' not found");
}

Test(err, set_addr_records_the_faulting_address)
{
	struct ktbpf_err e;

	cr_assert_eq(ktbpf_err_set_addr(&e, -EFAULT, 0x1000, "outside RAM"), -EFAULT);
	cr_assert(e.has_addr);
	cr_assert_eq(e.addr, 0x1000);
}

Test(err, null_err_is_allowed_and_code_is_kept)
{
	cr_assert_eq(ktbpf_err_set(NULL, -EINVAL, "x"), -EINVAL);
	/* The caller's code survives a prefix even without an err struct. */
	cr_assert_eq(ktbpf_err_prefix(NULL, -ENOENT, "ctx: "), -ENOENT);
}

Test(err, prefix_prepends_and_returns_the_given_code)
{
	struct ktbpf_err e;

	ktbpf_err_set_addr(&e, -EFAULT, 0x2000, "not mapped");
	cr_assert_eq(ktbpf_err_prefix(&e, -EFAULT, "prog %d: ", 12), -EFAULT);
	cr_assert_str_eq(e.msg, "prog 12: not mapped");
	cr_assert_eq(e.addr, 0x2000, "the address stays");
}

Test(err, long_prefix_is_truncated_and_terminated)
{
	struct ktbpf_err e;
	char big[400];

	memset(big, 'p', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	ktbpf_err_set(&e, -EIO, "tail");
	ktbpf_err_prefix(&e, -EIO, "%s", big);
	cr_assert_eq(strlen(e.msg), KTBPF_ERR_MSG_MAX - 1);
}

Test(err, clear_resets)
{
	struct ktbpf_err e;

	ktbpf_err_set_addr(&e, -EFAULT, 1, "x");
	ktbpf_err_clear(&e);
	cr_assert_eq(e.code, 0);
	cr_assert_not(e.has_addr);
	cr_assert_str_empty(e.msg);
	ktbpf_err_clear(NULL);
}

/* The classes a program acts on, by errno alone (err.h's table). */
Test(err, class_of_each_code)
{
	cr_assert_eq(ktbpf_err_class(0), KTBPF_ERR_NONE);
	cr_assert_eq(ktbpf_err_class(-EINPROGRESS), KTBPF_ERR_NOT_READY);
	cr_assert_eq(ktbpf_err_class(-EAGAIN), KTBPF_ERR_INCONSISTENT);
	cr_assert_eq(ktbpf_err_class(-EIO), KTBPF_ERR_IO);
	cr_assert_eq(ktbpf_err_class(-EBADF), KTBPF_ERR_IO);
	cr_assert_eq(ktbpf_err_class(-ENOMEM), KTBPF_ERR_IO);
	cr_assert_eq(ktbpf_err_class(EIO), KTBPF_ERR_IO, "a positive errno is taken as negative");
	for (int code = 1; code < 134; code++) {
		if (code == EINPROGRESS || code == EAGAIN || code == EIO || code == EBADF ||
		    code == ENOMEM)
			continue;
		cr_assert_eq(ktbpf_err_class(-code), KTBPF_ERR_INPUT, "errno %d", code);
	}
	cr_assert_str_eq(ktbpf_err_class_name(KTBPF_ERR_NOT_READY), "not-ready");
	cr_assert_str_eq(ktbpf_err_class_name(KTBPF_ERR_INCONSISTENT), "inconsistent");
	cr_assert_str_eq(ktbpf_err_class_name(KTBPF_ERR_IO), "io");
	cr_assert_str_eq(ktbpf_err_class_name(KTBPF_ERR_INPUT), "input");
}

/* need survives the context prefixes added on the way up, and a new error clears it. */
Test(err, need_kept_by_prefix_cleared_by_set)
{
	struct ktbpf_err e;

	ktbpf_err_set(&e, -ENOENT, "no BTF");
	cr_assert_eq(ktbpf_err_need(&e, -ENOENT, KTBPF_NEED_BTF), -ENOENT);
	ktbpf_err_prefix(&e, -ENOENT, "discovery: ");
	cr_assert_eq(e.need, KTBPF_NEED_BTF);
	ktbpf_err_need(&e, -ENOENT, KTBPF_NEED_SYMBOLS);
	cr_assert_eq(e.need, KTBPF_NEED_BTF | KTBPF_NEED_SYMBOLS);
	ktbpf_err_set(&e, -EIO, "read failed");
	cr_assert_eq(e.need, 0);
	cr_assert_eq(ktbpf_err_need(NULL, -EIO, KTBPF_NEED_PGD), -EIO);
}
