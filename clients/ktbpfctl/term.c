/* SPDX-License-Identifier: MIT */
/*
 * Raw keys from a terminal, and the terminal restored on every way out
 * (term.h). The state is per process: the one terminal an interactive view
 * reads its keys from.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "term.h"

/* How long the rest of an escape sequence may take to arrive after its Esc. */
#define ESC_WAIT_MS 30

static int term_fd = -1;
static struct termios saved;
static volatile sig_atomic_t raw_on;
static unsigned char pend[64];
static size_t npend;

void ktbpfctl_term_restore(void)
{
	if (raw_on) {
		tcsetattr(term_fd, TCSANOW, &saved);
		raw_on = 0;
	}
}

static int set_raw(void)
{
	struct termios t = saved;

	/* Keys as typed, one at a time, not echoed; output processing and ISIG as they were. */
	t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
	t.c_iflag &= ~(tcflag_t)(IXON | ICRNL);
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (tcsetattr(term_fd, TCSANOW, &t) < 0)
		return -errno;
	raw_on = 1;
	return 0;
}

/* Ctrl-Z: the shell gets its terminal back as it was; raw again when continued. */
static void on_tstp(int sig)
{
	int e = errno;

	(void)sig;
	if (raw_on) {
		ktbpfctl_term_restore();
		raise(SIGSTOP);
		set_raw();
	} else {
		raise(SIGSTOP);
	}
	errno = e;
}

/* Ctrl+backslash (SIGQUIT) ends the process as it would, with the terminal given back. */
static void on_fatal(int sig)
{
	ktbpfctl_term_restore();
	raise(sig); /* SA_RESETHAND: now the default action */
}

int ktbpfctl_term_raw(int fd)
{
	static bool registered;
	struct sigaction sa = {.sa_handler = on_tstp, .sa_flags = SA_RESTART};
	struct sigaction fatal = {.sa_handler = on_fatal, .sa_flags = SA_RESETHAND};

	if (!isatty(fd))
		return -ENOTTY;
	if (tcgetattr(fd, &saved) < 0)
		return -errno;
	term_fd = fd;
	if (!registered && atexit(ktbpfctl_term_restore) == 0)
		registered = true;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTSTP, &sa, NULL);
	sigemptyset(&fatal.sa_mask);
	sigaction(SIGQUIT, &fatal, NULL);
	return set_raw();
}

/* Read what is there (waiting up to timeout_ms); bytes read, 0 none, -EPIPE at the end. */
static int fill(int timeout_ms)
{
	struct pollfd p = {.fd = term_fd, .events = POLLIN};
	ssize_t r;
	int n = poll(&p, 1, timeout_ms);

	if (n <= 0)
		return 0; /* timeout, or a signal: the caller looks at its flags */
	if (npend == sizeof(pend))
		return 0;
	r = read(term_fd, pend + npend, sizeof(pend) - npend);
	if (r < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : -EPIPE;
	if (r == 0)
		return -EPIPE;
	npend += (size_t)r;
	return (int)r;
}

static void drop(size_t n)
{
	memmove(pend, pend + n, npend - n);
	npend -= n;
}

/*
 * The length of the escape sequence at pend (CSI "Esc [", or SS3 "Esc O",
 * parameter bytes 0x30-0x3f, a final byte 0x40-0x7e), 0 when incomplete;
 * *final is its final byte (0: not a CSI/SS3 sequence, e.g. Alt+key).
 */
static size_t escape_len(unsigned char *final)
{
	size_t i;

	*final = 0;
	if (npend < 2)
		return 0;
	if (pend[1] != '[' && pend[1] != 'O')
		return 2;
	for (i = 2; i < npend && pend[i] >= 0x20 && pend[i] <= 0x3f; i++)
		;
	if (i == npend)
		return 0;
	*final = pend[i];
	return i + 1;
}

int ktbpfctl_term_key(int timeout_ms)
{
	unsigned char c, final;
	size_t len;
	int r;

	if (!npend) {
		r = fill(timeout_ms);
		if (r <= 0)
			return r;
	}
	c = pend[0];
	if (c != 0x1b) {
		drop(1);
		return c;
	}
	len = escape_len(&final);
	while (!len && fill(ESC_WAIT_MS) > 0)
		len = escape_len(&final);
	if (!len) { /* a lone Esc, or a sequence cut short: skipped */
		npend = 0;
		return 0;
	}
	drop(len);
	switch (final) {
	case 'A':
		return KTBPFCTL_KEY_UP;
	case 'B':
		return KTBPFCTL_KEY_DOWN;
	case 'C':
		return KTBPFCTL_KEY_RIGHT;
	case 'D':
		return KTBPFCTL_KEY_LEFT;
	default:
		return 0;
	}
}
