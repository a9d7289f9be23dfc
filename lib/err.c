/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ktbpf/err.h"

static int vset(struct ktbpf_err *err, int code, bool has_addr, uint64_t addr, const char *fmt,
		va_list ap)
{
	if (!err)
		return code;
	err->code = code;
	err->need = 0;
	err->has_addr = has_addr;
	err->addr = addr;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	return code;
}

int ktbpf_err_set(struct ktbpf_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	code = vset(err, code, false, 0, fmt, ap);
	va_end(ap);
	return code;
}

int ktbpf_err_set_addr(struct ktbpf_err *err, int code, uint64_t addr, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	code = vset(err, code, true, addr, fmt, ap);
	va_end(ap);
	return code;
}

int ktbpf_err_prefix(struct ktbpf_err *err, int code, const char *fmt, ...)
{
	char old[KTBPF_ERR_MSG_MAX];
	char pre[KTBPF_ERR_MSG_MAX];
	size_t plen, olen;
	va_list ap;

	if (!err)
		return code;
	va_start(ap, fmt);
	vsnprintf(pre, sizeof(pre), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	old[sizeof(old) - 1] = 0;
	/* Concatenate by hand: a truncated message is fine, a format warning is not. */
	plen = strlen(pre);
	olen = strnlen(old, sizeof(err->msg) - 1 - plen);
	memcpy(err->msg, pre, plen);
	memcpy(err->msg + plen, old, olen);
	err->msg[plen + olen] = 0;
	return code;
}

enum ktbpf_err_class ktbpf_err_class(int code)
{
	switch (code < 0 ? -code : code) {
	case 0:
		return KTBPF_ERR_NONE;
	case EINPROGRESS:
		return KTBPF_ERR_NOT_READY;
	case EAGAIN:
		return KTBPF_ERR_INCONSISTENT;
	case EIO:
	case EBADF:
	case ENOMEM:
		return KTBPF_ERR_IO;
	default:
		return KTBPF_ERR_INPUT;
	}
}

const char *ktbpf_err_class_name(enum ktbpf_err_class c)
{
	switch (c) {
	case KTBPF_ERR_NONE:
		return "none";
	case KTBPF_ERR_NOT_READY:
		return "not-ready";
	case KTBPF_ERR_INCONSISTENT:
		return "inconsistent";
	case KTBPF_ERR_IO:
		return "io";
	case KTBPF_ERR_INPUT:
		return "input";
	}
	return "unknown";
}

int ktbpf_err_need(struct ktbpf_err *err, int code, unsigned int need)
{
	if (err)
		err->need |= need;
	return code;
}

void ktbpf_err_clear(struct ktbpf_err *err)
{
	if (err)
		*err = (struct ktbpf_err){0};
}
