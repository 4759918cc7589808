// SPDX-License-Identifier: GPL-2.0
/*
 * irq_bypass_bad: bad input to the kernel's irq bypass consumer side as our
 * Rust abstraction (rust/kernel/irq_bypass.rs) wraps it, through the test
 * consumer behind /dev/rust_irq_bypass_probe (rust_irq_bypass_probe.ko): a
 * descriptor that is not open (EBADF) or not an eventfd (EINVAL), a second
 * consumer on an eventfd that has one (EBUSY, the first one unharmed), the
 * eventfd free again once its consumer stops or its file closes, a state
 * read to a bad address (EFAULT) and an unknown command (ENOTTY). No
 * producer is involved: vhost_vdpa_bypass.c connects real ones.
 *
 * Usage: irq_bypass_bad [--plan]
 *
 * Reports through kselftest.h; with --plan, prints how many results it
 * reports (see vdpa_test.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "vdpa_test.h"

#define PROBE "/dev/rust_irq_bypass_probe"
#define PROBE_WATCH _IO('v', 0xb0)
#define PROBE_STATE _IOR('v', 0xb1, struct probe_state)

struct probe_state {
	int32_t irq;
	uint32_t connected, adds, dels;
};

/* The probe's WATCH of fd: 0 or the negative errno. */
static int watch(int probe, int fd)
{
	return ioctl(probe, PROBE_WATCH, (unsigned long)fd) ? -errno : 0;
}

/* Two probes (consumers), an eventfd, and a file that is no eventfd. */
static int p1, p2, efd, null;

static void closed_fd(void)
{
	int closed = dup(null), r;

	close(closed);
	r = watch(p1, closed);
	ksft_test_result(r == -EBADF,
			 "watching a descriptor that is not open is refused with EBADF (%d)\n", r);
}

static void not_eventfd(void)
{
	int r = watch(p1, null);

	ksft_test_result(r == -EINVAL,
			 "watching a file that is not an eventfd is refused with EINVAL (%d)\n", r);
}

static void first_consumer(void)
{
	int r = watch(p1, efd);

	ksft_test_result(!r, "watching an eventfd succeeds (%d)\n", r);
}

static void second_consumer(void)
{
	int r = watch(p2, efd);

	ksft_test_result(r == -EBUSY,
			 "a second consumer on the same eventfd is refused with EBUSY (%d)\n", r);
}

/* The refusal must not have touched the first consumer: it stays registered. */
static void first_unharmed(void)
{
	int r = watch(p2, efd);

	ksft_test_result(r == -EBUSY, "... and the first consumer stays registered (again %d)\n",
			 r);
}

static void freed_by_stop(void)
{
	int r = watch(p1, -1) ?: watch(p2, efd);

	ksft_test_result(!r, "once the first stops watching, the second can watch the eventfd (%d)\n",
			 r);
}

static void freed_by_close(void)
{
	int r;

	close(p2);
	p2 = -1;
	r = watch(p1, efd);
	ksft_test_result(!r,
			 "closing the watching file frees the eventfd for another consumer (%d)\n", r);
}

static void bad_state_address(void)
{
	struct probe_state s;
	int r = ioctl(p1, PROBE_STATE, (struct probe_state *)16) ? -errno : 0;

	memset(&s, 0, sizeof(s));
	ksft_test_result(r == -EFAULT && !ioctl(p1, PROBE_STATE, &s) && s.irq == -1 && !s.connected,
			 "a state read to a bad address is refused with EFAULT, the state readable after (%d)\n",
			 r);
}

static void unknown_command(void)
{
	int r = ioctl(p1, _IO('v', 0xbf), 0) ? -errno : 0;

	ksft_test_result(r == -ENOTTY, "an unknown command is refused with ENOTTY (%d)\n", r);
}

static const struct vdpa_test tests[] = {
	VDPA_TEST(closed_fd),
	VDPA_TEST(not_eventfd),
	VDPA_TEST(first_consumer),
	VDPA_TEST(second_consumer),
	VDPA_TEST(first_unharmed),
	VDPA_TEST(freed_by_stop),
	VDPA_TEST(freed_by_close),
	VDPA_TEST(bad_state_address),
	VDPA_TEST(unknown_command),
};

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--plan")) {
		fprintf(stderr, "usage: %s [--plan]\n", argv[0]);
		return 2;
	}
	vdpa_tests_begin(tests, 1, argv[1]);
	p1 = open(PROBE, O_RDWR);
	p2 = open(PROBE, O_RDWR);
	efd = eventfd(0, EFD_CLOEXEC);
	null = open("/dev/null", O_RDWR);
	if (p1 < 0 || p2 < 0 || efd < 0 || null < 0)
		ksft_exit_fail_msg("%s or an eventfd: %s\n", PROBE, strerror(errno));
	vdpa_tests_run(tests, 1);

	close(efd); /* the consumer holds its own reference to the eventfd context */
	close(p1);
	close(null);
	ksft_finished();
}
