// SPDX-License-Identifier: GPL-2.0
/*
 * vdpa_bench: the userspace driver of vhost_vdpa_lib.c timing a loopback
 * net device (the simulators), for make bench; not a test. The same program
 * drives the device through /dev/vhost-vdpa-N or, as a vfio_vdpa mdev,
 * through VFIO (vfio:UUID), so the two paths compare on the same device.
 *
 * Usage: vdpa_bench /dev/vhost-vdpa-N|vfio:UUID|iommufd:UUID SECONDS [wire]
 *
 * Prints "RTT_NS PPS": the mean round trip of one 64-byte frame (post on
 * TX, kick, wait for the call of RX: kick to call), over half the time; and
 * the 64-byte frames looped back per second with 32 in flight, over the
 * other half. Needs a locked-memory limit of 4 MiB at least.
 *
 * "wire" is for a device on a wire (a PCI function), which does not loop
 * frames back: the queues' doorbells are mapped where the device allows it
 * (else kicks are eventfd or NOTIFY writes), the round trip is of one frame
 * sent (kick to TX call) and the rate of frames sent with 32 in flight; it
 * prints "RTT_NS PPS MAPPED", MAPPED 1 if the doorbells were mapped.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <linux/virtio_net.h>

#include "vhost_vdpa_lib.h"

#define MEM_SIZE (2u << 20)
#define IOVA_BASE 0x40000000ull
#define BUF 2048
#define HDR_LEN 12
#define FRAME 64
#define DEPTH 32
#define RXQ 0
#define TXQ 1
/* Buffers after the two rings: RX at slot i, TX at QSIZE + slot i. */
#define BUFS (8 * PAGE)

static struct dev d;
static uint8_t *mem;

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static uint8_t *buf(int q, int slot)
{
	return mem + BUFS + (size_t)(q * QSIZE + slot % QSIZE) * BUF;
}

/* Posts the next RX buffer. */
static void rx_post(void)
{
	struct ring *r = &d.rings[RXQ];

	post(&d, RXQ, buf(RXQ, r->avail_idx % r->num), BUF, 1);
}

/* Posts a 64-byte frame to the device's own MAC (the loopback delivers it). */
static void tx_post(const uint8_t *mac)
{
	struct ring *r = &d.rings[TXQ];
	uint8_t *f = buf(TXQ, r->avail_idx % r->num);

	memset(f, 0, HDR_LEN + FRAME);
	memcpy(f + HDR_LEN, mac, 6);
	memcpy(f + HDR_LEN + 6, "\x02\x11\x22\x33\x44\x55", 6);
	f[HDR_LEN + 12] = 0x88;
	f[HDR_LEN + 13] = 0xb5;
	post(&d, TXQ, f, HDR_LEN + FRAME, 0);
}

/* wire: the TX round trip and rate; prints the line. */
static int wire(const uint8_t *mac, double half, int mapped)
{
	double t0, rtt;
	long n = 0, got = 0;
	uint16_t id;
	int i;

	t0 = now();
	while (now() - t0 < half) {
		tx_post(mac);
		if (wait_used(&d, TXQ, 2000, &id) < 0) {
			fprintf(stderr, "a frame was not sent\n");
			return 1;
		}
		n++;
	}
	rtt = (now() - t0) / n * 1e9;
	for (i = 0; i < DEPTH; i++)
		tx_post(mac);
	t0 = now();
	while (now() - t0 < half) {
		if (wait_used(&d, TXQ, 2000, &id) < 0)
			break;
		got++;
		tx_post(mac);
	}
	printf("%.0f %.0f %d\n", rtt, got / (now() - t0), mapped);
	return 0;
}

/* Reaps what the device used on TX, without waiting. */
static void tx_reap(void)
{
	uint16_t id;

	while (wait_used(&d, TXQ, 0, &id) >= 0)
		;
}

int main(int argc, char **argv)
{
	uint64_t bf;
	uint8_t mac[6];
	double t0, half, rtt;
	long n = 0, got = 0;
	uint16_t id;
	int r;

	if (argc != 3 && !(argc == 4 && !strcmp(argv[3], "wire"))) {
		fprintf(stderr, "usage: %s /dev/vhost-vdpa-N|vfio:UUID|iommufd:UUID SECONDS [wire]\n",
			argv[0]);
		return 2;
	}
	half = atof(argv[2]) / 2;
	mem = add_region(&d, MEM_SIZE, IOVA_BASE, 0);
	if (!mem) {
		perror("memory");
		return 1;
	}
	place_ring(&d, RXQ, 0, 0);
	place_ring(&d, TXQ, 0, 4 * PAGE);
	r = dev_open(&d, argv[1], 2);
	if (!r && !d.vfio)
		r = negotiate_backend(&d, 1ull << VHOST_BACKEND_F_IOTLB_MSG_V2, &bf);
	d.features = 1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_F_ACCESS_PLATFORM |
		     1ull << VIRTIO_NET_F_MAC;
	r = r ? r : get_config(&d, 0, mac, 6);
	r = r ? r : setup(&d);
	if (r) {
		fprintf(stderr, "%s: setup: %s\n", argv[1], strerror(-r));
		return 1;
	}

	if (argc == 4) {
		int mapped = !map_doorbell(&d, RXQ) && !map_doorbell(&d, TXQ);

		r = wire(mac, half, mapped);
		unmap_doorbell(&d, TXQ);
		unmap_doorbell(&d, RXQ);
		set_status(&d, 0);
		dev_close(&d);
		return r;
	}

	/* Round trip: one frame at a time, kick to call. */
	rx_post();
	t0 = now();
	while (now() - t0 < half) {
		tx_post(mac);
		if (wait_used(&d, RXQ, 2000, &id) < 0) {
			fprintf(stderr, "%s: a frame did not come back\n", argv[1]);
			return 1;
		}
		rx_post();
		tx_reap();
		n++;
	}
	rtt = (now() - t0) / n * 1e9;

	/* Rate: DEPTH frames in flight. */
	for (r = 0; r < DEPTH; r++) {
		rx_post();
		tx_post(mac);
	}
	t0 = now();
	while (now() - t0 < half) {
		if (wait_used(&d, RXQ, 2000, &id) < 0)
			break;
		got++;
		rx_post();
		tx_reap();
		tx_post(mac);
	}
	printf("%.0f %.0f\n", rtt, got / (now() - t0));
	set_status(&d, 0);
	dev_close(&d);
	return 0;
}
