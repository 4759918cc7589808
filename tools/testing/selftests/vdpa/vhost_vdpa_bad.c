// SPDX-License-Identifier: GPL-2.0
/*
 * vhost_vdpa_bad: bad input to a vDPA net device (a loopback: a simulator)
 * through /dev/vhost-vdpa-N, and races, each followed by a check that the
 * device still works. The vhost-vdpa driver is vhost_vdpa_lib.c's.
 *
 * Usage: vhost_vdpa_bad /dev/vhost-vdpa-N MAC
 *        vhost_vdpa_bad --plan
 *        vhost_vdpa_bad hold /dev/vhost-vdpa-N
 *
 * The first form runs the tests and reports them through kselftest.h (MAC is
 * the device's provisioned address); the second prints how many results the
 * first reports (see vdpa_test.h). The tests:
 * - config space: the provisioned MAC at offset 0; reads and writes of no
 *   bytes, from past the end and across the end refused (EINVAL: the ioctl
 *   gives that for every range its validation refuses), the last byte
 *   readable, nothing changed by a refused write;
 * - status: a bit cleared without a reset refused (EINVAL); DRIVER_OK set
 *   without FEATURES_OK (what the device does then is not defined), and
 *   frames posted then, leave a device that a reset and a proper setup bring
 *   back;
 * - permissions: a receive buffer in a read-only mapping is never written, a
 *   frame in a write-only mapping is never sent (its bytes never come back);
 * - the control queue: an unknown class and a MAC_ADDR_SET with a short
 *   address are answered VIRTIO_NET_ERR and change nothing (the C
 *   simulator copies the short address into its MAC: the script has that
 *   case skipped there, VHOST_VDPA_SKIP_SHORT_MAC giving the reason);
 * - a reset racing kicks and traffic, 100 times (VDPA_RACE_RESETS), then
 *   frames loop back.
 * After each bad input, the device is reset, set up again, and must loop
 * frames back byte for byte.
 *
 * The third form opens the device, sets it up, prints "ready" and keeps it
 * open until its standard input ends: the shell test removes the device or
 * its module while a process holds it.
 *
 * Needs a locked-memory limit of a few MiB (ulimit -l).
 */
#include <errno.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_net.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vhost_vdpa_lib.h"

#define MEM_SIZE (2u << 20)
#define IOVA_BASE 0x40000000ull
/* The read-only and write-only mappings: one page each, in no region. */
#define IOVA_RO 0x60000000ull
#define IOVA_WO 0x60001000ull
#define BUF_SIZE 2048
#define HDR_LEN 12 /* struct virtio_net_hdr_v1 */
#define ETHERTYPE_TEST 0x88b5
#define RXQ 0
#define TXQ 1
#define CVQ 2
#define NRX 16
#define FEATURES (1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_F_ACCESS_PLATFORM | \
		  1ull << VIRTIO_NET_F_MAC | 1ull << VIRTIO_NET_F_CTRL_VQ |       \
		  1ull << VIRTIO_NET_F_CTRL_MAC_ADDR)

static struct dev d;
static uint8_t *mem;
static uint8_t mac[6];

/* Buffer i of queue q (the control queue's area starts at 1 MiB). */
static uint8_t *buf(int q, int i)
{
	return mem + 64 * 1024 + (q * QSIZE + i) * BUF_SIZE;
}

static uint8_t *next_buf(int q)
{
	return buf(q, d.rings[q].avail_idx % d.rings[q].num);
}

/* A frame to the device's own address, after a zeroed virtio-net header. */
static void make_frame(uint8_t *f, int len, int seq)
{
	int i;

	memset(f, 0, HDR_LEN);
	memcpy(f + HDR_LEN, mac, 6);
	memcpy(f + HDR_LEN + 6, "\x02\x11\x22\x33\x44\x55", 6);
	f[HDR_LEN + 12] = ETHERTYPE_TEST >> 8;
	f[HDR_LEN + 13] = ETHERTYPE_TEST & 0xff;
	for (i = 14; i < len; i++)
		f[HDR_LEN + i] = (uint8_t)(seq * 7 + i);
}

/* Drains the used entries of a queue that come within timeout_ms. */
static void drain(int q, int timeout_ms)
{
	uint16_t id;

	while (wait_used(&d, q, timeout_ms, &id) >= 0)
		;
}

/* A fresh setup with NRX receive buffers posted; 0 or a negative errno. */
static int fresh(void)
{
	int i, r = setup(&d);

	for (i = 0; !r && i < NRX; i++)
		post(&d, RXQ, next_buf(RXQ), BUF_SIZE, 1);
	return r;
}

/* Sends n frames of several sizes; returns how many came back intact. */
static int loop_back(int n, int seq)
{
	int i, back = 0;

	for (i = 0; i < n; i++) {
		int len = 60 + (i * 97) % 1455, got;
		uint8_t *f = next_buf(TXQ);
		uint16_t id;

		make_frame(f, len, seq + i);
		post(&d, TXQ, f, HDR_LEN + len, 0);
		got = wait_used(&d, RXQ, 2000, &id);
		if (got == HDR_LEN + len && id < QSIZE &&
		    !memcmp(buf(RXQ, id) + HDR_LEN, f + HDR_LEN, len))
			back++;
		if (got >= 0)
			post(&d, RXQ, next_buf(RXQ), BUF_SIZE, 1);
		wait_used(&d, TXQ, 2000, &id);
	}
	return back;
}

/* After bad input: reset, set up, and 8 frames must come back. */
static void works_again(const char *after)
{
	int r = fresh(), back = r ? 0 : loop_back(8, 50);

	ksft_test_result(!r && back == 8,
			 "after %s, a reset and a new setup work (%d of 8 frames back, setup %d)\n",
			 after, back, r);
}

/* Reads or writes config space; returns 0 or the negative errno. */
static int config(unsigned long req, uint32_t off, uint32_t len, void *data)
{
	struct vhost_vdpa_config *c = calloc(1, sizeof(*c) + len + 1);
	int r;

	if (!c)
		return -ENOMEM;
	c->off = off;
	c->len = len;
	if (req == VHOST_VDPA_SET_CONFIG && data)
		memcpy(c->buf, data, len);
	r = ioctl(d.fd, req, c) ? -errno : 0;
	if (req == VHOST_VDPA_GET_CONFIG && data && !r)
		memcpy(data, c->buf, len);
	free(c);
	return r;
}

/* An IOTLB v2 update of one page with the given permission. */
static int map_page(uint64_t io, void *p, uint8_t perm)
{
	struct vhost_msg_v2 msg = {
		.type = VHOST_IOTLB_MSG_V2,
		.iotlb = {
			.iova = io,
			.size = PAGE,
			.uaddr = (uintptr_t)p,
			.perm = perm,
			.type = VHOST_IOTLB_UPDATE,
		},
	};

	return write(d.fd, &msg, sizeof(msg)) == sizeof(msg) ? 0 : -errno;
}

/* The size of the config space (the first test reads it). */
static uint32_t cfg_size;

static void config_mac(void)
{
	uint8_t got[6];
	int r = ioctl(d.fd, VHOST_VDPA_GET_CONFIG_SIZE, &cfg_size) ? -errno : 0;

	ksft_test_result(!r && cfg_size >= 6 && !config(VHOST_VDPA_GET_CONFIG, 0, 6, got) &&
				 !memcmp(got, mac, 6),
			 "config space (%u bytes) starts with the provisioned MAC\n", cfg_size);
}

static void config_read_empty(void)
{
	uint8_t got[8];

	ksft_test_result(config(VHOST_VDPA_GET_CONFIG, 0, 0, got) == -EINVAL,
			 "a config read of no bytes is refused (EINVAL)\n");
}

static void config_read_past(void)
{
	uint8_t got[8];

	ksft_test_result(config(VHOST_VDPA_GET_CONFIG, cfg_size + 1, 1, got) == -EINVAL,
			 "a config read from past the end is refused (EINVAL)\n");
}

static void config_read_across(void)
{
	uint8_t got[8];

	ksft_test_result(config(VHOST_VDPA_GET_CONFIG, cfg_size - 1, 2, got) == -EINVAL,
			 "a config read across the end is refused (EINVAL)\n");
}

static void config_last_byte(void)
{
	uint8_t got[8];

	ksft_test_result(cfg_size && !config(VHOST_VDPA_GET_CONFIG, cfg_size - 1, 1, got),
			 "the last config byte is readable\n");
}

static void config_write_across(void)
{
	uint8_t big[64], m[6];
	int r;

	memset(big, 0xee, sizeof(big));
	r = config(VHOST_VDPA_SET_CONFIG, cfg_size - 2, sizeof(big), big);
	ksft_test_result(r == -EINVAL && !config(VHOST_VDPA_GET_CONFIG, 0, 6, m) &&
				 !memcmp(m, mac, 6),
			 "a config write across the end is refused (%d), the MAC unchanged\n", r);
}

static void status_clear_bit(void)
{
	set_status(&d, 0);
	set_status(&d, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	ksft_test_result(set_status(&d, VIRTIO_CONFIG_S_ACKNOWLEDGE) == -EINVAL,
			 "clearing a status bit without a reset is refused (EINVAL)\n");
}

/* Queues set up as usual, but DRIVER_OK without FEATURES_OK. */
static void status_no_features_ok(void)
{
	char what[64];
	int i, r;

	d.no_features_ok = 1;
	r = fresh();
	d.no_features_ok = 0;
	for (i = 0; i < 4; i++) {
		uint8_t *f = next_buf(TXQ);

		make_frame(f, 100, i);
		post(&d, TXQ, f, HDR_LEN + 100, 0);
	}
	drain(RXQ, 300);
	drain(TXQ, 100);
	snprintf(what, sizeof(what), "DRIVER_OK without FEATURES_OK (setup %d) and frames", r);
	works_again(what);
}

/* The pages of the read-only and the write-only mapping. */
static uint8_t *ro, *wo;

static void perm_read_only(void)
{
	struct vring_desc rx = { .addr = IOVA_RO, .len = PAGE, .flags = VRING_DESC_F_WRITE };
	uint8_t *f;
	uint16_t id;
	int i, j, clean = 1;

	ro = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ro == MAP_FAILED || mlock(ro, 2 * PAGE)) {
		ro = NULL;
		ksft_test_result_fail("a receive buffer in a read-only mapping is never written (no memory)\n");
		return;
	}
	wo = ro + PAGE;
	/* Only the read-only buffer is posted for receiving. */
	setup(&d);
	memset(ro, 0x5a, PAGE);
	i = map_page(IOVA_RO, ro, VHOST_ACCESS_RO);
	post_chain(&d, RXQ, 0, &rx, 1);
	f = next_buf(TXQ);
	make_frame(f, 200, 1);
	post(&d, TXQ, f, HDR_LEN + 200, 0);
	wait_used(&d, RXQ, 1000, &id);
	drain(TXQ, 200);
	for (j = 0; j < PAGE; j++)
		clean &= ro[j] == 0x5a;
	ksft_test_result(!i && clean,
			 "a receive buffer in a read-only mapping is never written (map %d)\n", i);
}

static void perm_read_only_after(void)
{
	works_again("a read-only receive buffer");
}

/* A frame in a write-only mapping: the device may not read it. */
static void perm_write_only(void)
{
	struct vring_desc tx = { .addr = IOVA_WO, .len = HDR_LEN + 200 };
	struct ring *t = &d.rings[TXQ];
	int i, back = 0, got;
	uint16_t id;

	if (!ro) {
		ksft_test_result_fail("a frame in a write-only mapping is never sent (no memory)\n");
		return;
	}
	make_frame(wo, 200, 2);
	i = map_page(IOVA_WO, wo, VHOST_ACCESS_WO);
	post_chain(&d, TXQ, t->avail_idx % t->num, &tx, 1);
	for (;;) {
		got = wait_used(&d, RXQ, 1000, &id);
		if (got < 0)
			break;
		back += got == HDR_LEN + 200 && id < QSIZE &&
			!memcmp(buf(RXQ, id) + HDR_LEN, wo + HDR_LEN, 200);
	}
	drain(TXQ, 200);
	ksft_test_result(!i && !back,
			 "a frame in a write-only mapping is never sent (map %d, %d came back)\n", i,
			 back);
}

static void perm_write_only_after(void)
{
	works_again("a write-only frame");
	if (ro)
		munmap(ro, 2 * PAGE);
}

/*
 * Sends a control command (class, command, data readable; ack writable) and
 * returns the ack, or -1 when it is not completed in time.
 */
static int ctrl(uint8_t class, uint8_t cmd, const void *data, uint32_t len)
{
	uint8_t *c = mem + (1u << 20), *ack = c + 64;
	struct vring_desc ch[2] = {
		{ .addr = iova(&d, c), .len = 2 + len, .flags = VRING_DESC_F_NEXT, .next = 1 },
		{ .addr = iova(&d, ack), .len = 1, .flags = VRING_DESC_F_WRITE },
	};
	struct ring *r = &d.rings[CVQ];
	uint16_t id;

	c[0] = class;
	c[1] = cmd;
	memcpy(c + 2, data, len);
	*ack = 0xff;
	post_chain(&d, CVQ, (r->avail_idx * 2) % r->num, ch, 2);
	return wait_used(&d, CVQ, 2000, &id) < 0 ? -1 : *ack;
}

#define NO_CVQ "the device has no control queue"

static int has_cvq(void)
{
	return !!(d.features & (1ull << VIRTIO_NET_F_CTRL_VQ));
}

static void cvq_unknown_class(void)
{
	int a;

	if (!has_cvq()) {
		ksft_test_result_skip("an unknown control class is refused (%s)\n", NO_CVQ);
		return;
	}
	fresh();
	a = ctrl(0xee, 0, "", 0);
	ksft_test_result(a == VIRTIO_NET_ERR,
			 "an unknown control class is answered VIRTIO_NET_ERR (ack %d)\n", a);
}

static void cvq_short_mac(void)
{
	const char *why = getenv("VHOST_VDPA_SKIP_SHORT_MAC");
	uint8_t m[6];
	int a;

	if (!has_cvq()) {
		ksft_test_result_skip("a short MAC_ADDR_SET is refused (%s)\n", NO_CVQ);
		return;
	}
	if (why && *why) {
		ksft_test_result_skip("a MAC_ADDR_SET with a 3-byte address is answered VIRTIO_NET_ERR, the MAC unchanged (%s)\n",
				      why);
		return;
	}
	a = ctrl(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, "\x02\x00\x00", 3);
	ksft_test_result(a == VIRTIO_NET_ERR && !get_config(&d, 0, m, 6) && !memcmp(m, mac, 6),
			 "a MAC_ADDR_SET with a 3-byte address is answered VIRTIO_NET_ERR (ack %d), the MAC unchanged\n",
			 a);
}

static void cvq_after(void)
{
	if (!has_cvq()) {
		ksft_test_result_skip("the device works after bad control commands (%s)\n", NO_CVQ);
		return;
	}
	works_again("bad control commands");
}

static volatile int racing;

/* Kicks the data queues without pause while the main thread resets. */
static void *kicker(void *arg)
{
	uint64_t one = 1;

	(void)arg;
	while (racing) {
		if (write(d.rings[TXQ].kick, &one, sizeof(one)) < 0 ||
		    write(d.rings[RXQ].kick, &one, sizeof(one)) < 0)
			usleep(100);
	}
	return NULL;
}

static void reset_race(void)
{
	/* Fewer on a slow (sanitized) kernel: vhost_vdpa_bad.sh sets it. */
	int resets = getenv("VDPA_RACE_RESETS") ? atoi(getenv("VDPA_RACE_RESETS")) : 100;
	pthread_t t;
	int i, j, bad = 0;

	racing = 1;
	if (pthread_create(&t, NULL, kicker, NULL)) {
		ksft_test_result_fail("%d resets racing kicks and traffic end cleanly (no thread)\n",
				      resets);
		return;
	}
	for (i = 0; i < resets; i++) {
		bad += fresh() != 0;
		for (j = 0; j < 4; j++) {
			uint8_t *f = next_buf(TXQ);

			make_frame(f, 60 + 100 * j, i);
			post(&d, TXQ, f, HDR_LEN + 60 + 100 * j, 0);
		}
		bad += set_status(&d, 0) != 0;
	}
	racing = 0;
	pthread_join(t, NULL);
	ksft_test_result(!bad, "%d resets racing kicks and traffic end cleanly (%d failed calls)\n",
			 resets, bad);
}

static void reset_race_after(void)
{
	works_again("resets racing traffic");
}

static int hold(const char *path)
{
	uint64_t backend;
	char c;

	if (dev_open(&d, path, 3) || negotiate_backend(&d, 1ull << VHOST_BACKEND_F_IOTLB_MSG_V2, &backend))
		return 1;
	mem = add_region(&d, MEM_SIZE, IOVA_BASE, 0);
	if (!mem)
		return 1;
	for (int q = 0; q < 3; q++)
		place_ring(&d, q, 0, q * RING_PAGES * PAGE);
	if (ioctl(d.fd, VHOST_GET_FEATURES, &d.features))
		return 1;
	d.features &= FEATURES;
	if (fresh())
		return 1;
	printf("ready\n");
	fflush(stdout);
	while (read(0, &c, 1) > 0)
		;
	return 0;
}

static const char *path;

static void open_dev(void)
{
	uint64_t backend;
	int r = dev_open(&d, path, 3);

	if (d.fd < 0)
		ksft_exit_fail_perror(path);
	if (!r)
		r = negotiate_backend(&d, 1ull << VHOST_BACKEND_F_IOTLB_MSG_V2, &backend);
	if (!r && ioctl(d.fd, VHOST_GET_FEATURES, &d.features))
		r = -errno;
	ksft_test_result(!r && d.id == VIRTIO_ID_NET, "the device opens as a net device (%d)\n", r);
	d.features &= FEATURES;
}

static void first_setup(void)
{
	int r = fresh();

	ksft_test_result(!r && loop_back(8, 0) == 8,
			 "a first setup works and frames loop back (%d)\n", r);
}

static const struct vdpa_test tests[] = {
	VDPA_TEST(open_dev),
	VDPA_TEST(first_setup),
	VDPA_TEST(config_mac),
	VDPA_TEST(config_read_empty),
	VDPA_TEST(config_read_past),
	VDPA_TEST(config_read_across),
	VDPA_TEST(config_last_byte),
	VDPA_TEST(config_write_across),
	VDPA_TEST(status_clear_bit),
	VDPA_TEST(status_no_features_ok),
	VDPA_TEST(perm_read_only),
	VDPA_TEST(perm_read_only_after),
	VDPA_TEST(perm_write_only),
	VDPA_TEST(perm_write_only_after),
	VDPA_TEST(cvq_unknown_class),
	VDPA_TEST(cvq_short_mac),
	VDPA_TEST(cvq_after),
	VDPA_TEST(reset_race),
	VDPA_TEST(reset_race_after),
};

int main(int argc, char **argv)
{
	int q;

	if (argc == 3 && !strcmp(argv[1], "hold"))
		return hold(argv[2]);
	if (argc == 2 && !strcmp(argv[1], "--plan"))
		vdpa_tests_begin(tests, 1, argv[1]);
	if (argc != 3 || sscanf(argv[2], "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2],
				&mac[3], &mac[4], &mac[5]) != 6) {
		fprintf(stderr, "usage: %s /dev/vhost-vdpa-N MAC | --plan | hold /dev/vhost-vdpa-N\n",
			argv[0]);
		return 2;
	}
	vdpa_tests_begin(tests, 1, argv[1]);
	path = argv[1];
	mem = add_region(&d, MEM_SIZE, IOVA_BASE, 0);
	if (!mem)
		ksft_exit_fail_perror("memory");
	for (q = 0; q < 3; q++)
		place_ring(&d, q, 0, q * RING_PAGES * PAGE);
	vdpa_tests_run(tests, 1);
	ksft_finished();
}
