/* SPDX-License-Identifier: MIT */
#ifndef KTBPFCTL_TERM_H
#define KTBPFCTL_TERM_H

/*
 * The terminal of an interactive view (`ktbpfctl top` on a terminal): keys
 * read one at a time without echo, and the terminal given back as it was on
 * every way out. Raw mode here is non-canonical input without echo; ISIG
 * stays on, so Ctrl-C is still SIGINT for the caller's handler and Ctrl-Z
 * still stops the process (after giving the terminal back; raw again on
 * SIGCONT). One terminal per process, from its single thread.
 */

enum {
	KTBPFCTL_KEY_LEFT = 0x100, /* keys beyond a byte: the cursor keys */
	KTBPFCTL_KEY_RIGHT,
	KTBPFCTL_KEY_UP,
	KTBPFCTL_KEY_DOWN,
};

/*
 * Put the terminal on fd into raw mode, and make sure it is restored: at
 * exit() (atexit) and by ktbpfctl_term_restore() from the caller's signal
 * handlers; SIGTSTP and SIGCONT are handled here. 0, or -ENOTTY (fd is no
 * terminal) or another -errno of tcgetattr/tcsetattr.
 */
int ktbpfctl_term_raw(int fd);

/* The terminal as it was before ktbpfctl_term_raw(); async-signal-safe; a no-op when not raw. */
void ktbpfctl_term_restore(void);

/*
 * The next key typed within timeout_ms: a byte (as unsigned char), a
 * KTBPFCTL_KEY_*, 0 when none came in time (or a signal interrupted the
 * wait), -EPIPE at the terminal's end (hung up). Other escape sequences
 * (function keys, a lone Esc) are skipped.
 */
int ktbpfctl_term_key(int timeout_ms);

#endif
