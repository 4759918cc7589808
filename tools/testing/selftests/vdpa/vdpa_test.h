/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vdpa_test: the tests of a vDPA test program are a table, and report
 * through kselftest.h. Each entry is a function that reports exactly one
 * result (ksft_test_result() and the like); the plan is the number of
 * entries that run in the program's mode, so that no count is kept by hand.
 *
 * A program given --plan in place of its first argument prints that number
 * and exits (vdpa_tests_begin()): the shell test that runs it learns how
 * many results it owes, whether the program then runs, stops early or does
 * not run at all.
 */
#ifndef VDPA_TEST_H
#define VDPA_TEST_H

#include "../kselftest.h"

struct vdpa_test {
	const char *name;
	void (*fn)(void);
	/* The modes the test runs in, a mask of the program's; 0: every mode. */
	unsigned int modes;
};

#define VDPA_TEST(f) { #f, f, 0 }
#define VDPA_TEST_IN(f, m) { #f, f, m }

static inline int vdpa_test_runs(const struct vdpa_test *t, unsigned int mode)
{
	return !t->modes || (t->modes & mode);
}

static inline unsigned int vdpa_tests_plan(const struct vdpa_test *t, size_t n,
					   unsigned int mode)
{
	unsigned int plan = 0;
	size_t i;

	for (i = 0; i < n; i++)
		plan += vdpa_test_runs(&t[i], mode);
	return plan;
}

/*
 * With arg1 "--plan", prints the plan of mode and exits; else prints the
 * KTAP header and the plan.
 */
static inline void __vdpa_tests_begin(const struct vdpa_test *t, size_t n, unsigned int mode,
				      const char *arg1)
{
	if (arg1 && !strcmp(arg1, "--plan")) {
		printf("%u\n", vdpa_tests_plan(t, n, mode));
		exit(KSFT_PASS);
	}
	ksft_print_header();
	ksft_set_plan(vdpa_tests_plan(t, n, mode));
}

/*
 * Runs the tests of mode in the order of the table. A test that reports no
 * result is reported failed; one that reports more ends the program (the
 * plan would not hold).
 */
static inline void __vdpa_tests_run(const struct vdpa_test *t, size_t n, unsigned int mode)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned int before = ksft_test_num();

		if (!vdpa_test_runs(&t[i], mode))
			continue;
		t[i].fn();
		if (ksft_test_num() == before)
			ksft_test_result_fail("%s reported no result\n", t[i].name);
		else if (ksft_test_num() > before + 1)
			ksft_exit_fail_msg("%s reported %u results, not one\n", t[i].name,
					   ksft_test_num() - before);
	}
}

#define vdpa_tests_begin(t, mode, arg1) __vdpa_tests_begin(t, ARRAY_SIZE(t), mode, arg1)
#define vdpa_tests_run(t, mode) __vdpa_tests_run(t, ARRAY_SIZE(t), mode)

/*
 * What VFIO charged this process for the pages it pinned for a device, in
 * KiB, with what the process locked itself: VmLck through a type1 container
 * (which counts mlock()ed pages too), VmPin through iommufd. -1 when it
 * cannot be read.
 */
static inline long vdpa_pinned_kb(int iommufd)
{
	const char *key = iommufd ? "VmPin: %ld kB" : "VmLck: %ld kB";
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, key, &kb) == 1)
			break;
	fclose(f);
	return kb;
}

#endif
