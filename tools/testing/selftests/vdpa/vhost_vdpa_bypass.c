// SPDX-License-Identifier: GPL-2.0
/*
 * vhost_vdpa_bypass: checks the irq bypass wiring of a vDPA parent for a PCI
 * function, as KVM would see it. vhost-vdpa registers an irq bypass producer
 * for each virtqueue whose call eventfd is set once the device is running,
 * with the IRQ the parent's get_vq_irq gives; the test module behind
 * /dev/rust_irq_bypass_probe (rust_irq_bypass_probe.ko) stands where KVM's consumer
 * would and reports which IRQ it was connected to.
 *
 * Usage: vhost_vdpa_bypass /dev/vhost-vdpa-N|vfio:UUID BDF
 *        vhost_vdpa_bypass --plan
 *
 * The first form runs the tests and reports them through kselftest.h; the
 * second prints how many results the first reports (see vdpa_test.h).
 *
 * The expected IRQ of queue q is the function's MSI-X vector q (both our
 * vdpa_rpci and the C vp_vdpa give queue q vector q), read from
 * /proc/interrupts.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "vhost_vdpa_lib.h"

#define PROBE_WATCH _IO('v', 0xb0)
#define PROBE_STATE _IOR('v', 0xb1, struct probe_state)
#define MEM_SIZE (1u << 20)
#define IOVA_BASE 0x40000000ull

struct probe_state {
	int32_t irq;
	uint32_t connected, adds, dels;
};

/* The Linux IRQ of MSI-X vector `vector` of the function, or -1. */
static int msix_irq(const char *bdf, int vector)
{
	char line[512], want[64];
	FILE *f = fopen("/proc/interrupts", "r");
	int irq = -1, v;

	if (!f)
		return -1;
	snprintf(want, sizeof(want), "PCI-MSIX-%s", bdf);
	/* "  36:   0   0  PCI-MSIX-0000:00:10.0    0-edge      vdpa_rpci" */
	while (fgets(line, sizeof(line), f)) {
		char *p = strstr(line, want);

		if (p && sscanf(p + strlen(want), " %d-edge", &v) == 1 && v == vector) {
			irq = atoi(line);
			break;
		}
	}
	fclose(f);
	return irq;
}

static int probe_state(int probe, struct probe_state *s)
{
	memset(s, 0, sizeof(*s));
	return ioctl(probe, PROBE_STATE, s);
}

static struct dev vd;
static const char *path, *bdf;
/* A probe (a consumer) for each queue, and the IRQ each queue should have. */
static int probe[2], irq[2];

static void setup_irqs(void)
{
	uint64_t bf;
	int q, r = dev_open(&vd, path, 2);

	if (vd.fd < 0)
		ksft_exit_fail_perror(path);
	r = r ?: negotiate_backend(&vd, 1ull << VHOST_BACKEND_F_IOTLB_MSG_V2, &bf);
	vd.features = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_ACCESS_PLATFORM);
	r = r ?: setup(&vd);
	for (q = 0; q < 2; q++)
		irq[q] = msix_irq(bdf, q);
	ksft_test_result(!r && irq[0] > 0 && irq[1] > 0 && irq[0] != irq[1],
			 "setup to DRIVER_OK (%d); queues 0 and 1 have MSI-X IRQs %d and %d\n", r,
			 irq[0], irq[1]);
}

/* A consumer on each call eventfd finds its queue's producer. */
static void producers(void)
{
	struct probe_state s0, s1;
	int q;

	for (q = 0; q < 2; q++)
		ioctl(probe[q], PROBE_WATCH, vd.rings[q].call);
	probe_state(probe[0], &s0);
	probe_state(probe[1], &s1);
	ksft_test_result(s0.connected && s0.irq == irq[0] && s1.connected && s1.irq == irq[1],
			 "each queue's producer carries its own vector: %d, %d\n", s0.irq, s1.irq);
}

/* Clearing the call eventfd (SET_VRING_CALL, or SET_IRQS) withdraws the producer. */
static void call_cleared(void)
{
	struct probe_state s0;
	int r = set_call(&vd, 0, -1);

	probe_state(probe[0], &s0);
	ksft_test_result(!r && !s0.connected && s0.dels == 1,
			 "SET_VRING_CALL -1 disconnects queue 0 (dels %u)\n", s0.dels);
}

static void other_stays(void)
{
	struct probe_state s1;

	probe_state(probe[1], &s1);
	ksft_test_result(s1.connected && s1.irq == irq[1], "queue 1 stays connected\n");
}

/* Setting it again connects again. */
static void call_again(void)
{
	struct probe_state s0;
	int r = set_call(&vd, 0, vd.rings[0].call);

	probe_state(probe[0], &s0);
	ksft_test_result(!r && s0.connected && s0.irq == irq[0] && s0.adds == 2,
			 "setting the call eventfd again reconnects queue 0 (adds %u)\n", s0.adds);
}

/* A reset withdraws every producer. */
static void reset_withdraws(void)
{
	struct probe_state s0, s1;
	int r = set_status(&vd, 0);

	probe_state(probe[0], &s0);
	probe_state(probe[1], &s1);
	ksft_test_result(!r && !s0.connected && !s1.connected, "a reset disconnects both queues\n");
}

/* A new setup brings them back with the same vectors. */
static void new_setup(void)
{
	struct probe_state s0, s1;
	int r = setup(&vd);

	probe_state(probe[0], &s0);
	probe_state(probe[1], &s1);
	ksft_test_result(!r && s0.connected && s0.irq == msix_irq(bdf, 0) && s1.connected &&
				 s1.irq == msix_irq(bdf, 1),
			 "after a new setup both queues are connected again (%d, %d)\n", s0.irq,
			 s1.irq);
	set_status(&vd, 0);
}

static const struct vdpa_test tests[] = {
	VDPA_TEST(setup_irqs),
	VDPA_TEST(producers),
	VDPA_TEST(call_cleared),
	VDPA_TEST(other_stays),
	VDPA_TEST(call_again),
	VDPA_TEST(reset_withdraws),
	VDPA_TEST(new_setup),
};

int main(int argc, char **argv)
{
	int q;

	if (argc != 3 && !(argc == 2 && !strcmp(argv[1], "--plan"))) {
		fprintf(stderr, "usage: %s /dev/vhost-vdpa-N|vfio:UUID BDF | --plan\n", argv[0]);
		return 2;
	}
	vdpa_tests_begin(tests, 1, argv[1]);
	path = argv[1];
	bdf = argv[2];
	for (q = 0; q < 2; q++) {
		probe[q] = open("/dev/rust_irq_bypass_probe", O_RDWR);
		if (probe[q] < 0)
			ksft_exit_fail_perror("/dev/rust_irq_bypass_probe");
	}
	if (!add_region(&vd, MEM_SIZE, IOVA_BASE, 0))
		ksft_exit_fail_perror("memory");
	for (q = 0; q < 2; q++)
		place_ring(&vd, q, 0, q * RING_PAGES * PAGE);
	vdpa_tests_run(tests, 1);
	ksft_finished();
}
