// SPDX-License-Identifier: GPL-2.0
/*
 * vhost_vdpa_net: drives a vDPA net device from userspace through
 * /dev/vhost-vdpa-N, the way a VMM does, and checks what comes back.
 *
 * Usage: vhost_vdpa_net /dev/vhost-vdpa-N PREFIX
 *
 * Needs a locked-memory limit of at least 2 MiB (ulimit -l): vhost-vdpa pins
 * the pages it maps.
 *
 * The sequence: owner, backend features (IOTLB v2 messages, ASIDs, suspend),
 * device features, IOTLB v2 mappings of the rings and buffers, vring
 * num/addr/base/kick/call/enable, status up to DRIVER_OK. Then frames sent on
 * the TX queue must come back on the RX queue byte for byte. Bad requests
 * (a queue index out of range, a ring size that is not a power of two, an
 * IOVA range that wraps, an unknown ASID or group) must be refused, a
 * suspended device must hold its frames until it resumes, a reset device
 * must work again after a new setup, and malformed descriptor chains (a
 * loop, a buffer past the mappings, an oversized indirect table, a writable
 * buffer where a readable one is due) must deliver nothing and leave a
 * device that works again after a reset. Output is KTAP; PREFIX starts each
 * test name.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/vhost.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define QSIZE 256
#define MEM_SIZE (2u << 20)
#define IOVA_BASE 0x40000000ull
#define BUF_SIZE 2048
#define NRX 32
#define HDR_LEN 12 /* struct virtio_net_hdr_v1 */
#define RXQ 0
#define TXQ 1

static const char *prefix;
static int test_no, failed;

static void result(int ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s %d %s: ", ok ? "ok" : "not ok", ++test_no, prefix);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	failed += !ok;
}

struct ring {
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t avail_idx, last_used;
	int kick, call;
};

struct dev {
	int fd;
	uint8_t *mem;
	struct ring rings[2];
	uint8_t mac[6];
	uint64_t features;
};

static uint64_t iova(struct dev *d, void *p)
{
	return IOVA_BASE + ((uint8_t *)p - d->mem);
}

static int iotlb(struct dev *d, uint8_t type, uint32_t asid, uint64_t io, uint64_t size,
		 uint64_t uaddr)
{
	struct vhost_msg_v2 msg = {
		.type = VHOST_IOTLB_MSG_V2,
		.asid = asid,
		.iotlb = {
			.iova = io,
			.size = size,
			.uaddr = uaddr,
			.perm = VHOST_ACCESS_RW,
			.type = type,
		},
	};

	return write(d->fd, &msg, sizeof(msg)) == sizeof(msg) ? 0 : -errno;
}

static int set_status(struct dev *d, uint8_t s)
{
	return ioctl(d->fd, VHOST_VDPA_SET_STATUS, &s) ? -errno : 0;
}

/* Lays the rings out in the mapped memory: one page per ring area. */
static void layout(struct dev *d)
{
	int q;

	memset(d->mem, 0, MEM_SIZE);
	for (q = 0; q < 2; q++) {
		struct ring *r = &d->rings[q];
		uint8_t *base = d->mem + q * 4 * 4096;

		r->desc = (void *)base;
		r->avail = (void *)(base + 4096);
		r->used = (void *)(base + 2 * 4096);
		r->avail_idx = r->last_used = 0;
	}
}

static uint8_t *buf(struct dev *d, int q, int i)
{
	return d->mem + 64 * 1024 + (q * QSIZE + i) * BUF_SIZE;
}

/* Full setup, from reset to DRIVER_OK. Returns 0 or a negative errno. */
static int setup(struct dev *d)
{
	uint8_t st = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;
	int q, r;

	layout(d);
	if ((r = set_status(d, 0)))
		return r;
	/*
	 * Without VHOST_BACKEND_F_IOTLB_PERSIST a reset restores the device's
	 * default mappings: map the memory again, as a VMM does.
	 */
	iotlb(d, VHOST_IOTLB_INVALIDATE, 0, IOVA_BASE, MEM_SIZE, 0);
	if ((r = iotlb(d, VHOST_IOTLB_UPDATE, 0, IOVA_BASE, MEM_SIZE, (uintptr_t)d->mem)) ||
	    (r = set_status(d, st)))
		return r;
	if (ioctl(d->fd, VHOST_SET_FEATURES, &d->features))
		return -errno;
	st |= VIRTIO_CONFIG_S_FEATURES_OK;
	if ((r = set_status(d, st)))
		return r;
	for (q = 0; q < 2; q++) {
		struct ring *rg = &d->rings[q];
		struct vhost_vring_state num = { q, QSIZE }, base = { q, 0 }, en = { q, 1 };
		struct vhost_vring_addr addr = {
			.index = q,
			.desc_user_addr = iova(d, rg->desc),
			.avail_user_addr = iova(d, rg->avail),
			.used_user_addr = iova(d, rg->used),
		};
		struct vhost_vring_file kick = { q, rg->kick }, call = { q, rg->call };

		if (ioctl(d->fd, VHOST_SET_VRING_NUM, &num) ||
		    ioctl(d->fd, VHOST_SET_VRING_ADDR, &addr) ||
		    ioctl(d->fd, VHOST_SET_VRING_BASE, &base) ||
		    ioctl(d->fd, VHOST_SET_VRING_KICK, &kick) ||
		    ioctl(d->fd, VHOST_SET_VRING_CALL, &call) ||
		    ioctl(d->fd, VHOST_VDPA_SET_VRING_ENABLE, &en))
			return -errno;
	}
	return set_status(d, st | VIRTIO_CONFIG_S_DRIVER_OK);
}

/* The buffer the next chain posted on a queue uses (one buffer per slot). */
static uint8_t *next_buf(struct dev *d, int q)
{
	return buf(d, q, d->rings[q].avail_idx % QSIZE);
}

/* Posts the next slot's buffer as a one-descriptor chain and kicks. */
static void post(struct dev *d, int q, uint32_t len, int writable)
{
	struct ring *r = &d->rings[q];
	uint16_t head = r->avail_idx % QSIZE;
	uint64_t one = 1;

	r->desc[head].addr = iova(d, buf(d, q, head));
	r->desc[head].len = len;
	r->desc[head].flags = writable ? VRING_DESC_F_WRITE : 0;
	r->desc[head].next = 0;
	r->avail->ring[head] = head;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	r->avail->idx = ++r->avail_idx;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (write(r->kick, &one, sizeof(one)) != sizeof(one))
		perror("kick");
}

/*
 * Posts a chain of descriptors written as given, from slot 240 on; `next`
 * fields are relative to the first descriptor.
 */
static void post_chain(struct dev *d, int q, const struct vring_desc *descs, int n)
{
	struct ring *r = &d->rings[q];
	uint16_t base = 240;
	uint64_t one = 1;
	int i;

	for (i = 0; i < n; i++) {
		r->desc[base + i] = descs[i];
		r->desc[base + i].next = base + descs[i].next;
	}
	r->avail->ring[r->avail_idx % QSIZE] = base;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	r->avail->idx = ++r->avail_idx;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (write(r->kick, &one, sizeof(one)) != sizeof(one))
		perror("kick");
}

/* Waits for the next used entry of a queue; returns its length or -1. */
static int wait_used(struct dev *d, int q, int timeout_ms, uint16_t *id)
{
	struct ring *r = &d->rings[q];
	int waited = 0;

	for (;;) {
		struct pollfd p = { r->call, POLLIN, 0 };
		uint64_t n;

		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (*(volatile uint16_t *)&r->used->idx != r->last_used) {
			struct vring_used_elem e = r->used->ring[r->last_used % QSIZE];

			r->last_used++;
			*id = e.id;
			return e.len;
		}
		if (waited >= timeout_ms)
			return -1;
		if (poll(&p, 1, 10) > 0 && read(r->call, &n, sizeof(n)) < 0)
			perror("call");
		waited += 10;
	}
}

static void make_frame(struct dev *d, uint8_t *f, int len, int seq)
{
	int i;

	memset(f, 0, HDR_LEN);
	memcpy(f + HDR_LEN, d->mac, 6);
	memcpy(f + HDR_LEN + 6, "\x02\x11\x22\x33\x44\x55", 6);
	f[HDR_LEN + 12] = 0x88;
	f[HDR_LEN + 13] = 0xb5;
	for (i = HDR_LEN + 14; i < HDR_LEN + len; i++)
		f[i] = (uint8_t)(seq * 13 + i);
}

/* Sends frames of several sizes; returns how many came back intact. */
static int traffic(struct dev *d, int nframes, int *sent)
{
	int i, back = 0;

	for (i = 0; i < NRX; i++)
		post(d, RXQ, BUF_SIZE, 1);
	for (i = 0; i < nframes; i++) {
		int len = 60 + (i * 97) % 1455, got;
		uint8_t *f = next_buf(d, TXQ);
		uint16_t id;

		make_frame(d, f, len, i);
		post(d, TXQ, HDR_LEN + len, 0);
		got = wait_used(d, RXQ, 2000, &id);
		if (got == HDR_LEN + len && id < QSIZE &&
		    !memcmp(buf(d, RXQ, id) + HDR_LEN, f + HDR_LEN, len))
			back++;
		if (got >= 0)
			post(d, RXQ, BUF_SIZE, 1);
		wait_used(d, TXQ, 2000, &id);
	}
	*sent = nframes;
	return back;
}

int main(int argc, char **argv)
{
	struct dev d = { 0 };
	uint64_t bf, want_bf, f;
	uint32_t nvqs = 0, id = 0;
	int q, r, sent, back;

	if (argc != 3) {
		fprintf(stderr, "usage: %s /dev/vhost-vdpa-N PREFIX\n", argv[0]);
		return 2;
	}
	prefix = argv[2];
	printf("TAP version 13\n1..18\n");

	d.fd = open(argv[1], O_RDWR);
	if (d.fd < 0) {
		printf("Bail out! open %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	d.mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (d.mem == MAP_FAILED || mlock(d.mem, MEM_SIZE)) {
		printf("Bail out! memory: %s\n", strerror(errno));
		return 1;
	}
	for (q = 0; q < 2; q++) {
		d.rings[q].kick = eventfd(0, EFD_NONBLOCK);
		d.rings[q].call = eventfd(0, EFD_NONBLOCK);
	}

	r = ioctl(d.fd, VHOST_SET_OWNER) || ioctl(d.fd, VHOST_VDPA_GET_DEVICE_ID, &id) ||
	    ioctl(d.fd, VHOST_VDPA_GET_VQS_COUNT, &nvqs);
	result(!r && id == VIRTIO_ID_NET && nvqs >= 2, "owner, device id %u, %u queues", id, nvqs);

	want_bf = 1ull << VHOST_BACKEND_F_IOTLB_MSG_V2 | 1ull << VHOST_BACKEND_F_IOTLB_ASID |
		  1ull << VHOST_BACKEND_F_SUSPEND | 1ull << VHOST_BACKEND_F_RESUME;
	r = ioctl(d.fd, VHOST_GET_BACKEND_FEATURES, &bf);
	bf &= want_bf;
	r = r || ioctl(d.fd, VHOST_SET_BACKEND_FEATURES, &bf);
	result(!r && bf == want_bf, "backend features 0x%llx", (unsigned long long)bf);

	r = ioctl(d.fd, VHOST_GET_FEATURES, &f);
	d.features = f & (1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_F_ACCESS_PLATFORM |
			  1ull << VIRTIO_NET_F_MAC);
	result(!r && d.features == (1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_F_ACCESS_PLATFORM |
				    1ull << VIRTIO_NET_F_MAC),
	       "device offers VERSION_1, ACCESS_PLATFORM, MAC");

	r = iotlb(&d, VHOST_IOTLB_UPDATE, 0, IOVA_BASE, MEM_SIZE, (uintptr_t)d.mem);
	result(!r, "IOTLB v2 update maps the memory (%d)", r);

	/* Bad requests are refused. */
	{
		struct vhost_vring_state s = { nvqs, QSIZE };

		r = ioctl(d.fd, VHOST_SET_VRING_NUM, &s);
		result(r && errno == ENOBUFS, "queue index %u out of range is refused (%s)", nvqs,
		       strerror(errno));
		s.index = 0;
		s.num = 100;
		r = ioctl(d.fd, VHOST_SET_VRING_NUM, &s);
		result(r && errno == EINVAL, "ring size 100 is refused (%s)", strerror(errno));
	}
	r = iotlb(&d, VHOST_IOTLB_UPDATE, 0, ~0ull - 0xfff, 0x2000, (uintptr_t)d.mem);
	result(r < 0, "an IOVA range that wraps is refused (%d)", r);
	r = iotlb(&d, VHOST_IOTLB_UPDATE, 64, IOVA_BASE, 4096, (uintptr_t)d.mem);
	result(r < 0, "an unknown ASID is refused (%d)", r);
	{
		struct vhost_vring_state g = { 64, 0 };

		r = ioctl(d.fd, VHOST_VDPA_SET_GROUP_ASID, &g);
		result(r < 0, "an unknown group is refused (%s)", strerror(errno));
	}

	{
		uint8_t cfg[sizeof(struct vhost_vdpa_config) + 6] = { 0 };
		struct vhost_vdpa_config *c = (void *)cfg;

		c->off = 0;
		c->len = 6;
		r = ioctl(d.fd, VHOST_VDPA_GET_CONFIG, c);
		memcpy(d.mac, c->buf, 6);
	}
	r = r ? -errno : setup(&d);
	result(!r, "setup up to DRIVER_OK (%d)", r);

	back = traffic(&d, 40, &sent);
	result(back == sent, "%d of %d frames came back intact", back, sent);

	/* A suspended device holds its frames until it resumes. */
	{
		uint8_t *fr = next_buf(&d, TXQ);
		uint16_t uid;
		int early, late;

		r = ioctl(d.fd, VHOST_VDPA_SUSPEND);
		make_frame(&d, fr, 100, 1000);
		post(&d, TXQ, HDR_LEN + 100, 0);
		early = wait_used(&d, RXQ, 300, &uid);
		r = r || ioctl(d.fd, VHOST_VDPA_RESUME);
		late = early < 0 ? wait_used(&d, RXQ, 2000, &uid) : -1;
		result(!r && early < 0 && late == HDR_LEN + 100,
		       "suspend holds a frame, resume delivers it (%d, %d)", early, late);
		wait_used(&d, TXQ, 2000, &uid);
	}

	/* After a reset, a new setup works again. */
	r = setup(&d);
	back = r ? 0 : traffic(&d, 10, &sent);
	result(!r && back == sent, "after reset and setup, %d of %d frames came back", back, sent);

	/* Malformed chains deliver nothing; a reset brings the device back. */
	{
		static const char *const what[] = {
			"a descriptor loop", "a buffer past the mappings",
			"an oversized indirect table", "a writable buffer to send",
		};
		int c;

		for (c = 0; c < 4; c++) {
			uint8_t *fr = buf(&d, TXQ, 250);
			struct vring_desc bad[1] = { { .addr = iova(&d, fr), .len = HDR_LEN + 60 } };
			uint16_t uid;
			int got, rsent = 0, rback;

			make_frame(&d, fr, 60, 500 + c);
			switch (c) {
			case 0:
				bad[0].flags = VRING_DESC_F_NEXT;
				bad[0].next = 0;
				break;
			case 1:
				bad[0].addr = IOVA_BASE + MEM_SIZE - 16;
				bad[0].len = 4096;
				break;
			case 2:
				bad[0].flags = VRING_DESC_F_INDIRECT;
				bad[0].len = 0x80000000u;
				break;
			case 3:
				bad[0].flags = VRING_DESC_F_WRITE;
				break;
			}
			for (got = 0; got < 4; got++)
				post(&d, RXQ, BUF_SIZE, 1);
			post_chain(&d, TXQ, bad, 1);
			got = wait_used(&d, RXQ, 300, &uid);
			r = setup(&d);
			rback = r ? 0 : traffic(&d, 2, &rsent);
			result(got < 0 && !r && rback == rsent,
			       "%s delivers nothing, and after a reset %d of %d frames come back",
			       what[c], rback, rsent);
		}
	}

	/* The ring memory unmapped, the device cannot reach it: nothing comes back. */
	{
		uint8_t *fr = next_buf(&d, TXQ);
		uint16_t uid;
		int got;

		make_frame(&d, fr, 80, 7);
		r = iotlb(&d, VHOST_IOTLB_INVALIDATE, 0, IOVA_BASE, MEM_SIZE, 0);
		post(&d, TXQ, HDR_LEN + 80, 0);
		got = wait_used(&d, RXQ, 300, &uid);
		result(!r && got < 0, "with the memory unmapped nothing is delivered (%d)", got);
	}
	set_status(&d, 0);
	close(d.fd);
	printf("# Totals: pass:%d fail:%d xfail:0 xpass:0 skip:0 error:0\n", test_no - failed,
	       failed);
	return failed ? 1 : 0;
}
