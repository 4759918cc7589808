// SPDX-License-Identifier: GPL-2.0
/*
 * vhost_vdpa_blk: drives a vDPA block device from userspace through
 * /dev/vhost-vdpa-N, the way a VMM does, and checks the bytes and the status
 * of every request. The vhost-vdpa driver itself is in vhost_vdpa_lib.c.
 *
 * Usage: vhost_vdpa_blk /dev/vhost-vdpa-N | vfio:UUID | iommufd:UUID
 *        vhost_vdpa_blk --plan
 *
 * The first form runs the tests and reports them through kselftest.h, on a
 * vhost-vdpa device or on a vfio_vdpa mdev (see vhost_vdpa_lib.h); the
 * second prints how many results the first reports (see vdpa_test.h).
 *
 * Needs a locked-memory limit of at least 1 MiB (ulimit -l).
 *
 * The device must be a virtio-blk device with one queue; its capacity comes
 * from the config space (offset 0, le64, in 512-byte sectors). After a setup
 * up to DRIVER_OK, 64 KiB written over several descriptors at the first
 * sector, in the middle and at the very last sectors must read back byte for
 * byte; a read that starts past the capacity and a write that straddles its
 * end must fail with VIRTIO_BLK_S_IOERR, the write leaving the last sector
 * as it was; GET_ID must return a 20-byte id and FLUSH must succeed.
 *
 * The limits the config space advertises hold: a request of seg_max x
 * size_max bytes reads back, one sector more gets VIRTIO_BLK_S_IOERR (the C
 * simulator compares sectors with that number of bytes: the script has the
 * test skipped there, VHOST_VDPA_SKIP_SIZE giving the reason), a write-zeroes
 * of max_write_zeroes_sectors clears them and one sector more gets IOERR
 * (skipped when that maximum is not below the capacity). Requests posted
 * with a single kick, many more than a device handles at a time, must all
 * complete with their data.
 *
 * An unknown request type must fail. The virtio spec asks for
 * VIRTIO_BLK_S_UNSUPP, which the Rust simulator (vdpa_rsim) returns; the C
 * one (vdpa_sim_blk) returns VIRTIO_BLK_S_IOERR. Both are accepted, and the
 * test name says which came.
 *
 * A read whose second data descriptor is past the mappings must still get
 * VIRTIO_BLK_S_IOERR in its status byte, which is mapped. (The C simulator
 * skips past the status byte after such a failure: the script has the test
 * skipped there, VHOST_VDPA_SKIP_STATUS giving the reason.)
 *
 * Malformed requests (a header shorter than 16 bytes, no writable status
 * byte, a descriptor loop, a buffer past the mappings) must complete with
 * nothing written (used length 0) or not at all, and after a reset and a new
 * setup a write and a read must work again.
 */
#include <endian.h>
#include <errno.h>
#include <linux/virtio_blk.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "vhost_vdpa_lib.h"

#define MEM_SIZE (1u << 20)
#define IOVA_BASE 0x40000000ull
#define SECTOR 512
#define IO_SIZE (64u << 10)
#define IO_SECTORS (IO_SIZE / SECTOR)
#define FEATURES (1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_F_ACCESS_PLATFORM | \
		  1ull << VIRTIO_BLK_F_FLUSH)
/* Features negotiated when the device offers them, for the limits tests. */
#define LIMIT_FEATURES (1ull << VIRTIO_BLK_F_SIZE_MAX | 1ull << VIRTIO_BLK_F_SEG_MAX | \
			1ull << VIRTIO_BLK_F_WRITE_ZEROES)
/* An unknown request type. */
#define T_UNKNOWN 200
/* The most one-sector reads posted with one kick (three descriptors each). */
#define BURST 80

/*
 * The memory: the ring, then the request header and status, the headers and
 * status bytes of a burst of requests, then buffers.
 */
static struct dev vd;
static const char *path;
static uint8_t *mem;
#define HDR (mem + 16 * 1024)
#define STATUS (mem + 16 * 1024 + 256)
#define BURST_HDR (mem + 32 * 1024)
#define BURST_STATUS (mem + 48 * 1024)
#define WBUF (mem + 64 * 1024)
#define RBUF (mem + 192 * 1024)
#define BUF_END (mem + MEM_SIZE)

static uint64_t capacity;

/* How a transfer is split into descriptors: 64 KiB takes all six. */
static const uint32_t split[] = { 512, 1536, 4096, 8192, 16384, 34816 };

static void pattern(uint8_t *p, uint32_t len, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1, i;

	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)x;
	}
}

/*
 * Sends one request: the header, len bytes of data at p (written by the
 * device for reads and GET_ID) split as above, and the status byte. Returns
 * the status, or -1 when the request is not completed in time; *used gets
 * the used length.
 */
static int request(struct dev *d, uint32_t type, uint64_t sector, uint8_t *p, uint32_t len,
		   int *used)
{
	struct virtio_blk_outhdr *h = (void *)HDR;
	struct vring_desc c[2 + ARRAY_SIZE(split)];
	int in = type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID;
	uint32_t off = 0;
	uint16_t id;
	int n = 0;

	h->type = htole32(type);
	h->ioprio = 0;
	h->sector = htole64(sector);
	*STATUS = 0xff;
	c[n++] = (struct vring_desc){ iova(d, h), sizeof(*h), VRING_DESC_F_NEXT, 1 };
	while (off < len) {
		uint32_t seg = len - off;

		if ((size_t)n - 1 < ARRAY_SIZE(split) - 1 && seg > split[n - 1])
			seg = split[n - 1];
		c[n] = (struct vring_desc){ iova(d, p + off), seg,
					    VRING_DESC_F_NEXT | (in ? VRING_DESC_F_WRITE : 0),
					    n + 1 };
		off += seg;
		n++;
	}
	c[n++] = (struct vring_desc){ iova(d, STATUS), 1, VRING_DESC_F_WRITE, 0 };
	post_chain(d, 0, 0, c, n);
	*used = wait_used(d, 0, 2000, &id);
	return *used < 0 ? -1 : *(volatile uint8_t *)STATUS;
}

/*
 * Writes a pattern of len bytes at sector and reads it back. Returns true
 * when both succeed with the used lengths due and the bytes are the same.
 */
static int round_trip(struct dev *d, uint64_t sector, uint32_t len, uint32_t seed)
{
	int ws, rs, wu, ru;

	pattern(WBUF, len, seed);
	memset(RBUF, 0, len);
	ws = request(d, VIRTIO_BLK_T_OUT, sector, WBUF, len, &wu);
	rs = request(d, VIRTIO_BLK_T_IN, sector, RBUF, len, &ru);
	if (ws != VIRTIO_BLK_S_OK || wu != 1 || rs != VIRTIO_BLK_S_OK || ru != (int)len + 1) {
		printf("# write: status %d used %d; read: status %d used %d\n", ws, wu, rs, ru);
		return 0;
	}
	return !memcmp(WBUF, RBUF, len);
}

static const char *status_name(int s)
{
	switch (s) {
	case VIRTIO_BLK_S_OK:
		return "OK";
	case VIRTIO_BLK_S_IOERR:
		return "IOERR";
	case VIRTIO_BLK_S_UNSUPP:
		return "UNSUPP";
	case -1:
		return "not completed";
	default:
		return "unknown status";
	}
}

/* A le32 field of the config space, or 0 when it cannot be read. */
static uint32_t config32(struct dev *d, uint32_t off)
{
	uint32_t v = 0;

	return get_config(d, off, &v, sizeof(v)) ? 0 : le32toh(v);
}

/*
 * The request size limits of the config space: a request of seg_max x
 * size_max bytes of data works, and one sector more gets IOERR. Returns
 * seg_max x size_max, or 0 when the device has no such limits or this
 * program cannot test them.
 */
static uint64_t size_limit(uint32_t *seg_max, uint32_t *size_max)
{
	uint64_t want = 1ull << VIRTIO_BLK_F_SIZE_MAX | 1ull << VIRTIO_BLK_F_SEG_MAX;
	uint64_t max;

	*size_max = config32(&vd, offsetof(struct virtio_blk_config, size_max));
	*seg_max = config32(&vd, offsetof(struct virtio_blk_config, seg_max));
	max = (uint64_t)*size_max * *seg_max;
	if ((vd.features & want) != want || !max || max % SECTOR ||
	    max + SECTOR > (uint64_t)(BUF_END - RBUF) || WBUF + max > RBUF)
		return 0;
	return max;
}

#define NO_SIZE_LIMIT "no SIZE_MAX and SEG_MAX, or limits this program cannot test"

static void size_max_works(void)
{
	uint32_t seg_max, size_max;
	uint64_t max = size_limit(&seg_max, &size_max);

	if (!max) {
		ksft_test_result_skip("a request of seg_max x size_max bytes reads back (%s)\n",
				      NO_SIZE_LIMIT);
		return;
	}
	ksft_test_result(round_trip(&vd, 4096, max, 5),
			 "a request of seg_max %u x size_max %u = %llu bytes reads back\n", seg_max,
			 size_max, (unsigned long long)max);
}

static void size_max_exceeded(void)
{
	const char *why = getenv("VHOST_VDPA_SKIP_SIZE");
	uint32_t seg_max, size_max;
	uint64_t max = size_limit(&seg_max, &size_max);
	int s, used;

	if (!max) {
		ksft_test_result_skip("a request of seg_max x size_max bytes and a sector gets IOERR (%s)\n",
				      NO_SIZE_LIMIT);
		return;
	}
	if (why && *why) {
		ksft_test_result_skip("a read of %llu bytes gets IOERR (%s)\n",
				      (unsigned long long)max + SECTOR, why);
		return;
	}
	s = request(&vd, VIRTIO_BLK_T_IN, 4096, RBUF, max + SECTOR, &used);
	ksft_test_result(s == VIRTIO_BLK_S_IOERR && used == 1,
			 "a read of %llu bytes, a sector more than seg_max x size_max: %s (used length %d)\n",
			 (unsigned long long)max + SECTOR, status_name(s), used);
}

/*
 * A write-zeroes of max_write_zeroes_sectors from sector 0 clears them and
 * not the sector after them (a pattern is written on both sides of that
 * end); one sector more gets IOERR.
 */
static void write_zeroes_limit(void)
{
	struct dev *d = &vd;
	uint32_t max = config32(d, offsetof(struct virtio_blk_config, max_write_zeroes_sectors));
	struct virtio_blk_discard_write_zeroes *wz = (void *)WBUF;
	static uint8_t zero[SECTOR];
	uint8_t after[SECTOR];
	int s1, s2, rs, used, ru;

	if (!(d->features & 1ull << VIRTIO_BLK_F_WRITE_ZEROES) || !max || max >= capacity) {
		ksft_test_result_skip("a write-zeroes of a sector more than max_write_zeroes_sectors gets IOERR (%s)\n",
				      d->features & 1ull << VIRTIO_BLK_F_WRITE_ZEROES ?
					      "max_write_zeroes_sectors is not below the capacity" :
					      "the device offers no WRITE_ZEROES");
		return;
	}
	if (!round_trip(d, max - 1, 2 * SECTOR, 7)) {
		ksft_test_result_fail("a write-zeroes of max_write_zeroes_sectors %u: the pattern cannot be written\n",
				      max);
		return;
	}
	memcpy(after, WBUF + SECTOR, SECTOR);
	*wz = (struct virtio_blk_discard_write_zeroes){ .sector = htole64(0),
							.num_sectors = htole32(max) };
	s1 = request(d, VIRTIO_BLK_T_WRITE_ZEROES, 0, WBUF, sizeof(*wz), &used);
	memset(RBUF, 0xff, 2 * SECTOR);
	rs = request(d, VIRTIO_BLK_T_IN, max - 1, RBUF, 2 * SECTOR, &ru);
	rs = rs == VIRTIO_BLK_S_OK && !memcmp(RBUF, zero, SECTOR) &&
	     !memcmp(RBUF + SECTOR, after, SECTOR);
	wz->num_sectors = htole32(max + 1);
	s2 = request(d, VIRTIO_BLK_T_WRITE_ZEROES, 0, WBUF, sizeof(*wz), &used);
	ksft_test_result(s1 == VIRTIO_BLK_S_OK && rs && s2 == VIRTIO_BLK_S_IOERR,
			 "a write-zeroes of max_write_zeroes_sectors %u: %s, sectors %u and %u %s; of %u: %s\n",
			 max, status_name(s1), max - 1, max,
			 rs ? "read zeroes and the pattern" : "do not", max + 1, status_name(s2));
}

/*
 * Posts n one-sector reads of sectors from a quarter of the capacity on with
 * a single kick (a device handles only so many at a time, and must go on by
 * itself), and checks that they all complete with the data written there.
 */
static void burst(void)
{
	struct dev *d = &vd;
	uint64_t first = capacity / 4;
	struct ring *r = &d->rings[0];
	int n = r->num / 3 < BURST ? r->num / 3 : BURST, i, done = 0, good = 0;

	if (!round_trip(d, first, n * SECTOR, 6)) {
		ksft_test_result_fail("%d one-sector reads with one kick: the data cannot be written\n",
				      n);
		return;
	}
	memset(RBUF, 0, n * SECTOR);
	for (i = 0; i < n; i++) {
		struct virtio_blk_outhdr *h = (void *)(BURST_HDR + i * sizeof(*h));

		*h = (struct virtio_blk_outhdr){ .type = htole32(VIRTIO_BLK_T_IN),
						 .sector = htole64(first + i) };
		BURST_STATUS[i] = 0xff;
		r->desc[3 * i] = (struct vring_desc){ iova(d, h), sizeof(*h), VRING_DESC_F_NEXT,
						      3 * i + 1 };
		r->desc[3 * i + 1] = (struct vring_desc){ iova(d, RBUF + i * SECTOR), SECTOR,
							  VRING_DESC_F_NEXT | VRING_DESC_F_WRITE,
							  3 * i + 2 };
		r->desc[3 * i + 2] = (struct vring_desc){ iova(d, BURST_STATUS + i), 1,
							  VRING_DESC_F_WRITE, 0 };
		r->avail->ring[(uint16_t)(r->avail_idx + i) % r->num] = 3 * i;
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	r->avail_idx += n;
	r->avail->idx = r->avail_idx;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	kick(d, 0);
	for (i = 0; i < n; i++) {
		uint16_t id;
		int used = wait_used(d, 0, 2000, &id);

		if (used < 0)
			break;
		done++;
		good += used == SECTOR + 1 && id % 3 == 0 && id < 3 * n &&
			BURST_STATUS[id / 3] == VIRTIO_BLK_S_OK;
	}
	ksft_test_result(done == n && good == n && !memcmp(RBUF, WBUF, n * SECTOR),
			 "%d one-sector reads posted with one kick: %d completed, %d with OK and a full sector, the data %s\n",
			 n, done, good, memcmp(RBUF, WBUF, n * SECTOR) ? "differs" : "is the same");
}

/*
 * Posts a malformed request, then resets, sets the device up again and
 * checks a round trip. Passes when the request completed with nothing
 * written or did not complete, and the device works again.
 */
static void malformed(const char *what, const struct vring_desc *c, int n)
{
	uint16_t id;
	int used, r, ok;

	post_chain(&vd, 0, 0, c, n);
	used = wait_used(&vd, 0, 500, &id);
	r = setup(&vd);
	ok = !r && round_trip(&vd, 1000, 4096, n);
	ksft_test_result(used <= 0 && ok, "%s: %s; after a reset a write and a read %s\n", what,
			 used < 0 ? "not completed" : used ? "completed with data" : "used length 0",
			 ok ? "work" : "fail");
}

static void open_dev(void)
{
	uint64_t le_cap;
	int r = dev_open(&vd, path, 1);

	if (vd.fd < 0)
		ksft_exit_fail_perror(path);
	r = r ? r : get_config(&vd, 0, &le_cap, sizeof(le_cap));
	capacity = le64toh(le_cap);
	ksft_test_result(!r && vd.id == VIRTIO_ID_BLOCK && vd.nvqs == 1 &&
				 capacity > 2 * IO_SECTORS,
			 "owner, device id %u, %u queue, capacity %llu sectors\n", vd.id, vd.nvqs,
			 (unsigned long long)capacity);
}

static void features(void)
{
	uint64_t bf, f;
	int r = negotiate_backend(&vd, 1ull << VHOST_BACKEND_F_IOTLB_MSG_V2, &bf);

	r = r || ioctl(vd.fd, VHOST_GET_FEATURES, &f);
	vd.features = f & FEATURES;
	/* Through the bridge the mappings are VFIO_VDPA_DMA_MAP, no IOTLB message. */
	ksft_test_result(!r && (vd.vfio ? !bf : !!bf) && vd.features == FEATURES,
			 "%s; the device offers VERSION_1, ACCESS_PLATFORM, FLUSH\n",
			 vd.vfio ? "no IOTLB messages (vfio_vdpa)" : "IOTLB v2 messages");
	vd.features |= f & LIMIT_FEATURES;
}

static void first_setup(void)
{
	int r = setup(&vd);

	ksft_test_result(!r, "setup up to DRIVER_OK (%d)\n", r);
}

static void rw_start(void)
{
	ksft_test_result(round_trip(&vd, 0, IO_SIZE, 1),
			 "64 KiB in 6 descriptors at sector 0 read back\n");
}

static void rw_middle(void)
{
	ksft_test_result(round_trip(&vd, capacity / 2, IO_SIZE, 2),
			 "64 KiB in 6 descriptors at sector %llu read back\n",
			 (unsigned long long)capacity / 2);
}

static void rw_end(void)
{
	ksft_test_result(round_trip(&vd, capacity - IO_SECTORS, IO_SIZE, 3),
			 "64 KiB in 6 descriptors at the last %u sectors read back\n", IO_SECTORS);
}

static void read_past_end(void)
{
	int used, s = request(&vd, VIRTIO_BLK_T_IN, capacity, RBUF, SECTOR, &used);

	ksft_test_result(s == VIRTIO_BLK_S_IOERR && used == 1,
			 "a read at sector %llu (the capacity): %s\n", (unsigned long long)capacity,
			 status_name(s));
}

/* The last sector still holds the tail of the pattern rw_end() wrote. */
static void write_across_end(void)
{
	int s, used, rs, ru;

	pattern(WBUF, 2 * SECTOR, 4);
	s = request(&vd, VIRTIO_BLK_T_OUT, capacity - 1, WBUF, 2 * SECTOR, &used);
	pattern(WBUF, IO_SIZE, 3);
	rs = request(&vd, VIRTIO_BLK_T_IN, capacity - 1, RBUF, SECTOR, &ru);
	ksft_test_result(s == VIRTIO_BLK_S_IOERR && used == 1 && rs == VIRTIO_BLK_S_OK &&
				 ru == SECTOR + 1 && !memcmp(RBUF, WBUF + IO_SIZE - SECTOR, SECTOR),
			 "a write straddling the end: %s; the last sector is unchanged\n",
			 status_name(s));
}

static void get_id(void)
{
	char id[VIRTIO_BLK_ID_BYTES + 1] = { 0 };
	int s, used;

	memset(RBUF, 0, VIRTIO_BLK_ID_BYTES);
	s = request(&vd, VIRTIO_BLK_T_GET_ID, 0, RBUF, VIRTIO_BLK_ID_BYTES, &used);
	memcpy(id, RBUF, VIRTIO_BLK_ID_BYTES);
	ksft_test_result(s == VIRTIO_BLK_S_OK && used == VIRTIO_BLK_ID_BYTES + 1 && id[0],
			 "GET_ID returns a %d-byte id \"%s\"\n", used - 1, id);
}

static void flush(void)
{
	int used, s = request(&vd, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, &used);

	ksft_test_result(s == VIRTIO_BLK_S_OK && used == 1, "FLUSH: %s\n", status_name(s));
}

/* UNSUPP per the virtio spec (vdpa_rsim); vdpa_sim_blk returns IOERR. */
static void unknown_type(void)
{
	int used, s = request(&vd, T_UNKNOWN, 0, NULL, 0, &used);

	ksft_test_result((s == VIRTIO_BLK_S_UNSUPP || s == VIRTIO_BLK_S_IOERR) && used == 1,
			 "an unknown request type %d: %s\n", T_UNKNOWN, status_name(s));
}

/*
 * A read of two sectors whose second data descriptor is past the mappings:
 * the transfer fails half-way, and the status byte after it must say so.
 */
static void status_after_fault(void)
{
	const char *why = getenv("VHOST_VDPA_SKIP_STATUS");
	const char *what = "a read whose 2nd data descriptor is past the mappings";
	struct virtio_blk_outhdr *h = (void *)HDR;
	struct vring_desc c[4];
	uint16_t id;
	int s, used;

	if (why && *why) {
		ksft_test_result_skip("%s gets IOERR in its status byte (%s)\n", what, why);
		return;
	}
	*h = (struct virtio_blk_outhdr){ .type = htole32(VIRTIO_BLK_T_IN) };
	*STATUS = 0xff;
	c[0] = (struct vring_desc){ iova(&vd, h), sizeof(*h), VRING_DESC_F_NEXT, 1 };
	c[1] = (struct vring_desc){ iova(&vd, RBUF), SECTOR, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE,
				    2 };
	c[2] = (struct vring_desc){ IOVA_BASE + MEM_SIZE, SECTOR,
				    VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 3 };
	c[3] = (struct vring_desc){ iova(&vd, STATUS), 1, VRING_DESC_F_WRITE, 0 };
	post_chain(&vd, 0, 0, c, 4);
	used = wait_used(&vd, 0, 2000, &id);
	s = used < 0 ? -1 : *(volatile uint8_t *)STATUS;
	ksft_test_result(s == VIRTIO_BLK_S_IOERR && used >= 1,
			 "%s gets %s in its status byte (used length %d)\n", what, status_name(s),
			 used);
}

/*
 * Malformed requests; each test resets the device afterwards. The header
 * is a write of sector 0 for the first, and for the others the read of
 * sector 1000 that the round trip of the one before leaves there.
 */
static void set_header(uint32_t type, uint64_t sector)
{
	*(struct virtio_blk_outhdr *)HDR = (struct virtio_blk_outhdr){ .type = htole32(type),
								      .sector = htole64(sector) };
}

static void short_header(void)
{
	struct virtio_blk_outhdr *h = (void *)HDR;
	struct vring_desc c[2] = {
		{ iova(&vd, h), 8, VRING_DESC_F_NEXT, 1 },
		{ iova(&vd, STATUS), 1, VRING_DESC_F_WRITE, 0 },
	};

	set_header(VIRTIO_BLK_T_OUT, 0);
	malformed("an 8-byte header", c, 2);
}

static void no_status(void)
{
	struct virtio_blk_outhdr *h = (void *)HDR;
	struct vring_desc c[2] = {
		{ iova(&vd, h), sizeof(*h), VRING_DESC_F_NEXT, 1 },
		{ iova(&vd, WBUF), SECTOR, 0, 0 },
	};

	set_header(VIRTIO_BLK_T_IN, 1000);
	malformed("no writable status byte", c, 2);
}

static void desc_loop(void)
{
	struct virtio_blk_outhdr *h = (void *)HDR;
	struct vring_desc c[1] = { { iova(&vd, h), sizeof(*h), VRING_DESC_F_NEXT, 0 } };

	set_header(VIRTIO_BLK_T_IN, 1000);
	malformed("a descriptor loop", c, 1);
}

static void header_past_mappings(void)
{
	struct virtio_blk_outhdr *h = (void *)HDR;
	struct vring_desc c[2] = {
		{ IOVA_BASE + MEM_SIZE, sizeof(*h), VRING_DESC_F_NEXT, 1 },
		{ iova(&vd, STATUS), 1, VRING_DESC_F_WRITE, 0 },
	};

	set_header(VIRTIO_BLK_T_IN, 1000);
	malformed("a header past the mappings", c, 2);
	set_status(&vd, 0);
}

static const struct vdpa_test tests[] = {
	VDPA_TEST(open_dev),
	VDPA_TEST(features),
	VDPA_TEST(first_setup),
	VDPA_TEST(rw_start),
	VDPA_TEST(rw_middle),
	VDPA_TEST(rw_end),
	VDPA_TEST(read_past_end),
	VDPA_TEST(write_across_end),
	VDPA_TEST(get_id),
	VDPA_TEST(flush),
	VDPA_TEST(unknown_type),
	VDPA_TEST(size_max_works),
	VDPA_TEST(size_max_exceeded),
	VDPA_TEST(write_zeroes_limit),
	VDPA_TEST(burst),
	VDPA_TEST(status_after_fault),
	VDPA_TEST(short_header),
	VDPA_TEST(no_status),
	VDPA_TEST(desc_loop),
	VDPA_TEST(header_past_mappings),
};

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s /dev/vhost-vdpa-N|vfio:UUID|iommufd:UUID|--plan\n",
			argv[0]);
		return 2;
	}
	vdpa_tests_begin(tests, 1, argv[1]);
	path = argv[1];
	mem = add_region(&vd, MEM_SIZE, IOVA_BASE, 0);
	if (!mem)
		ksft_exit_fail_perror("memory");
	place_ring(&vd, 0, 0, 0);
	vdpa_tests_run(tests, 1);
	dev_close(&vd);
	ksft_finished();
}
