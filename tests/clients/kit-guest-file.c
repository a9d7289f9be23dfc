/* SPDX-License-Identifier: MIT */
/*
 * kit-guest-file PATH: write the test kit's default guest (a kernel with
 * struct_ops programs of sched_ext and TCP congestion control, 4 CPUs) to
 * PATH as a raw RAM file at guest physical address 0, for tests written in
 * other languages (test-protocol.py) that register it with ktbpfd and check
 * the answer against `ktbpfctl inspect --json` on the same file.
 */
#include <stdio.h>

#include "kit-guest.h"

int main(int argc, char **argv)
{
	struct kit_guest *g;

	if (argc != 2) {
		fprintf(stderr, "usage: kit-guest-file PATH\n");
		return 2;
	}
	g = kit_guest_new(NULL);
	kit_image_save(g->im, argv[1]);
	kit_guest_free(g);
	return 0;
}
