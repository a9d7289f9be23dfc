/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>

Test(elfcore, placeholder_builds)
{
	cr_assert(1);
}
