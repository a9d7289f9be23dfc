/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>

Test(vmcoreinfo, placeholder_builds)
{
	cr_assert(1);
}
