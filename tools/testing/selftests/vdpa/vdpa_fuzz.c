// SPDX-License-Identifier: GPL-2.0
/*
 * vdpa_fuzz: a seeded fuzzer of a loopback net device (the simulators)
 * driven from userspace, through /dev/vhost-vdpa-N or, as a vfio_vdpa mdev,
 * through VFIO (vfio:UUID, iommufd:UUID; see vhost_vdpa_lib.h).
 *
 * Usage: vdpa_fuzz DEV SEED STEPS | --plan
 *
 * From SEED (printed, so that any run can be repeated), it takes STEPS random
 * steps, each one of:
 *   - an ioctl of the device's uAPI (the vhost ioctls, the bridge's DMA and
 *     VFIO ioctls), mostly with its real number, else with a random size or
 *     direction, its argument filled with random and boundary values, or
 *     NULL, or a pointer the kernel cannot read;
 *   - an IOTLB message (vhost: IOTLB v2 on write(); the bridge:
 *     VFIO_VDPA_DMA_MAP/UNMAP) with random and edge IOVAs, sizes (0,
 *     wrapping), user addresses, permissions, types and address spaces;
 *   - a status write, a config read or write at a random offset and length;
 *   - ring contents: descriptors with random addresses (at and past the
 *     mapping's edges), lengths (0, huge), flags and next fields (loops,
 *     indirect tables, heads out of range), avail indexes that jump, a kick;
 *   - through the bridge: reads and writes of the regions, mmap of the
 *     file, SET_IRQS with random indexes, ranges and descriptors.
 * Every 16 steps and at the end, a liveness probe, as a VMM would recover:
 * the backend features again, any IOTLB batch ended, a full reset and setup,
 * then a frame sent to the device's own MAC (read again) must come back byte
 * for byte.
 * A failed probe prints the steps since the last good one.
 *
 * Results: setup and a first frame; the steps with every probe passing.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/vfio.h>
#include <linux/vfio_vdpa.h>
#include <linux/virtio_net.h>

#include "vhost_vdpa_lib.h"

#define MEM_SIZE (1u << 20)
#define IOVA_BASE 0x40000000ull
#define RXQ 0
#define TXQ 1
#define HDR_LEN 12
#define BUFS (8 * PAGE)
#define PROBE_EVERY 16
#define LOG_LINES PROBE_EVERY

static struct dev d;
static uint8_t *mem, mac[6];
static uint8_t *scratch;	/* a page, then a page that is not mapped */
static uint64_t rng;
static const char *path;
static long steps;
static char steplog[LOG_LINES][160];
static int nlog;

static uint64_t rnd(void)
{
	/* xorshift64* */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545F4914F6CDD1Dull;
}

static uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

/* A value at or near an edge, or random. */
static uint64_t edge(void)
{
	static const uint64_t e[] = {
		0, 1, 2, 3, 4, 7, 8, 15, 16, 255, 256, 257, 4095, 4096, 4097, 0x7fff, 0x8000,
		0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff, 0x100000000ull,
		IOVA_BASE, IOVA_BASE + MEM_SIZE - 1, IOVA_BASE + MEM_SIZE, ~0ull, ~0ull - 4095,
		1ull << 63,
	};

	return below(4) ? e[below(sizeof(e) / sizeof(e[0]))] : rnd() >> below(64);
}

/*
 * The distinct outcomes seen: (kind of step, request, errno) triples, a
 * measure of how many classes of input the kernel answered differently.
 */
#define OUTCOMES 8192
static uint64_t outcomes[OUTCOMES];
static int noutcomes;

static void outcome(unsigned int kind, uint64_t request, int err)
{
	uint64_t key = ((uint64_t)kind << 56 ^ request << 12 ^ (uint64_t)(err & 0xfff)) | 1;
	unsigned int i = (key * 0x9E3779B97F4A7C15ull) >> 51;

	while (outcomes[i % OUTCOMES] && outcomes[i % OUTCOMES] != key)
		i++;
	if (!outcomes[i % OUTCOMES] && noutcomes < OUTCOMES / 2) {
		outcomes[i % OUTCOMES] = key;
		noutcomes++;
	}
}

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(steplog[nlog % LOG_LINES], sizeof(steplog[0]), fmt, ap);
	va_end(ap);
	nlog++;
}

/* An ioctl argument: the scratch page filled with values, or a bad pointer. */
static void *arg(void)
{
	size_t i;

	switch (below(10)) {
	case 0:
		return NULL;
	case 1:
		return (void *)16;
	case 2:
		/* The last bytes of the scratch page: the rest is unmapped. */
		return scratch + PAGE - 1 - below(8);
	default:
		for (i = 0; i < PAGE / 8; i++)
			((uint64_t *)scratch)[i] = below(2) ? edge() : below(d.nvqs + 2);
		/* Often a small first word: an index, an offset, a count. */
		if (below(2))
			((uint32_t *)scratch)[0] = below(d.nvqs + 2);
		return scratch;
	}
}

static const unsigned long vhost_cmds[] = {
	VHOST_GET_FEATURES, VHOST_SET_FEATURES, VHOST_SET_OWNER, VHOST_SET_VRING_NUM,
	VHOST_SET_VRING_ADDR, VHOST_SET_VRING_BASE, VHOST_GET_VRING_BASE, VHOST_SET_VRING_KICK,
	VHOST_SET_VRING_CALL, VHOST_SET_BACKEND_FEATURES, VHOST_GET_BACKEND_FEATURES,
	VHOST_VDPA_GET_DEVICE_ID, VHOST_VDPA_GET_STATUS, VHOST_VDPA_SET_STATUS,
	VHOST_VDPA_GET_CONFIG, VHOST_VDPA_SET_CONFIG, VHOST_VDPA_SET_VRING_ENABLE,
	VHOST_VDPA_GET_VRING_NUM, VHOST_VDPA_GET_IOVA_RANGE, VHOST_VDPA_GET_CONFIG_SIZE,
	VHOST_VDPA_GET_AS_NUM, VHOST_VDPA_GET_VRING_GROUP, VHOST_VDPA_SET_GROUP_ASID,
	VHOST_VDPA_SUSPEND, VHOST_VDPA_RESUME, VHOST_VDPA_GET_VQS_COUNT, VHOST_VDPA_GET_GROUP_NUM,
	VHOST_VDPA_GET_VRING_SIZE, VHOST_VDPA_GET_VRING_DESC_GROUP, VHOST_SET_VRING_ERR,
	VHOST_SET_LOG_BASE, VHOST_SET_LOG_FD, VHOST_GET_VRING_ENDIAN, VHOST_GET_VRING_BUSYLOOP_TIMEOUT,
};

static const unsigned long vfio_cmds[] = {
	VFIO_VDPA_DMA_MAP, VFIO_VDPA_DMA_UNMAP, VFIO_DEVICE_GET_INFO, VFIO_DEVICE_GET_REGION_INFO,
	VFIO_DEVICE_GET_IRQ_INFO, VFIO_DEVICE_SET_IRQS, VFIO_DEVICE_RESET, VFIO_DEVICE_FEATURE,
};

static void step_ioctl(void)
{
	unsigned long cmd;
	void *a = arg();
	int r;

	if (d.vfio && below(3) == 0)
		cmd = vfio_cmds[below(sizeof(vfio_cmds) / sizeof(vfio_cmds[0]))];
	else
		cmd = vhost_cmds[below(sizeof(vhost_cmds) / sizeof(vhost_cmds[0]))];
	if (below(8) == 0)
		cmd = _IOC(below(4), _IOC_TYPE(cmd), below(4) ? _IOC_NR(cmd) : below(256),
			   below(2) ? _IOC_SIZE(cmd) : below(512));
	/* VFIO_VDPA_DMA_MAP and SET_IRQS read argsz first: keep it plausible. */
	if (a == scratch && (_IOC_TYPE(cmd) == ';' || _IOC_NR(cmd) >= 0xA0) && below(2))
		((uint32_t *)scratch)[0] = 16 + below(64);
	r = ioctl(d.fd, cmd, a);
	outcome(1, cmd, r ? errno : 0);
	note("ioctl %#lx arg %p: %d (%d)", cmd, a, r, r ? errno : 0);
}

static void step_iotlb(void)
{
	uint32_t asid = below(3) ? 0 : below(4) ? below(4) : (uint32_t)edge();
	uint64_t io = below(2) ? IOVA_BASE + below(MEM_SIZE / PAGE + 2) * PAGE : edge();
	uint64_t size = below(2) ? (below(16) + 1) * PAGE : edge();
	uint8_t type = below(4) ? VHOST_IOTLB_UPDATE - 1 + below(3) : below(256);
	int r;

	if (asid < 32)
		d.mapped_asids |= 1u << asid;
	if (d.vfio) {
		struct {
			struct vfio_vdpa_dma_map m;
			struct vfio_vdpa_dma_range r[2];
		} map = {
			.m = { .argsz = sizeof(map.m) + (1 + below(2)) * sizeof(map.r[0]),
			       .flags = below(8) ? 0 : edge(), .asid = asid, .count = 1 + below(2) },
			.r = { { io, size, below(8), below(8) ? 0 : 1 },
			       { edge(), edge(), below(4), 0 } },
		};
		struct vfio_vdpa_dma_unmap un = {
			.argsz = sizeof(un), .flags = below(3) ? 0 : below(4), .asid = asid,
			.iova = io, .size = size,
		};

		if (below(2))
			r = ioctl(d.fd, VFIO_VDPA_DMA_MAP, &map);
		else
			r = ioctl(d.fd, VFIO_VDPA_DMA_UNMAP, &un);
	} else {
		struct vhost_msg_v2 msg = {
			.type = below(8) ? VHOST_IOTLB_MSG_V2 : below(4),
			.asid = asid,
			.iotlb = {
				.iova = io,
				.size = size,
				.uaddr = below(2) ? (uintptr_t)mem + below(MEM_SIZE / PAGE) * PAGE :
					 below(2) ? (uintptr_t)scratch + PAGE : edge(),
				.perm = below(8),
				.type = type,
			},
		};

		r = write(d.fd, &msg, below(8) ? sizeof(msg) : below(sizeof(msg) + 8));
	}
	outcome(2, (uint64_t)type << 8 | (io & 0xfff ? 1 : 0) << 1 | (size & 0xfff ? 1 : 0),
		r < 0 ? errno : 0);
	note("dma asid %u iova %#llx size %#llx: %d (%d)", asid, (unsigned long long)io,
	     (unsigned long long)size, r, r < 0 ? errno : 0);
}

static void step_status(void)
{
	uint8_t s = below(2) ? below(256) : 1u << below(8);
	int r = set_status(&d, s);

	outcome(3, s, -r);
	note("status %#x: %d", s, r);
}

static void step_config(void)
{
	struct vhost_vdpa_config *c = (void *)scratch;
	uint32_t len = below(2) ? below(32) : (uint32_t)edge();
	int r;

	c->off = below(2) ? below(40) : (uint32_t)edge();
	c->len = len;
	if (d.vfio && below(2)) {
		uint64_t off = below(2) ? c->off : edge();

		r = below(2) ? pread(d.fd, scratch, len % (PAGE + 8), off) :
			       pwrite(d.fd, scratch, len % (PAGE + 8), off);
		note("region %s at %#llx, %u bytes: %d", r >= 0 ? "ok" : "err",
		     (unsigned long long)off, len % (PAGE + 8), r);
		return;
	}
	r = ioctl(d.fd, below(2) ? VHOST_VDPA_GET_CONFIG : VHOST_VDPA_SET_CONFIG, c);
	outcome(4, (uint64_t)(c->off < 64 ? c->off : 64) << 8 | (len < 64 ? len : 64), r ? errno : 0);
	note("config off %u len %u: %d", c->off, len, r);
}

static void step_ring(void)
{
	int q = below(2) ? TXQ : RXQ, i, n = 1 + below(4);
	struct ring *rg = &d.rings[q];

	for (i = 0; i < n; i++) {
		struct vring_desc *dd = &rg->desc[below(rg->num + 1) % rg->num];

		dd->addr = below(2) ? IOVA_BASE + below(MEM_SIZE + 2 * PAGE) : edge();
		dd->len = below(2) ? below(2048) : (uint32_t)edge();
		dd->flags = below(8);
		dd->next = below(2) ? below(rg->num) : (uint16_t)edge();
	}
	rg->avail->ring[rg->avail_idx % rg->num] = below(4) ? below(rg->num) : (uint16_t)edge();
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	rg->avail_idx += below(4) ? 1 : (uint16_t)edge();
	rg->avail->idx = rg->avail_idx;
	kick(&d, q);
	note("ring %d: %d descriptors, avail %u", q, n, rg->avail_idx);
}

static void step_vfio(void)
{
	struct {
		struct vfio_irq_set s;
		int32_t fd[4];
	} set = {
		.s = { .argsz = sizeof(set.s) + below(5) * 4,
		       .flags = below(2) ? VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER :
					   below(1u << 6),
		       .index = below(4), .start = below(4), .count = below(5) },
		.fd = { d.rings[0].call, -1, (int)below(16) - 1, d.fd },
	};
	void *p;
	int r;

	switch (below(2)) {
	case 0:
		r = ioctl(d.fd, VFIO_DEVICE_SET_IRQS, &set);
		outcome(5, (uint64_t)set.s.index << 16 | set.s.flags, r ? errno : 0);
		note("set_irqs index %u start %u count %u flags %#x: %d", set.s.index,
		     set.s.start, set.s.count, set.s.flags, r);
		break;
	default: {
		uint64_t off = below(2) ? d.notify_off + below(4) * PAGE : edge() & ~4095ull;
		size_t len = (1 + below(3)) * PAGE;

		p = mmap(NULL, len, below(2) ? PROT_WRITE : PROT_READ | PROT_WRITE,
			 below(4) ? MAP_SHARED : MAP_PRIVATE, d.fd, off);
		outcome(6, len, p == MAP_FAILED ? errno : 0);
		if (p != MAP_FAILED)
			munmap(p, len);
		note("mmap %#llx + %zu: %s", (unsigned long long)off, len,
		     p == MAP_FAILED ? strerror(errno) : "mapped");
	}
	}
}

/* A frame to the device's own MAC comes back byte for byte. */
static int loop_frame(int tag)
{
	uint8_t *rx = mem + BUFS, *tx = mem + BUFS + 2048;
	uint16_t id;
	int i, len;

	memset(rx, 0, 2048);
	memset(tx, 0, HDR_LEN);
	memcpy(tx + HDR_LEN, mac, 6);
	memcpy(tx + HDR_LEN + 6, "\x02\x11\x22\x33\x44\x55\x88\xb5", 8);
	for (i = 14; i < 100; i++)
		tx[HDR_LEN + i] = tag + i;
	post(&d, RXQ, rx, 2048, 1);
	post(&d, TXQ, tx, HDR_LEN + 100, 0);
	len = wait_used(&d, RXQ, 3000, &id);
	return len == HDR_LEN + 100 && !memcmp(rx + HDR_LEN, tx + HDR_LEN, 100);
}

/*
 * A full reset and setup, then a frame to the device's MAC (read again: the
 * steps may have written the config space) must come back.
 */
static int probe_once(void)
{
	uint8_t st = 0;
	uint64_t bf;
	int r = 0;

	/*
	 * The steps may have changed the backend features (IOTLB v2 messages),
	 * and left an IOTLB batch open: vhost-vdpa ends one at open and close,
	 * not at a reset (VHOST_VDPA_SET_STATUS 0), so a VMM that began one ends
	 * it; until then its updates do not reach a parent that takes whole maps.
	 */
	if (!d.vfio) {
		r = negotiate_backend(&d, 1ull << VHOST_BACKEND_F_IOTLB_MSG_V2, &bf);
		/* (Refused before the address space has its first mapping.) */
		iotlb(&d, VHOST_IOTLB_BATCH_END, 0, 0, 0, 0);
	}
	r = r ? r : setup(&d);

	if (r) {
		ksft_print_msg("probe: setup failed: %s\n", strerror(-r));
		return 0;
	}
	r = get_config(&d, 0, mac, 6);
	if (r) {
		ksft_print_msg("probe: config read failed: %s\n", strerror(-r));
		return 0;
	}
	if (!loop_frame(steps)) {
		struct ring *rx = &d.rings[RXQ], *tx = &d.rings[TXQ];

		ioctl(d.fd, VHOST_VDPA_GET_STATUS, &st);
		ksft_print_msg("probe: the frame to %02x:%02x:%02x:%02x:%02x:%02x did not come back (status %#x; used rx %u/%u, tx %u/%u)\n",
			       mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], st,
			       rx->used->idx, rx->avail_idx, tx->used->idx, tx->avail_idx);
		return 0;
	}
	return 1;
}

/* A failed probe is tried once more, to tell a stuck device from a slow one. */
static int probe(void)
{
	if (probe_once())
		return 1;
	ksft_print_msg("probe: %s the second time\n", probe_once() ? "passed" : "failed");
	return 0;
}

static int works;

static void first(void)
{
	int r = dev_open(&d, path, 2);
	uint64_t bf;

	if (!r && !d.vfio)
		r = negotiate_backend(&d, 1ull << VHOST_BACKEND_F_IOTLB_MSG_V2, &bf);
	d.features = 1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_F_ACCESS_PLATFORM |
		     1ull << VIRTIO_NET_F_MAC;
	r = r ? r : get_config(&d, 0, mac, 6);
	if (r)
		ksft_exit_fail_msg("%s: %s\n", path, strerror(-r));
	works = probe();
	ksft_test_result(works, "%s: setup, and a frame loops back\n", path);
}

static long nsteps;
static unsigned long long seed;

static void fuzz(void)
{
	static void (*const ops[])(void) = {
		step_ioctl, step_ioctl, step_ioctl, step_iotlb, step_iotlb, step_status,
		step_config, step_ring, step_ring, step_vfio,
	};
	int nops = sizeof(ops) / sizeof(ops[0]) - !d.vfio, probes = 0, i;

	if (!works) {
		ksft_test_result_fail("%s: seed %llu: not run, the device did not work to begin with\n",
				      path, seed);
		return;
	}
	for (steps = 0; steps < nsteps; steps++) {
		ops[below(nops)]();
		if ((steps + 1) % PROBE_EVERY && steps + 1 < nsteps)
			continue;
		if (!probe()) {
			ksft_print_msg("seed %llu: the probe after step %ld failed; the steps before it:\n",
				       seed, steps + 1);
			for (i = nlog > LOG_LINES ? nlog - LOG_LINES : 0; i < nlog; i++)
				ksft_print_msg("  %s\n", steplog[i % LOG_LINES]);
			break;
		}
		probes++;
		nlog = 0;
	}
	ksft_test_result(steps == nsteps,
			 "%s: seed %llu, %ld of %ld steps, %d distinct outcomes, %d probes passed\n",
			 path, seed, steps, nsteps, noutcomes, probes);
}

static const struct vdpa_test tests[] = {
	VDPA_TEST(first),
	VDPA_TEST(fuzz),
};

int main(int argc, char **argv)
{
	if (argc != 4 && !(argc == 2 && !strcmp(argv[1], "--plan"))) {
		fprintf(stderr, "usage: %s /dev/vhost-vdpa-N|vfio:UUID|iommufd:UUID SEED STEPS | --plan\n",
			argv[0]);
		return 2;
	}
	vdpa_tests_begin(tests, 1, argv[1]);
	path = argv[1];
	seed = strtoull(argv[2], NULL, 0);
	nsteps = atol(argv[3]);
	rng = seed * 2654435761u + 1;
	ksft_print_msg("seed %llu, %ld steps\n", seed, nsteps);
	scratch = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (scratch == MAP_FAILED || munmap(scratch + PAGE, PAGE))
		ksft_exit_fail_perror("scratch");
	mem = add_region(&d, MEM_SIZE, IOVA_BASE, 0);
	if (!mem)
		ksft_exit_fail_perror("memory");
	place_ring(&d, RXQ, 0, 0);
	place_ring(&d, TXQ, 0, 4 * PAGE);
	vdpa_tests_run(tests, 1);
	ksft_finished();
}
